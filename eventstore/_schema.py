"""The log's schema, defined once with SQLAlchemy Core.

This is the backend seam: the same metadata creates the tables on SQLite today and on
PostgreSQL later. SQLAlchemy is imported only when a log is created (it costs ~0.5 s
to import), so commands over an existing log start fast; the hot append and read
paths talk to the DBAPI connection directly (see ``_store.py``).
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1  # stored in PRAGMA user_version; bump with a migration


def metadata() -> Any:
    """Build the SQLAlchemy ``MetaData`` of the log."""
    import sqlalchemy as sa

    md = sa.MetaData()
    sa.Table(
        "runs",
        md,
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("parent_run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=True),
        sa.Column("fork_seq", sa.Integer, nullable=True),
        sa.Column("fork_turn", sa.Integer, nullable=True),
        sa.Column("root_run_id", sa.Text, nullable=False),
        sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
        sa.Column("batch_id", sa.Text, nullable=True, index=True),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    sa.Table(
        "events",
        md,
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text, sa.ForeignKey("runs.run_id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("actor", sa.Text, nullable=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("recorded_at", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.UniqueConstraint("run_id", "seq", name="uq_events_run_seq"),
        sa.Index("ix_events_run_turn", "run_id", "turn"),
    )
    sa.Table(
        "blobs",
        md,
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    sa.Table(
        "snapshots",
        md,
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("turn", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    sa.Table(
        "batches",
        md,
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("config", sa.LargeBinary, nullable=False),
        sa.Column("config_sha256", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    return md


def create_sqlite_schema(path: str) -> None:
    """Create every table of the log in the SQLite file at ``path``."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            metadata().create_all(conn)
            conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
    finally:
        engine.dispose()
