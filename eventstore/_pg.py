"""The PostgreSQL backend: a connection that speaks the store's SQLite dialect.

The store's modules write SQL for SQLite and call the ``sqlite3`` DBAPI. On a
PostgreSQL log they get a :class:`PgConnection` instead: the same ``execute`` /
``executemany`` / ``cursor`` / ``in_transaction`` surface over a psycopg 3 connection
in autocommit mode, which maps the few SQLite-only constructs the store uses, so the
modules' SQL stays as it is and new portable SQL with ``?`` parameters works on both:

    ?, ?1  ->  %s, %(p1)s (a literal % doubled)  INSERT OR IGNORE -> ON CONFLICT DO NOTHING
    INSERT OR REPLACE -> ON CONFLICT (pk) DO UPDATE       rowid -> ctid (insertion order)
    BEGIN IMMEDIATE -> BEGIN + the log's write lock       BEGIN -> REPEATABLE READ snapshot
    last_insert_rowid() -> lastval()        CAST(payload AS TEXT) -> convert_from(.., UTF8)

``json_extract(text, path)`` and the ``total()`` aggregate are SQL functions created
with the schema (``_pgschema.py``); on PostgreSQL ``json_extract`` returns text.

Errors are raised as the ``sqlite3`` exception classes the modules already catch
(``IntegrityError`` for a unique violation, ``OperationalError`` for a lost server,
``DatabaseError`` otherwise), the psycopg error chained as the cause.

The write lock: ``BEGIN IMMEDIATE`` takes a transaction-level advisory lock held until
COMMIT, so writers take turns as they do on SQLite. That keeps ``position`` gap-free
within an append and, more important, makes positions commit in order: a reader that
has seen position p never later finds a new event below p (projections and the live
stream resume from the last position they saw). Each such commit also sends a NOTIFY
on :data:`CHANNEL`, which the live stream waits on.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ._errors import StoreError

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql://", "postgres://")
CHANNEL = "scenario_lab_events"
INSTALL_HINT = "install the PostgreSQL extra: pip install 'scenario-lab[postgres]'"


def is_url(db: object) -> bool:
    """True when ``db`` names a PostgreSQL log (``postgresql://...``), not a file."""
    return isinstance(db, str) and db.startswith(SCHEMES)


def log_location(value: str | Path) -> Path | str:
    """What ``--db`` names: a ``postgresql://`` URL as given (a str), else a file path."""
    return str(value) if is_url(str(value)) else Path(value)


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***``: safe in messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for ``parts`` (e.g. the schema and a run id)."""
    digest = sha256("|".join(("scenario-lab", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit psycopg connection to ``url``; a one-line ``StoreError`` naming the
    fix when psycopg is missing or the server cannot be reached."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            f"cannot open the log {redacted(url)}: psycopg (PostgreSQL support) is not installed",
            hint=INSTALL_HINT,
        ) from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(
            f"cannot reach the PostgreSQL log {redacted(url)}: {why}",
            hint="check that the server runs and the URL (host, port, database, user) is right",
        ) from e


def wait_for_notice(listener: psycopg.Connection[Any], timeout: float) -> bool:
    """True when a NOTIFY arrives on ``listener`` within ``timeout`` seconds; the others
    already queued are taken too (one wake-up for a burst of appends)."""
    got = any(True for _ in listener.notifies(timeout=timeout, stop_after=1))
    if got:
        for _ in listener.notifies(timeout=0.001):
            pass
    return got


# -- the dialect ------------------------------------------------------------------------

_LITERAL = re.compile(r"('(?:[^']|'')*')")
_CAST_PAYLOAD = re.compile(r"CAST\(\s*((?:\w+\.)?payload)\s+AS\s+TEXT\s*\)", re.IGNORECASE)
_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\s+", re.IGNORECASE)
_OR_REPLACE = re.compile(
    r"^\s*INSERT\s+OR\s+REPLACE\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.IGNORECASE | re.DOTALL
)
_NUMBERED = re.compile(r"\?(\d+)")  # SQLite's ?1: psycopg's %(p1)s, params by name
_ROWID = re.compile(r"\browid\b", re.IGNORECASE)
_LAST_ROWID = re.compile(r"last_insert_rowid\(\)", re.IGNORECASE)


def _primary_keys() -> dict[str, tuple[str, ...]]:
    from ._schema import metadata

    return {
        name: tuple(c.name for c in table.primary_key.columns)
        for name, table in metadata().tables.items()
    }


_PKS: dict[str, tuple[str, ...]] = {}


def translate(sql: str) -> str:
    """The PostgreSQL form of one statement of the store's SQLite dialect."""
    suffix = ""
    if _OR_IGNORE.match(sql):
        sql = _OR_IGNORE.sub("INSERT INTO ", sql, count=1)
        suffix = " ON CONFLICT DO NOTHING"
    elif m := _OR_REPLACE.match(sql):
        table, cols = m.group(1), [c.strip() for c in m.group(2).split(",")]
        if not _PKS:
            _PKS.update(_primary_keys())
        keys = _PKS.get(table)
        if not keys:
            raise StoreError(f"INSERT OR REPLACE into {table}: no primary key known")
        rest = [c for c in cols if c not in keys]
        sets = ", ".join(f"{c} = excluded.{c}" for c in rest)
        action = f"DO UPDATE SET {sets}" if rest else "DO NOTHING"
        sql = re.sub(r"^\s*INSERT\s+OR\s+REPLACE\s+INTO", "INSERT INTO", sql, flags=re.I)
        suffix = f" ON CONFLICT ({', '.join(keys)}) {action}"
    out = []
    for i, piece in enumerate(_LITERAL.split(sql)):
        if i % 2:  # a quoted literal: as written
            out.append(piece)
            continue
        piece = _NUMBERED.sub(r"%(p\1)s", piece.replace("%", "%%")).replace("?", "%s")
        piece = _LAST_ROWID.sub("lastval()", piece)
        piece = _ROWID.sub("ctid", piece)
        piece = _CAST_PAYLOAD.sub(r"convert_from(\1, 'UTF8')", piece)
        out.append(piece)
    return "".join(out).rstrip().rstrip(";") + suffix


_CACHE: dict[str, str] = {}
_CACHE_LOCK = threading.Lock()


def _translated(sql: str) -> str:
    found = _CACHE.get(sql)
    if found is None:
        found = translate(sql)
        with _CACHE_LOCK:
            if len(_CACHE) > 4096:  # ad-hoc SQL (IN lists of every length) must not grow it
                _CACHE.clear()
            _CACHE[sql] = found
    return found


def _mapped(e: Exception) -> sqlite3.DatabaseError:
    """The ``sqlite3`` exception the store's modules catch, for a psycopg error."""
    import psycopg

    if isinstance(e, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(str(e))
    if isinstance(e, psycopg.OperationalError):
        return sqlite3.OperationalError(str(e))
    return sqlite3.DatabaseError(str(e))


class PgCursor:
    """A cursor of :class:`PgConnection`: the subset of ``sqlite3.Cursor`` the store uses."""

    def __init__(self, owner: PgConnection):
        self._owner = owner
        self._cur = owner.raw.cursor()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        self._owner.run(self._cur, sql, params)
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        self._owner.run_many(self._cur, sql, rows)
        return self

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)

    def close(self) -> None:
        self._cur.close()


class PgConnection:
    """A PostgreSQL log's connection behind the ``sqlite3.Connection`` surface the store
    uses. One per store; like the SQLite one, used by one thread at a time. Borrowed from
    ``pool`` (``_pgpool.py``), ``close`` gives it back."""

    def __init__(
        self, raw: psycopg.Connection[Any], url: str, schema: str, pool: Any = None
    ) -> None:
        self.raw = raw
        self.pool = pool
        self.url = url
        self.schema = schema
        self.write_key = lock_key("write", schema)
        self._writing = False

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def run(self, cur: Any, sql: str, params: Sequence[Any] | None) -> None:
        """Execute one statement of the SQLite dialect on ``cur``."""
        word = sql.strip().upper()
        try:
            if word == "BEGIN IMMEDIATE":
                # one round trip: both in one simple query (the key is our own int)
                cur.execute(f"BEGIN; SELECT pg_advisory_xact_lock({int(self.write_key)})")
                self._writing = True
            elif word in ("BEGIN", "BEGIN DEFERRED"):
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            elif word == "COMMIT":
                if self._writing:  # delivered at commit, to whoever waits (the stream)
                    cur.execute(f"NOTIFY {CHANNEL}, {_quoted(self.schema)}; COMMIT")
                else:
                    cur.execute("COMMIT")
                self._writing = False
            elif word == "ROLLBACK":
                self._writing = False
                cur.execute("ROLLBACK")
            else:
                pg_sql = _translated(sql)
                if params is not None and "%(p" in pg_sql and not isinstance(params, dict):
                    params = {f"p{i}": v for i, v in enumerate(params, 1)}  # type: ignore[assignment]
                cur.execute(pg_sql, params)
        except sqlite3.DatabaseError:
            raise
        except Exception as e:
            if _is_psycopg(e):
                raise _mapped(e) from e
            raise

    def run_many(self, cur: Any, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            cur.executemany(_translated(sql), list(rows))
        except Exception as e:
            if _is_psycopg(e):
                raise _mapped(e) from e
            raise

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        return PgCursor(self).execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        return PgCursor(self).executemany(sql, rows)

    def cursor(self) -> PgCursor:
        return PgCursor(self)

    def close(self) -> None:
        if self.pool is None:
            self.raw.close()
        else:
            from ._pgpool import give_back

            pool, self.pool = self.pool, None  # given back once, even if closed twice
            self._writing = False
            give_back(pool, self.raw)


def _quoted(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _is_psycopg(e: Exception) -> bool:
    import psycopg

    return isinstance(e, psycopg.Error)
