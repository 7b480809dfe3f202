"""The runs table: identity and lineage of every run, and the segments of a timeline.

``Runs`` is the base of the store's parts (``EventStore`` combines them): it holds the
connection and the caches the others share. Status, cost and progress are never stored
here; they come from the events.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._errors import RunNotFound, UsageError
from ._ids import check_ref
from ._records import RunInfo

RUN_COLS = "run_id, parent_run_id, fork_seq, fork_turn, root_run_id, depth, created_at, batch_id"

# A segment of a timeline: events of `run_id` with lo < seq <= hi (hi None: no bound).
Segment = tuple[str, int, int | None]

# Ids per `IN (...)` list: well under SQLite's bound on host parameters.
_IDS_PER_QUERY = 500

# Run ids an ambiguous prefix's error names.
_CANDIDATES = 5


def now() -> str:
    """The time recorded with a write: UTC, ISO 8601, microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A fresh run or batch id: short enough to type, long enough not to collide."""
    return uuid.uuid4().hex[:12]


def ids_from(conn: Any, table: str, column: str, prefix: str, limit: int) -> list[str]:
    """The first ``limit`` ids of ``table``'s primary key ``column`` starting with
    ``prefix``, in order: one range search of the key's index on either backend."""
    end = next_after(prefix)
    if end is None:  # nothing sorts after it by one character: the open range
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE {column} >= ? ORDER BY {column} LIMIT ?",
            (prefix, limit),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE {column} >= ? AND {column} < ? "
            f"ORDER BY {column} LIMIT ?",
            (prefix, end, limit),
        ).fetchall()
    # the open range may reach past the prefix; the closed one never does
    return [r[0] for r in rows if r[0].startswith(prefix)]


def next_after(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (its last
    character raised by one; code-point order is UTF-8's byte order), or None when that
    character is the last code point."""
    last = ord(prefix[-1]) + 1
    if last > 0x10FFFF:
        return None
    if last == 0xD800:  # surrogates cannot be stored as UTF-8: the next one stored
        last = 0xE000
    return prefix[:-1] + chr(last)


def run_info_row(row: tuple[Any, ...]) -> RunInfo:
    """A RunInfo from a row of ``RUN_COLS``."""
    return RunInfo(
        run_id=row[0],
        parent_run_id=row[1],
        fork_seq=row[2],
        fork_turn=row[3],
        root_run_id=row[4],
        depth=row[5],
        created_at=row[6],
        batch_id=row[7],
    )


class Runs:
    """Runs and their lineage; the connection and caches every part of the store uses."""

    def __init__(self, path: Path | str, conn: sqlite3.Connection):
        # a file, or a postgresql:// URL whose connection is a _pg.PgConnection behind
        # the sqlite3 surface (the modules' SQL is mapped there)
        self.path = path
        self._conn = conn
        self._lineage_cache: dict[str, list[RunInfo]] = {}
        self._tips: dict[str, tuple[int, str]] = {}  # run -> (last seq, its hash)
        self._listener: Any = None  # PostgreSQL: the connection LISTENing for appends

    def run_info(self, run_id: str) -> RunInfo:
        """The run's identity and lineage; ``RunNotFound`` when there is no such run."""
        row = self._conn.execute(
            f"SELECT {RUN_COLS} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return run_info_row(row)

    def run_infos(self, run_ids: Iterable[str]) -> dict[str, RunInfo]:
        """The RunInfo of each of ``run_ids`` that exists, by id (a few queries in all)."""
        ids = sorted(set(run_ids))
        out: dict[str, RunInfo] = {}
        for i in range(0, len(ids), _IDS_PER_QUERY):
            part = ids[i : i + _IDS_PER_QUERY]
            marks = ",".join("?" * len(part))
            for row in self._conn.execute(
                f"SELECT {RUN_COLS} FROM runs WHERE run_id IN ({marks})", part
            ):
                out[row[0]] = run_info_row(row)
        return out

    def resolve(self, prefix: str) -> str:
        """The run id that is ``prefix`` or the only one starting with it.

        Two index lookups on the primary key, no scan: the exact id first, then the ids
        in the range ``[prefix, next_after(prefix))``, which are exactly those starting
        with ``prefix`` (ids compare bytewise: SQLite's BINARY, PostgreSQL's "C").
        """
        check_ref(prefix, "run")
        if self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (prefix,)).fetchone():
            return prefix
        ids = ids_from(self._conn, "runs", "run_id", prefix, _CANDIDATES + 1)
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise RunNotFound(prefix)
        more = ", ..." if len(ids) > _CANDIDATES else ""
        raise UsageError(
            f"run id prefix {prefix!r} is ambiguous: {'at least ' if more else ''}"
            f"{min(len(ids), _CANDIDATES)} runs start with it "
            f"({', '.join(ids[:_CANDIDATES])}{more})",
            hint="give more characters of the run id",
        )

    def list_runs(self, *, batch_id: str | None = None) -> list[RunInfo]:
        """Every run, newest first."""
        sql = f"SELECT {RUN_COLS} FROM runs"
        params: tuple[Any, ...] = ()
        if batch_id is not None:
            sql += " WHERE batch_id = ?"
            params = (batch_id,)
        sql += " ORDER BY created_at DESC, rowid DESC"
        return [run_info_row(r) for r in self._conn.execute(sql, params)]

    def children(self, run_id: str) -> list[RunInfo]:
        """The run's direct forks, oldest first."""
        rows = self._conn.execute(
            f"SELECT {RUN_COLS} FROM runs WHERE parent_run_id = ? ORDER BY created_at",
            (run_id,),
        )
        return [run_info_row(r) for r in rows]

    def lineage(self, run_id: str) -> list[RunInfo]:
        """The run's ancestry, root first, the run itself last."""
        cached = self._lineage_cache.get(run_id)
        if cached is not None:
            return cached
        chain: list[RunInfo] = []
        current: str | None = run_id
        while current is not None:
            info = self.run_info(current)
            chain.append(info)
            current = info.parent_run_id
        chain.reverse()
        self._lineage_cache[run_id] = chain  # lineage never changes once written
        return chain

    def segments(self, run_id: str) -> list[Segment]:
        """The (run, lo, hi] seq ranges that make up a run's timeline, root first."""
        out: list[Segment] = []
        bound: int | None = None
        for info in reversed(self.lineage(run_id)):
            lo = info.fork_seq or 0
            if bound is None or bound > lo:
                out.append((info.run_id, lo, bound))
            bound = lo if bound is None else min(bound, lo)
        out.reverse()
        return out
