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


class Display:
    """A live display's handle: ``paused()`` stops drawing while a human is asked at the
    terminal, so the progress line does not overwrite the prompt being typed into."""

    def __init__(self, text: Callable[[], str]) -> None:
        self._lock = threading.Lock()  # held while drawing, and while paused
        self._live: Any = None
        self._text = text

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            live = self._live
            if live is not None:
                live.stop()  # leaves the last line drawn; the prompt starts below it
            try:
                yield
            finally:
                if live is not None:
                    live.start()
                    live.update(self._text(), refresh=True)  # at once: the run goes on


@contextmanager
def live_display(
    text: Callable[[], str],
    key: Callable[[], object],
    *,
    interval: float = 0.25,
    min_gap: float = 0.0,
    every_s: float | None = None,
    final_line: bool = False,
) -> Iterator[Display]:
    """Draw ``text()`` on stderr while the block runs: one rich line redrawn every
    ``interval`` on a terminal; else a plain line when ``key()`` changes (at most one
    each ``min_gap`` seconds) and every ``every_s`` seconds if given."""
    stop = threading.Event()
    display = Display(text)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.live import Live

        # auto_refresh off: this thread is the only one that draws, under the lock
        with Live(text(), console=Console(stderr=True), auto_refresh=False) as live:
            display._live = live

            def refresh() -> None:
                while not stop.wait(interval):
                    with display._lock:
                        live.update(text(), refresh=True)

            thread = threading.Thread(target=refresh, daemon=True)
            thread.start()
            try:
                yield display
            finally:
                stop.set()
                thread.join()
                live.update(text(), refresh=True)
        return

    def poll() -> None:
        last_key: object = object()
        last_at = float("-inf")
        while not stop.wait(interval):
            now = time.monotonic()
            changed = key() != last_key and now - last_at >= min_gap
            if changed or (every_s is not None and now - last_at >= every_s):
                last_key, last_at = key(), now
                with display._lock:
                    print(text(), file=sys.stderr, flush=True)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield display
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
