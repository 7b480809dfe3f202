"""Pages of runs and of a timeline, filtered in SQL, for listings that must stay fast
however many runs the log holds (the server's ``GET runs`` and ``GET events``).

A page of runs is read by keyset: newest first by ``(created_at, run_id)``, the cursor
being the last run of the previous page, so page N costs what page 1 does. Every
filter is a condition of the one query:

- batch and parent are columns of ``runs``;
- the lifecycle (what status is derived from) is the type of the run's last lifecycle
  event, found through the partial index ``ix_events_lifecycle``; "running" and
  "interrupted" differ only by the run's lease, which the caller checks;
- scenario and tags come from ``run_labels``, an index of the labels each run was
  created with (its timeline's ``RunStarted``/``RunForked``, which never change). It is
  derived data: filled here for the runs it does not cover yet, decoded through the
  codec (so old event versions are upgraded), and it can be dropped and rebuilt.

The SQL is portable (``?`` parameters, no SQLite-only functions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ._disk import commit, rollback, write_error
from ._reads import EVENT_COLS, Reads, recorded
from ._records import RunInfo
from ._runs import RUN_COLS, run_info_row

# The lifecycle events, in the order of the partial index's predicate: SQLite uses a
# partial index only for a query that repeats its WHERE term, so both are built here.
LIFECYCLE_TYPES = (
    "RunStarted",
    "RunForked",
    "RunResumed",
    "RunHalted",
    "RunCompleted",
    "RunFailed",
)
LIFECYCLE_WHERE = "type IN (" + ", ".join(f"'{t}'" for t in LIFECYCLE_TYPES) + ")"

_RUN_COLS_R = ", ".join(f"r.{c.strip()}" for c in RUN_COLS.split(","))
_LAST_LIFECYCLE = (
    "(SELECT type FROM events WHERE run_id = r.run_id AND "
    + LIFECYCLE_WHERE
    + " ORDER BY seq DESC LIMIT 1)"
)
_LABEL = (
    "EXISTS (SELECT 1 FROM run_labels l WHERE l.run_id = r.run_id AND l.kind = ? AND l.value = ?)"
)
_FILL_CHUNK = 500


class Listing(Reads):
    """Keyset pages of runs with their filters in SQL; where a position falls in a
    timeline."""

    def list_runs_page(
        self,
        *,
        limit: int,
        before: str | None = None,
        batch_id: str | None = None,
        parent: str | None = None,
        lifecycle: Sequence[str] | None = None,
        scenario: str | None = None,
        tags: Sequence[str] = (),
    ) -> list[RunInfo]:
        """Up to ``limit`` runs, newest first, after the run ``before`` (a cursor: the
        last run of the previous page, ``RunNotFound`` if there is none), matching every
        filter: ``lifecycle`` the types of last lifecycle event allowed (see
        ``LIFECYCLE_TYPES``), ``scenario`` the root's scenario name, ``tags`` all of
        them on the run's timeline."""
        where: list[str] = []
        params: list[Any] = []
        if before is not None:
            cursor = self.run_info(before)
            where.append("(r.created_at < ? OR (r.created_at = ? AND r.run_id < ?))")
            params += [cursor.created_at, cursor.created_at, cursor.run_id]
        if batch_id is not None:
            where.append("r.batch_id = ?")
            params.append(batch_id)
        if parent is not None:
            where.append("r.parent_run_id = ?")
            params.append(parent)
        if lifecycle is not None:
            kinds = sorted(set(lifecycle))
            if not kinds:
                return []
            where.append(f"{_LAST_LIFECYCLE} IN ({','.join('?' * len(kinds))})")
            params += kinds
        if scenario is not None or tags:
            self.index_labels()
            if scenario is not None:
                where.append(_LABEL)
                params += ["scenario", scenario]
            for tag in dict.fromkeys(tags):
                where.append(_LABEL)
                params += ["tag", tag]
        sql = f"SELECT {_RUN_COLS_R} FROM runs r"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.created_at DESC, r.run_id DESC LIMIT ?"
        params.append(limit)
        return [run_info_row(row) for row in self._conn.execute(sql, params)]

    def index_labels(self) -> int:
        """Record in ``run_labels`` the scenario and tags of every run not there yet
        (runs whose start event is not recorded are left for later); how many runs."""
        missing = [
            str(r[0])
            for r in self._conn.execute(
                "SELECT r.run_id FROM runs r WHERE NOT EXISTS (SELECT 1 FROM run_labels l "
                "WHERE l.run_id = r.run_id AND l.kind = 'scenario')"
            )
        ]
        done = 0
        for i in range(0, len(missing), _FILL_CHUNK):
            rows: list[tuple[str, str, str]] = []
            for run_id in missing[i : i + _FILL_CHUNK]:
                labels = self._labels(run_id)
                if labels is not None:
                    rows += labels
                    done += 1
            self._insert_labels(rows)
        return done

    def _labels(self, run_id: str) -> list[tuple[str, str, str]] | None:
        """(run, kind, value) rows of the run's labels as its timeline's start events
        give them (the ``runs`` listing's scenario and tags); None before its start."""
        scenario: str | None = None
        tags: dict[str, None] = {}
        started = False
        for row in self._segment_query_where(
            run_id, "type IN ('RunStarted', 'RunForked')", EVENT_COLS + ", payload"
        ):
            event: Any = recorded(row).event
            started = True
            if row[4] == "RunStarted" and scenario is None:
                scenario = event.scenario_name
            tags.update(dict.fromkeys(event.tags))
        if not started:
            return None
        out = [(run_id, "scenario", scenario or "")]
        out += [(run_id, "tag", t) for t in tags]
        return out

    def _insert_labels(self, rows: list[tuple[str, str, str]]) -> None:
        if not rows:
            return
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                # another reader may index the same runs at the same time: same rows
                cur.executemany(
                    "INSERT INTO run_labels (run_id, kind, value) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    rows,
                )
            except BaseException:
                rollback(cur)
                raise
            commit(cur)
        except sqlite3.DatabaseError as e:
            raise write_error(self.path, e, "cannot index the runs' labels") from e

    def seq_at_position(self, run_id: str, position: int) -> int:
        """The seq of the last event of the run's timeline at or before global
        ``position`` (0 when none is): reading from there skips the events before it
        without decoding them, since positions grow along a timeline."""
        best = 0
        for seg_run, lo, hi in self.segments(run_id):
            sql = "SELECT max(seq) FROM events WHERE run_id = ? AND seq > ? AND position <= ?"
            params: list[Any] = [seg_run, lo, position]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            row = self._conn.execute(sql, params).fetchone()
            if row[0] is not None:
                best = max(best, int(row[0]))
        return best

    def tips(self, run_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Each run's last own event (seq, hash), by run: what changes whenever the run
        records anything, so a summary cached under it is current while it is equal."""
        ids = sorted(set(run_ids))
        out: dict[str, tuple[int, str]] = {}
        for i in range(0, len(ids), _FILL_CHUNK):
            part = ids[i : i + _FILL_CHUNK]
            marks = ",".join("?" * len(part))
            for row in self._conn.execute(
                f"SELECT run_id, seq, hash FROM run_tips WHERE run_id IN ({marks})", part
            ):
                out[str(row[0])] = (int(row[1]), str(row[2]))
        return out
