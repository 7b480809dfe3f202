"""The log's schema, defined once with SQLAlchemy Core.

This is the backend seam: the same metadata creates the tables on SQLite today and on
PostgreSQL later. SQLAlchemy costs ~0.5 s to import, so no command imports it: a new
SQLite log is made from the DDL compiled from the metadata ahead of time
(``_schema_sqlite.py``, checked against it by a test), and the hot append and read
paths talk to the DBAPI connection directly (see ``_store.py``).
"""

from __future__ import annotations

from typing import Any

from ._listing import LIFECYCLE_WHERE

# stored in PRAGMA user_version (SQLite) or the schema_version table (PostgreSQL, see
# _pgschema.py); bump it with a migration (_ADDED_TABLES / _ADDED_INDEXES / _BACKFILL)
SCHEMA_VERSION = 4


def metadata() -> Any:
    """Build the SQLAlchemy ``MetaData`` of the log."""
    import sqlalchemy as sa

    # byte order on PostgreSQL too (SQLite's): ids and times sort the same on both
    text = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    # 64-bit on PostgreSQL too (SQLite's INTEGER is): a turn or seq is any int64 there
    integer = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
    md = sa.MetaData()
    sa.Table(
        "runs",
        md,
        sa.Column("run_id", text, primary_key=True),
        sa.Column("parent_run_id", text, sa.ForeignKey("runs.run_id"), nullable=True),
        sa.Column("fork_seq", integer, nullable=True),
        sa.Column("fork_turn", integer, nullable=True),
        sa.Column("root_run_id", text, nullable=False),
        sa.Column("depth", integer, nullable=False, server_default="0"),
        sa.Column("batch_id", text, nullable=True, index=True),
        sa.Column("created_at", text, nullable=False),
        # listings page newest first by keyset (see ``_listing.py``), a run's branches too
        sa.Index("ix_runs_created", "created_at", "run_id"),
        sa.Index("ix_runs_parent", "parent_run_id", "created_at", "run_id"),
    )
    sa.Table(
        "events",
        md,
        sa.Column("position", integer, primary_key=True, autoincrement=True),  # BIGSERIAL
        sa.Column("run_id", text, sa.ForeignKey("runs.run_id"), nullable=False),
        sa.Column("seq", integer, nullable=False),
        sa.Column("turn", integer, nullable=False),
        sa.Column("type", text, nullable=False),
        sa.Column("schema_version", integer, nullable=False),
        sa.Column("actor", text, nullable=True),
        sa.Column("event_id", text, nullable=False, unique=True),
        sa.Column("recorded_at", text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("hash", text, nullable=False),
        sa.UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),
        sa.Index("ix_events_run_turn", "run_id", "turn"),
        # each run's lifecycle events only (a few per run): its status in a listing's
        # filter is one index lookup, and appending other events costs nothing more
        sa.Index(
            "ix_events_lifecycle",
            "run_id",
            "seq",
            sqlite_where=sa.text(LIFECYCLE_WHERE),
            postgresql_where=sa.text(LIFECYCLE_WHERE),
        ),
    )
    # The scenario and tags each run was created with (kind 'scenario' or 'tag'), so a
    # listing filters on them in SQL: derived from the runs' start events, which never
    # change, filled by ``_listing.py`` for the runs it does not cover; can be dropped.
    sa.Table(
        "run_labels",
        md,
        sa.Column("run_id", text, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("kind", text, primary_key=True),
        sa.Column("value", text, primary_key=True),
        sa.Index("ix_run_labels_value", "kind", "value"),
    )
    # Each run's last own event, written in the transaction that appends it: the anchor
    # that lets `verify` notice events deleted from (or forged onto) the end of a run,
    # which the hash chain alone cannot (a shortened chain is still a valid chain).
    sa.Table(
        "run_tips",
        md,
        sa.Column("run_id", text, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("seq", integer, nullable=False),
        sa.Column("hash", text, nullable=False),
    )
    # Each run's metadata as sealed at its creation (see ``_seals.py``): verify names
    # the field of ``runs`` that was changed; ``chain`` says whether the run's first own
    # event chains over the metadata (2) or the run predates that (1, sealed by the
    # schema-3 migration as found).
    sa.Table(
        "run_seals",
        md,
        sa.Column("run_id", text, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("chain", integer, nullable=False),
        sa.Column("meta", text, nullable=False),
    )
    # How far each run's own events were last verified (seq, position, hash there): the
    # check before a read verifies only what came after, and a verified event that is
    # gone or different later is a rollback. A cache in that it can be dropped; a
    # record in that only verify writes it.
    sa.Table(
        "run_verified",
        md,
        sa.Column("run_id", text, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("seq", integer, nullable=False),
        sa.Column("position", integer, nullable=False),
        sa.Column("hash", text, nullable=False),
    )
    sa.Table(
        "blobs",
        md,
        sa.Column("sha256", text, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    sa.Table(
        "snapshots",
        md,
        sa.Column("run_id", text, primary_key=True),
        sa.Column("kind", text, primary_key=True),
        sa.Column("turn", integer, primary_key=True),
        sa.Column("seq", integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    sa.Table(
        "batches",
        md,
        sa.Column("batch_id", text, primary_key=True),
        sa.Column("name", text, nullable=False),
        sa.Column("config", sa.LargeBinary, nullable=False),
        sa.Column("config_sha256", text, nullable=False),
        sa.Column("created_at", text, nullable=False),
    )
    return md


def sqlite_ddl() -> tuple[str, ...]:
    """The statements that create every table and index of the log on SQLite, compiled
    from ``metadata()`` in the order ``create_all`` uses. ``_schema_sqlite.SQLITE_DDL``
    holds their output, so that creating a log does not import SQLAlchemy; a test
    checks the two are the same."""
    from sqlalchemy.dialects import sqlite

    return ddl(sqlite.dialect())


def ddl(dialect: Any) -> tuple[str, ...]:
    """The statements that create every table and index of the log in ``dialect``."""
    import sqlalchemy as sa

    out: list[str] = []
    for table in metadata().sorted_tables:
        out.append(str(sa.schema.CreateTable(table).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            out.append(str(sa.schema.CreateIndex(index).compile(dialect=dialect)).strip())
    return tuple(out)


def create_sqlite_schema(path: str) -> None:
    """Create every table of the log in the SQLite file at ``path``, in one transaction."""
    import sqlite3

    from ._schema_sqlite import SQLITE_DDL

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for statement in SQLITE_DDL:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    finally:
        conn.close()


# SQL run after the DDL of the tables a version added, to fill them from what is there.
_BACKFILL: dict[int, tuple[str, ...]] = {
    2: (
        "INSERT INTO run_tips (run_id, seq, hash) SELECT run_id, seq, hash FROM events e "
        "WHERE seq = (SELECT max(seq) FROM events WHERE run_id = e.run_id)",
    ),
    # Runs made before schema 3 keep their chain (it does not cover their metadata, and
    # rewriting it would break every anchor exported before): their rows are sealed as
    # found, chain version 1. Keys in sorted order; verify compares parsed documents.
    3: (
        "INSERT INTO run_seals (run_id, chain, meta) SELECT run_id, 1, json_object("
        "'batch_id', batch_id, 'created_at', created_at, 'depth', depth, "
        "'fork_seq', fork_seq, 'fork_turn', fork_turn, 'parent_run_id', parent_run_id, "
        "'root_run_id', root_run_id, 'run_id', run_id) FROM runs",
    ),
}
_ADDED_TABLES: dict[int, tuple[str, ...]] = {
    2: ("run_tips",),
    3: ("run_seals", "run_verified"),
    4: ("run_labels",),
}
# indexes a version added, as (table, index name); run_labels fills itself when read
_ADDED_INDEXES: dict[int, tuple[tuple[str, str], ...]] = {
    4: (
        ("runs", "ix_runs_created"),
        ("runs", "ix_runs_parent"),
        ("events", "ix_events_lifecycle"),
        ("run_labels", "ix_run_labels_value"),
    ),
}


def upgrade_statements(from_version: int, dialect: Any = None) -> list[str]:
    """The SQL that brings a log of ``from_version`` to ``SCHEMA_VERSION`` (SQLite, or
    ``dialect``).

    The DDL is compiled from the same metadata that creates new logs, so an upgraded log
    and a new one have the same tables. Backfills are written in the SQLite dialect the
    store speaks (``_pg.py`` maps it); PostgreSQL logs start at schema 4, so the
    backfills of 2 and 3 never run there.
    """
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite

    dialect = dialect or sqlite.dialect()
    md = metadata()
    out: list[str] = []
    for version in range(from_version + 1, SCHEMA_VERSION + 1):
        for name in _ADDED_TABLES.get(version, ()):
            out.append(str(sa.schema.CreateTable(md.tables[name]).compile(dialect=dialect)))
        for table, index in _ADDED_INDEXES.get(version, ()):
            found = next(i for i in md.tables[table].indexes if i.name == index)
            out.append(str(sa.schema.CreateIndex(found).compile(dialect=dialect)))
        out += _BACKFILL.get(version, ())
    return out
