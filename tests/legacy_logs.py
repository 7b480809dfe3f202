"""Logs as older versions of scenario-lab wrote them, made from a log of this one.

Before schema 3 a run's first event chained over GENESIS (a root) or the parent's event
at the fork point (a fork), with no metadata seed, and there were no ``run_seals`` or
``run_verified`` tables (nor schema 4's ``run_labels`` and listing indexes); before schema 2 there was no ``run_tips`` either. ``as_legacy``
rewrites a log made now into exactly that, so the upgrade path is tested on the bytes an
old version produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventstore._hashing import GENESIS, chain_hash
from tests.store_helpers import raw_connection

_COLS = "seq, turn, type, schema_version, actor, event_id, recorded_at, payload"


def as_legacy(path: str | Path, version: int) -> None:
    """Turn the log at ``path`` into a schema-``version`` log (1, 2 or 3)."""
    with raw_connection(path) as conn:
        if version == 3:
            conn.execute("BEGIN")
            _drop_schema_4(conn)
            conn.execute("PRAGMA user_version = 3")
            conn.execute("COMMIT")
            return
        runs = conn.execute(
            "SELECT run_id, parent_run_id, fork_seq FROM runs ORDER BY depth, rowid"
        ).fetchall()
        lineage = {r[0]: (r[1], r[2]) for r in runs}

        def hash_at(run: str, seq: int) -> str:
            parent, fork_seq = lineage[run]
            if parent is not None and seq <= fork_seq:
                return hash_at(parent, seq)
            row = conn.execute(
                "SELECT hash FROM events WHERE run_id = ? AND seq = ?", (run, seq)
            ).fetchone()
            return str(row[0])

        conn.execute("BEGIN")
        for run, parent, fork_seq in runs:
            prev = GENESIS if parent is None else hash_at(parent, fork_seq)
            rows = conn.execute(
                f"SELECT position, {_COLS} FROM events WHERE run_id = ? ORDER BY seq", (run,)
            ).fetchall()
            for position, *cols in rows:
                prev = chain_hash(prev, run, *cols)
                conn.execute("UPDATE events SET hash = ? WHERE position = ?", (prev, position))
            if rows:
                conn.execute(
                    "UPDATE run_tips SET seq = ?, hash = ? WHERE run_id = ?",
                    (rows[-1][1], prev, run),
                )
        _drop_schema_4(conn)
        conn.execute("DROP TABLE run_seals")
        conn.execute("DROP TABLE run_verified")
        if version < 2:
            conn.execute("DROP TABLE run_tips")
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")


def _drop_schema_4(conn: Any) -> None:
    # schema 4 added the listing's label index and two indexes
    conn.execute("DROP TABLE run_labels")
    conn.execute("DROP INDEX ix_runs_created")
    conn.execute("DROP INDEX ix_runs_parent")
    conn.execute("DROP INDEX ix_events_lifecycle")


def rechain(path: str | Path, run_id: str) -> None:
    """Recompute the hash chain (and tip) of a run whose rows a test rewrote to look as
    an older scenario-lab wrote them, so the log stays one that verifies: an edit left
    unchained is tampering, which the reads refuse (docs/verification.md)."""
    from eventstore import EventStore

    with EventStore.open(path) as store:
        info = store.run_info(run_id)
        base = GENESIS if info.parent_run_id is None else None
        if base is None:
            base = store._timeline_hash(run_id, info.fork_seq or 0)
        prev = store._seeded(run_id, base)
    with raw_connection(path) as conn:
        conn.execute("BEGIN")
        rows = conn.execute(
            f"SELECT position, {_COLS} FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
        for position, *cols in rows:
            prev = chain_hash(prev, run_id, *cols)
            conn.execute("UPDATE events SET hash = ? WHERE position = ?", (prev, position))
        conn.execute("UPDATE run_tips SET hash = ? WHERE run_id = ?", (prev, run_id))
        conn.execute("DELETE FROM run_verified WHERE run_id = ?", (run_id,))
        conn.execute("COMMIT")
