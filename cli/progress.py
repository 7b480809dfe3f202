"""Live progress on stderr: one rich line on a terminal, plain lines otherwise.

Plain lines (pipes, CI, tests) are printed when ``key()`` changes, at most one each
``min_gap`` seconds, and every ``every_s`` seconds if given, so logs stay readable.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def live_display(
    text: Callable[[], str],
    key: Callable[[], object],
    *,
    interval: float = 0.25,
    min_gap: float = 0.0,
    every_s: float | None = None,
    final_line: bool = False,
) -> Iterator[None]:
    stop = threading.Event()
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.live import Live

        with Live(text(), console=Console(stderr=True), refresh_per_second=4) as live:

            def refresh() -> None:
                while not stop.wait(interval):
                    live.update(text())

            thread = threading.Thread(target=refresh, daemon=True)
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join()
                live.update(text())
        return

    def poll() -> None:
        last_key: object = object()
        last_at = float("-inf")
        while not stop.wait(interval):
            now = time.monotonic()
            changed = key() != last_key and now - last_at >= min_gap
            if changed or (every_s is not None and now - last_at >= every_s):
                last_key, last_at = key(), now
                print(text(), file=sys.stderr, flush=True)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if final_line:
            print(text(), file=sys.stderr, flush=True)


def _text(p: Any) -> str:
    return f"turn {p.turn} of {p.total_turns} | {p.calls} model calls | ${p.cost_usd:.4f}"


def progress_display(progress: Any, *, interval: float = 0.25) -> Any:
    """A run's progress: turn x of N, model calls, cost so far; a plain line per turn."""
    return live_display(lambda: _text(progress), lambda: progress.turn, interval=interval)
