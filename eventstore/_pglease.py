"""Run leases on a PostgreSQL log: session-level advisory locks.

A lease is ``pg_try_advisory_lock`` on a key made from the log's schema and the run id,
taken on a connection the lease keeps open: the server releases it when the holder
releases it or its connection ends (the process exited or was killed). A probe takes
the shared form of the same lock for a moment, which conflicts only with a holder.
Keys are 64 bits of a SHA-256: two runs share one with a chance of 2^-64.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from typing import TYPE_CHECKING, Any

from ._pg import connect, lock_key

if TYPE_CHECKING:
    import psycopg


def _key(conn: psycopg.Connection[Any], run_id: str) -> int:
    row = conn.execute("SELECT current_schema()").fetchone()
    return lock_key("lease", str(row[0] if row else ""), run_id)


class PgLease:
    """One run's advisory lock on its own connection."""

    def __init__(self, url: str, run_id: str):
        self.url = url
        self.run_id = run_id
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> bool:
        """Take the lock; False when another session holds it."""
        conn = connect(self.url)
        try:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (_key(conn, self.run_id),)
            ).fetchone()
        except BaseException:
            conn.close()
            raise
        if not (row and row[0]):
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                # unlocked before the close returns: the server ends a closed session
                # a moment later, and a probe right after must find the run free. A
                # connection too broken to unlock holds nothing once closed.
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock_all()")
            finally:
                conn.close()


# one probe connection per log URL, shared by the threads of a process
_probes: dict[str, psycopg.Connection[Any]] = {}
_probe_lock = threading.Lock()


@atexit.register
def _close_probes() -> None:
    with _probe_lock:
        for conn in _probes.values():
            conn.close()
        _probes.clear()


def pg_is_held(url: str, run_id: str) -> bool:
    """True when some session holds the run's lease."""
    with _probe_lock:
        conn = _probes.get(url)
        if conn is None or conn.closed:
            conn = _probes[url] = connect(url)
        try:
            return _probe(conn, run_id)
        except Exception:
            # a broken probe connection (server restarted): once more on a new one
            conn.close()
            conn = _probes[url] = connect(url)
            return _probe(conn, run_id)


def _probe(conn: psycopg.Connection[Any], run_id: str) -> bool:
    key = _key(conn, run_id)
    row = conn.execute("SELECT pg_try_advisory_lock_shared(%s)", (key,)).fetchone()
    if row and row[0]:
        conn.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
        return False
    return True
