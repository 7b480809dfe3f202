"""Failures of the disk under the log: told apart from a damaged log, converted at the
boundary, and never left half-done.

A full disk (``SQLITE_FULL``, ``ENOSPC``), an I/O error or a read-only file is the
machine's state, not the log's: what was committed stays committed, and the same
operation works again once there is room. So it gets its own error,
:class:`StoreWriteFailed` (defined with the error tree, which imports no driver), naming
the file and the fix, instead of the generic "cannot append" or, worse, "not a
scenario-lab log". A failed ``COMMIT`` is rolled back here (SQLite may already have
done so), so the connection stays usable.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from pathlib import Path

from ._errors import StoreError, StoreWriteFailed

# primary result codes (the low byte of an extended code) that mean "the disk", not the log
_DISK_CODES = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY}
)
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES})


def is_disk_error(e: BaseException) -> bool:
    """True when ``e`` is the disk's failure (full, I/O, read-only), not the log's."""
    if isinstance(e, sqlite3.OperationalError):
        code = getattr(e, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _DISK_CODES
        text = str(e).lower()
        return "disk is full" in text or "disk i/o error" in text
    return isinstance(e, OSError) and e.errno in _DISK_ERRNOS


def write_error(
    path: str | Path, e: BaseException, what: str, *, run_id: str | None = None
) -> StoreError:
    """The typed error of a write that failed: ``StoreWriteFailed`` for the disk's
    failures, else a ``StoreError`` saying what could not be done (``what``)."""
    if is_disk_error(e):
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return StoreWriteFailed(path, why, run_id=run_id)
    return StoreError(f"{what}: {e}", run_id=run_id)


def rollback(cur: sqlite3.Cursor) -> None:
    """End the open transaction, if SQLite has not already rolled it back itself (it
    does on some full-disk errors, and then ``ROLLBACK`` fails: harmless)."""
    with contextlib.suppress(sqlite3.DatabaseError):
        cur.execute("ROLLBACK")


def commit(cur: sqlite3.Cursor) -> None:
    """``COMMIT``; when the disk refuses it, roll back so the connection is usable again,
    then re-raise."""
    try:
        cur.execute("COMMIT")
    except sqlite3.DatabaseError:
        rollback(cur)
        raise
