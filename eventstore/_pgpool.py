"""Pooled connections to a PostgreSQL log, for a process that opens it again and again.

The server opens the log for every request and a batch for every run; a new psycopg
connection each time costs a TCP (or socket) handshake, authentication and a server
process forked for the session, and then the log's checks (its schema, its tables, its
version), several round trips before the first query. So the second time a process opens a log,
it makes a pool for that URL (``psycopg_pool``), and from then on an open borrows a
connection and ``close`` gives it back.

- The first open of a URL in a process connects directly and checks the log as before
  (``_pgschema.open_pg``): a wrong URL or a missing log fails at once with its one-line
  error, and a command that opens the log once never starts a pool. What it learned
  (the log's schema, that its version fits) is kept for the pooled connections, which
  reach the same database with the same search path.
- Each borrowed connection first reads the log's schema version, one round trip that
  also finds a connection the server dropped (a restart): either way the open goes
  the direct way, which upgrades the log or says what is wrong (a newer version, no
  log). A connection given back inside a transaction is rolled back by the pool.
- Pools are per process and few: the oldest beyond ``MAX_POOLS`` URLs is closed (its
  lent connections close when given back). A forked child makes its own and never
  touches its parent's, not even to close them: closing a connection it inherited
  would end the parent's session on the server.
- Leases and the live stream's LISTEN keep connections of their own: a session-level
  lock or a LISTEN must end with its connection, never pass to the next borrower.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

MAX_POOLS = 4  # URLs with a pool in one process; a server or a batch uses one
POOL_SIZE = 16  # connections of one pool at most (a server's threads, a batch's runs)
WAIT_S = 10.0  # for a connection from a full pool, as long as a direct connect may take

_known: dict[tuple[int, str], str] = {}  # (pid, url) opened once -> the log's schema
_pools: OrderedDict[tuple[int, str], ConnectionPool] = OrderedDict()
_lock = threading.Lock()


def remember(url: str, schema: str) -> None:
    """The log at ``url`` was opened and checked in this process: its next opens may
    borrow pooled connections."""
    with _lock:
        _known[(os.getpid(), url)] = schema


def borrow(url: str) -> tuple[psycopg.Connection[Any], ConnectionPool, str] | None:
    """A pooled connection to ``url``, its pool and the log's schema; None when this
    process has not opened ``url`` before, psycopg_pool is missing, or no connection
    came in time (the caller then connects directly, which says why)."""
    key = (os.getpid(), url)
    with _lock:
        schema = _known.get(key)
        if schema is None:
            return None
        pool = _pools.get(key)
        if pool is None:
            pool = _new_pool(url)
            if pool is None:
                return None
            _pools[key] = pool
            mine = [k for k in _pools if k[0] == key[0]]
            for old in mine[: max(0, len(mine) - MAX_POOLS)]:
                _pools.pop(old).close(timeout=0)
        _pools.move_to_end(key)
    try:
        conn = pool.getconn(timeout=WAIT_S)
    except Exception:  # PoolTimeout, PoolClosed: the direct path gives the real reason
        return None
    if not _fits(conn):
        pool.putconn(conn)  # a broken one is dropped by the pool, a sound one kept
        return None
    return conn, pool, schema


def _fits(conn: psycopg.Connection[Any]) -> bool:
    """The connection works and the log's schema version is still this code's: one
    round trip, which also tells a connection the server dropped (a restart). Else
    the direct path opens the log, upgrading it or saying what is wrong."""
    from ._schema import SCHEMA_VERSION

    try:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    except Exception:  # dropped, or the log is gone: the direct path says which
        return False
    return row is not None and row[0] == SCHEMA_VERSION


def give_back(pool: ConnectionPool, conn: psycopg.Connection[Any]) -> None:
    """Return a borrowed connection (closed instead when its pool was closed)."""
    pool.putconn(conn)


def _new_pool(url: str) -> ConnectionPool | None:
    try:
        from psycopg_pool import ConnectionPool
    except ImportError:  # an older install of the extra: direct connections, as before
        return None
    return ConnectionPool(
        url,
        kwargs={"autocommit": True, "connect_timeout": 10},
        min_size=1,
        max_size=POOL_SIZE,
        name="scenario-lab",
        open=True,
    )


@atexit.register
def close_pools() -> None:
    """Close every pool of this process (at exit, and in tests)."""
    with _lock:
        mine = [k for k in _pools if k[0] == os.getpid()]
        pools = [_pools.pop(k) for k in mine]
        for k in [k for k in _known if k[0] == os.getpid()]:
            del _known[k]
    for pool in pools:
        pool.close(timeout=1)
