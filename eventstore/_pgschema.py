"""Opening a PostgreSQL log: its tables made from ``_schema.metadata()``, its version
checked and upgraded.

A PostgreSQL log is the set of the store's tables in one schema of one database: the
first schema of the connection's ``search_path`` (``public`` unless the URL says
``?options=-csearch_path%3Dname``). The database must exist; the tables are created
on first open, under an advisory lock so that concurrent first openers take turns.

Versions and migrations: the table ``schema_version`` holds the log's schema version
(SQLite keeps it in ``PRAGMA user_version``). A log of an older version is brought
to ``SCHEMA_VERSION`` on open by the same ``upgrade_statements`` SQLite logs use,
compiled for PostgreSQL, in one transaction under the same lock; a log of a newer
version is refused. PostgreSQL logs begin at schema 4 (the first with this backend).

With the tables come two SQL functions of SQLite the store's queries use:
``json_extract(text, '$.a.b')`` (returning text) and the aggregate ``total()``.
"""

from __future__ import annotations

from ._errors import StoreError
from ._pg import PgConnection, connect, lock_key, redacted
from ._schema import SCHEMA_VERSION

_TABLES = ("events", "runs", "blobs")

# SQLite's json_extract and total(), as far as the store uses them
_FUNCTIONS = (
    "CREATE OR REPLACE FUNCTION json_extract(doc text, path text) RETURNS text "
    "LANGUAGE sql IMMUTABLE STRICT AS "
    "$$ SELECT doc::jsonb #>> string_to_array(substr(path, 3), '.') $$",
    "CREATE OR REPLACE FUNCTION sl_total_step(acc float8, v text) RETURNS float8 "
    "LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT acc + v::float8 $$",
    "CREATE OR REPLACE FUNCTION sl_total_step(acc float8, v float8) RETURNS float8 "
    "LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT acc + v $$",
    "CREATE OR REPLACE AGGREGATE total(text) (sfunc = sl_total_step, stype = float8, "
    "initcond = '0')",
    "CREATE OR REPLACE AGGREGATE total(float8) (sfunc = sl_total_step, stype = float8, "
    "initcond = '0')",
)


def open_pg(url: str, *, create: bool) -> PgConnection:
    """A connection to the log at ``url``, its tables created (``create``) or upgraded.

    Opened before in this process: a pooled connection, the log checked then
    (``_pgpool.py``)."""
    from ._pgpool import borrow, remember

    lent = borrow(url)
    if lent is not None:
        return PgConnection(lent[0], url, lent[2], pool=lent[1])
    raw = connect(url)
    try:
        schema = raw.execute("SELECT current_schema()").fetchone()
        if schema is None or schema[0] is None:
            raise StoreError(
                f"the PostgreSQL log {redacted(url)} has no schema to hold its tables "
                "(the search_path names none that exists)",
                hint="create the schema, or drop the search_path option from the URL",
            )
        conn = PgConnection(raw, url, str(schema[0]))
        version = _version(conn)
        if version is None:
            if not _has_tables(conn):
                if not create:
                    raise StoreError(
                        f"no log at {redacted(url)} (the database has no scenario-lab tables)",
                        hint="run a scenario first, or point --db / SCENARIO_LAB_DB at a log",
                    )
                _create(conn)
            else:
                raise StoreError(
                    f"{redacted(url)} holds tables named like a log's but is not a "
                    "scenario-lab log (no schema_version)",
                    hint="point --db at a scenario-lab log or at an empty database",
                )
        elif version > SCHEMA_VERSION:
            raise StoreError(
                f"{redacted(url)} was written by a newer scenario-lab (schema {version})",
                hint="upgrade scenario-lab",
            )
        elif version < SCHEMA_VERSION:
            _upgrade(conn)
        remember(url, conn.schema)
        return conn
    except BaseException:
        raw.close()
        raise


def _version(conn: PgConnection) -> int | None:
    # a scan of the catalog, not to_regclass(): that reads a cache which another
    # session's just-committed CREATE TABLE may not have reached yet
    found = conn.raw.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename = 'schema_version'"
    ).fetchone()
    if found is None:
        return None
    row = conn.raw.execute("SELECT max(version) FROM schema_version").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _has_tables(conn: PgConnection) -> bool:
    rows = conn.raw.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        (list(_TABLES),),
    ).fetchone()
    return bool(rows and rows[0])


def _locked(conn: PgConnection) -> None:
    """Begin a transaction holding the schema lock of this log."""
    conn.raw.execute("BEGIN")
    conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("schema", conn.schema),))


def _create(conn: PgConnection) -> None:
    from sqlalchemy.dialects import postgresql

    from ._schema import ddl

    _locked(conn)
    try:
        if _version(conn) is None:  # another opener may have made it while we waited
            for statement in (*ddl(postgresql.dialect()), *_FUNCTIONS):
                conn.raw.execute(statement)  # type: ignore[call-overload]
            conn.raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            conn.raw.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
    except BaseException:
        conn.raw.execute("ROLLBACK")
        raise
    conn.raw.execute("COMMIT")


def _upgrade(conn: PgConnection) -> None:
    from sqlalchemy.dialects import postgresql

    from ._pg import translate
    from ._schema import upgrade_statements

    _locked(conn)
    try:
        version = _version(conn) or SCHEMA_VERSION
        if version < SCHEMA_VERSION:
            for sql in upgrade_statements(version, postgresql.dialect()):
                conn.raw.execute(translate(sql))  # type: ignore[call-overload]
            conn.raw.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))
    except BaseException:
        conn.raw.execute("ROLLBACK")
        raise
    conn.raw.execute("COMMIT")
