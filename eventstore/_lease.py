"""Run leases: which runs a live process is playing right now.

A playing process holds an exclusive ``flock`` on ``<log>.locks/<run_id>.lock``. The OS
drops the lock when the process dies however it dies (SIGKILL, crash, power loss), so
"running" vs "interrupted" is read from the lock, never from a stored status that a
dead process could not clear.

The lock belongs to the log file, not to the name it was opened by: ``<log>`` is the
real path (symlinks resolved, made absolute), so ``./x.db``, ``../dir/x.db`` and a
symlink to it share one lock, as they share SQLite's write-ahead log. A hard link is a
second real path with its own lock directory and its own write-ahead log (SQLite names
both by path), so writers through two links could play one run twice and corrupt the
log: a lease is refused on a log file with more than one link.

On a PostgreSQL log (``postgresql://``) the lease is a session-level advisory lock
held by a connection of its own (``_pglease.py``): the server drops it when that
connection ends, which a dead process's does.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

from ._disk import write_error
from ._errors import RunLocked, StoreError
from ._pg import is_url
from ._pglease import PgLease, pg_is_held

log = logging.getLogger(__name__)


def _lock_path(db_path: str | Path, run_id: str) -> Path:
    db = Path(os.path.realpath(db_path))
    return db.with_name(db.name + ".locks") / f"{run_id}.lock"


def _refuse_hard_links(db_path: str | Path) -> None:
    try:
        links = os.stat(db_path).st_nlink
    except FileNotFoundError:
        return  # no log yet: nothing can be linked to it
    if links > 1:
        raise StoreError(
            f"the log {db_path} has {links} hard links: writers through another link "
            "would not see this run's lock, and SQLite keeps a write-ahead log per name",
            hint="open the log by one name (a symlink is fine) or copy it instead of linking",
        )


class RunLease:
    """Exclusive hold on a run while a process plays it; use as a context manager."""

    def __init__(self, db_path: str | Path, run_id: str):
        self.run_id = run_id
        self.db_path = db_path
        self._pg: PgLease | None = PgLease(str(db_path), run_id) if is_url(db_path) else None
        self.path = Path(os.devnull) if self._pg else _lock_path(db_path, run_id)
        self._fd: int | None = None

    def acquire(self) -> RunLease:
        if self._pg is not None:
            if not self._pg.acquire():
                log.info("lease.conflict", extra={"lease": self.run_id, "pid": os.getpid()})
                raise RunLocked(self.run_id)
            return self
        _refuse_hard_links(self.db_path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # a full or read-only disk: the lock file cannot be made
            raise write_error(self.db_path, e, f"cannot make the lock {self.path}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            log.info("lease.conflict", extra={"lease": self.run_id, "pid": os.getpid()})
            raise RunLocked(self.run_id) from None
        try:
            # the holder's pid, for a person looking at the lock; the flock is the lease
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass  # a full disk cannot take the pid; the lock holds without it
        self._fd = fd
        return self

    def release(self) -> None:
        if self._pg is not None:
            self._pg.release()
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLease:
        held = self._fd is not None or (self._pg is not None and self._pg.held)
        return self if held else self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def is_held(db_path: str | Path, run_id: str) -> bool:
    """True when a live process holds the run's lease."""
    if is_url(db_path):
        return pg_is_held(str(db_path), run_id)
    path = _lock_path(db_path, run_id)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        # A shared probe conflicts only with a holder's exclusive lock: with LOCK_EX two
        # processes probing at the same moment would each see the other as a holder.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
