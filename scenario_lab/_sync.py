"""Running the application API's coroutines from plain (synchronous) code.

``anyio.run`` refuses to start inside a running event loop, and a Jupyter kernel always
has one. There the coroutine runs in a worker thread with its own loop, and the caller
waits for it: the notebook cell blocks as any sync call would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``await fn(*args)`` to completion, from a thread with or without a running loop."""
    if not _loop_running():
        return anyio.run(fn, *args)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenario-lab") as pool:
        return pool.submit(anyio.run, fn, *args).result()
