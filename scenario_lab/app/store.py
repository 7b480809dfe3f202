"""Opening the log for one operation: each call opens its own connection, so the server
may call read operations from worker threads (an SQLite connection is not shared)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .settings import LabSettings

if TYPE_CHECKING:
    from eventstore import EventStore


def open_store(settings: LabSettings, *, create: bool = False) -> EventStore:
    """The log; a missing file is an error unless the operation creates runs."""
    from eventstore import EventStore

    return EventStore.open(settings.db, create=create)


def prepare_log(settings: LabSettings) -> None:
    """Create the log when missing; refuse a file that is not a scenario-lab log (with
    the one-line errors of every command)."""
    open_store(settings, create=True).close()
