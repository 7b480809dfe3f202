"""The live progress line on stderr: turn x of N, model calls, cost so far.

On a terminal it is a rich live display; otherwise (pipes, CI, tests) one plain line
each time the turn changes, so logs stay readable.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _text(p: Any) -> str:
    return f"turn {p.turn} of {p.total_turns} | {p.calls} model calls | ${p.cost_usd:.4f}"


@contextmanager
def progress_display(progress: Any, *, interval: float = 0.25) -> Iterator[None]:
    stop = threading.Event()
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.live import Live

        with Live(_text(progress), console=Console(stderr=True), refresh_per_second=4) as live:

            def refresh() -> None:
                while not stop.wait(interval):
                    live.update(_text(progress))

            thread = threading.Thread(target=refresh, daemon=True)
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join()
                live.update(_text(progress))
        return

    last = [-1]

    def poll() -> None:
        while not stop.wait(interval):
            if progress.turn != last[0]:
                last[0] = progress.turn
                print(_text(progress), file=sys.stderr, flush=True)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
