"""The event store (SQLite, or PostgreSQL through ``_pg.py``): append, read along fork lineage, fork, verify, blobs.

``EventStore`` is the one public class; its parts live in modules by concern:

    _runs.py       runs and lineage, timeline segments (the base of the others)
    _reads.py      timelines in seq order, the log in position order, bulk reads
    _queries.py    per-run aggregates the layers above read without folding
    _appends.py    new runs, appends, the hash chain, idempotent retries
    _forks.py      fork points and forks
    _integrity.py  verify: the chain, its end, metadata seals, blobs, verified marks
    _seals.py      run metadata sealed into the chain
    _anchors.py    chain heads exported and checked later
    _blobs.py      blobs and snapshots
    _batches.py    recorded batch plans
    _listing.py    keyset pages of runs filtered in SQL, positions in a timeline

The schema comes from ``_schema.py`` (SQLAlchemy Core). The hot paths use the DBAPI
``sqlite3`` connection directly: SQLAlchemy's per-statement overhead shows in the
append benchmark, and its import alone costs more than a whole CLI command should.
Nothing outside ``eventstore`` sees the connection: the layers above call methods and
get typed records, so a second backend only has to provide the same methods.

Ordering rules: ``position`` is the global order (projections follow it); ``seq`` is the
order along one run's timeline. A fork continues its parent's ``seq`` numbering after
``fork_seq``, so a timeline is gap-free from 1 to its last seq across lineage.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from ._anchors import Anchors
from ._batches import Batches
from ._blobs import Blobs
from ._disk import is_disk_error, write_error
from ._errors import StoreError
from ._forks import Forks
from ._listing import Listing
from ._pg import is_url
from ._runs import new_id
from ._schema import SCHEMA_VERSION, create_sqlite_schema

__all__ = ["EventStore", "new_id"]


class EventStore(Forks, Anchors, Blobs, Batches, Listing):
    """The append-only log of every run, in one SQLite file (WAL mode)."""

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, scratch: bool = False) -> EventStore:
        """Open the log at ``path``; create it when missing and ``create`` is true.

        ``path`` may be a ``postgresql://`` URL: the log is then the store's tables in
        that database (``_pgschema.py``), reached through psycopg behind the same
        connection surface (``_pg.py``); ``scratch`` does not apply there.

        ``scratch``: a private log that is thrown away after use (a batch worker plays a
        run in one, then copies it into the real log). It keeps its journal in memory
        and never syncs: a crash loses it, which costs nothing, and closing it does not
        checkpoint a WAL into a file about to be deleted (~20 ms a run).
        """
        if is_url(path):
            from ._pgschema import open_pg

            return cls(str(path), cast(sqlite3.Connection, open_pg(str(path), create=create)))
        path = Path(path)
        if path.is_dir():  # sqlite would say "unable to open database file", which misleads
            raise StoreError(
                f"{path} is a folder, not a log",
                hint=f"give --db a file, e.g. {path / 'scenario-lab.db'}",
                file=str(path),
            )
        fresh = not path.exists() or path.stat().st_size == 0
        if fresh:
            if not create:
                raise StoreError(
                    f"no log at {path}",
                    hint="run a scenario first (`scenario-lab init DIR` writes one to start "
                    "from), or point --db / SCENARIO_LAB_DB at a log",
                )
            if not path.parent.exists():
                raise StoreError(
                    f"cannot create the log {path}: folder {path.parent} does not exist",
                    hint="create the folder or choose another --db path",
                )
            _create_atomically(path)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as e:
            # connect() succeeds lazily on any file; the first read is what fails, and
            # the half-open connection must not outlive the error.
            if conn is not None:
                conn.close()
            if is_disk_error(e):  # e.g. no room for the -shm file a WAL log reads through
                raise StoreError(
                    f"cannot open the log {path}: {e}",
                    hint=f"free space on the disk that holds {path} and try again",
                    file=str(path),
                ) from e
            raise StoreError(
                f"{path} is not a scenario-lab log ({e})",
                hint="check the --db path; the file may be corrupt or another kind of file",
            ) from e
        if not {"events", "runs", "blobs"} <= tables:
            conn.close()
            raise StoreError(
                f"{path} is an SQLite file but not a scenario-lab log",
                hint="point --db at a scenario-lab log or at a new file name",
            )
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{path} was written by a newer scenario-lab (schema {version})",
                hint="upgrade scenario-lab",
            )
        try:
            if scratch:
                conn.execute("PRAGMA journal_mode=MEMORY")
                conn.execute("PRAGMA synchronous=OFF")
            else:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.DatabaseError as e:
            conn.close()
            raise write_error(path, e, f"cannot open the log {path}") from e
        if version < SCHEMA_VERSION:
            try:
                _upgrade(conn, path)
            except BaseException:
                conn.close()
                raise
        return cls(path, conn)

    def wait_for_appends(self, timeout: float) -> bool | None:
        """Block until another connection appends to the log, at most ``timeout``
        seconds: True when one did, False on timeout. None at once when the log
        cannot tell (SQLite): the caller polls instead.

        On PostgreSQL every append commits with a NOTIFY (``_pg.py``); the first call
        starts listening on a connection of its own. A notice sent before that, or
        lost with a connection, costs only the caller's next poll.
        """
        if isinstance(self._conn, sqlite3.Connection):
            return None
        from ._pg import wait_for_notice

        if self._listener is None:
            self._listener = _listen(str(self.path))
        return wait_for_notice(self._listener, timeout)

    def close(self) -> None:
        """Close the connection; the store cannot be used after."""
        self._conn.close()
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _listen(url: str) -> Any:
    from ._pg import CHANNEL, connect

    listener = connect(url)
    listener.execute(f"LISTEN {CHANNEL}")  # type: ignore[call-overload]
    return listener


def _upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Bring a log made by an older scenario-lab to this schema, once, atomically.

    ``BEGIN IMMEDIATE`` makes concurrent openers take turns; the version is read again
    inside the transaction so the second one finds the work done.
    """
    from ._schema import upgrade_statements

    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                for sql in upgrade_statements(version):
                    conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        raise StoreError(
            f"cannot upgrade the log {path} to this version of scenario-lab: {e}",
            hint="check that the file is writable; the log is unchanged",
        ) from e


def _create_atomically(path: Path) -> None:
    """Create the log so no other process ever opens it half-made.

    The schema is written to a private file that is then hard-linked into place: the
    link appears complete or not at all, and never replaces a log another process made
    first (that one wins, and ours is discarded).
    """
    if path.exists():  # an empty file the user made: fill it in place
        try:
            create_sqlite_schema(str(path))
        except Exception as e:  # any driver failure is one user-facing message
            raise _creation_error(path, e) from e
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.new")
    try:
        create_sqlite_schema(str(tmp))
        # another process may have created the log first: then use theirs
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except Exception as e:  # any OS or driver failure is one user-facing message
        raise _creation_error(path, e) from e
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _creation_error(path: Path, e: Exception) -> StoreError:
    # SQLAlchemy wraps the driver's error (``orig``), with its SQL: the cause is enough
    cause = getattr(e, "orig", None) or e
    return write_error(path, cause, f"cannot create the log {path}")
