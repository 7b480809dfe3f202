"""Following the log as it grows, for live streams.

Another process (the CLI playing a run, a batch) appends to the same SQLite file, so a
follower polls: one cheap read of the log's top position per tick, and the new events of
a run (after the last ``seq`` it handed out) only when the log grew. ``LogTail`` keeps
one connection per thread, since the polls run in worker threads and an SQLite
connection serves one thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .reads import EventLine, event_line
from .settings import LabSettings
from .store import open_store

if TYPE_CHECKING:
    from eventstore import EventStore


class LogTail:
    """Cheap repeated reads of the log's end (see the module docstring)."""

    def __init__(self, settings: LabSettings):
        self.settings = settings
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stores: list[EventStore] = []

    def _store(self) -> EventStore:
        store: EventStore | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = open_store(self.settings)
            with self._lock:
                self._stores.append(store)
        return store

    def top(self) -> int:
        """The log's last position (0 when empty): it grows with every append."""
        return self._store().max_position()

    def last_seq(self, run_id: str) -> int:
        """The last ``seq`` of the run's timeline."""
        return self._store().last_seq(run_id)

    def after_seq(self, run_id: str, seq: int) -> list[EventLine]:
        """The run's events after ``seq``, in order."""
        return [event_line(r) for r in self._store().iter_events(run_id, after_seq=seq)]

    def wait_for_appends(self, timeout: float) -> bool | None:
        """Block until the log is appended to (True) or ``timeout`` passes (False);
        None at once when the log cannot notify (SQLite): poll it instead."""
        return self._store().wait_for_appends(timeout)

    def close(self) -> None:
        """Close every thread's connection (the tail cannot be used after)."""
        with self._lock:
            stores, self._stores = self._stores, []
        for store in stores:
            store.close()
