"""Forks: a branch is a new run whose lineage points at (parent, fork_seq).

Nothing is copied: reading a branch reads its parent's events up to ``fork_seq``, then
its own (``Runs.segments``). Forking costs the same at turn 3 of a short run and of a
run of a million events.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from ._appends import Appends, new_event_ids
from ._disk import commit, rollback, write_error
from ._errors import ForkError, UsageError
from ._events import RunForked
from ._records import RunInfo
from ._runs import RUN_COLS, new_id, now
from ._seals import run_seed


class Forks(Appends):
    """Where a run can be forked, and forking it."""

    def fork_point(self, run_id: str, at_turn: int) -> int:
        """The seq ending turn ``at_turn`` of the run's timeline; the branch shares it."""
        for seg_run, lo, hi in self.segments(run_id) if at_turn >= 0 else ():
            sql = (
                "SELECT seq FROM events WHERE run_id = ? AND turn = ? "
                "AND type = 'TurnCompleted' AND +seq > ?"
            )
            # `+seq` keeps SQLite off the (run_id, seq) index: with it the planner
            # scanned every event after `lo`, so forking cost grew with the parent
            # (70 ms at 200k events); (run_id, turn) finds the turn's few rows.
            params: list[Any] = [seg_run, at_turn, lo]
            if hi is not None:
                sql += " AND +seq <= ?"
                params.append(hi)
            row = self._conn.execute(sql, params).fetchone()
            if row is not None:
                return int(row[0])
        done = self.completed_turns(run_id)
        last = done[-1] if done else None
        what = f"has not completed turn {at_turn}" if at_turn >= 0 else f"has no turn {at_turn}"
        raise ForkError(
            f"run {run_id} {what}; last completed turn: "
            f"{last if last is not None else 'none, the setup is unfinished'}",
            hint=(
                f"fork at a completed turn, 0 to {last}"
                if last is not None
                else "the run has not completed its setup; resume it first"
            ),
            run_id=run_id,
        )

    def fork(
        self,
        run_id: str,
        at_turn: int,
        *,
        new_run_id: str | None = None,
        changes: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> str:
        """Create a branch sharing turns 0..``at_turn`` with ``run_id``; copies nothing.

        The branch's first event is ``RunForked`` (turn ``at_turn + 1``) carrying
        ``changes`` (fields of ``RunForked``: seed, model_overrides, ...).
        """
        parent = self.lineage(run_id)[-1]
        fork_seq = self.fork_point(run_id, at_turn)
        # The branch chains onto the event at the fork point, wherever in the parent's
        # lineage it is stored (a fork of a fork may branch inside the inherited prefix).
        prev = self._timeline_hash(run_id, fork_seq)
        child = new_run_id or new_id()
        event = RunForked(
            turn=at_turn + 1,
            parent_run_id=run_id,
            fork_turn=at_turn,
            fork_seq=fork_seq,
            batch_id=batch_id,
            **dict(changes or {}),
        )
        info = RunInfo(
            run_id=child,
            parent_run_id=run_id,
            fork_seq=fork_seq,
            fork_turn=at_turn,
            root_run_id=parent.root_run_id,
            depth=parent.depth + 1,
            created_at=now(),
            batch_id=batch_id,
        )
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    f"INSERT INTO runs ({RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        child,
                        run_id,
                        fork_seq,
                        at_turn,
                        parent.root_run_id,
                        parent.depth + 1,
                        info.created_at,
                        batch_id,
                    ),
                )
                # the branch's chain covers its metadata too (see _seals.py)
                prev = run_seed(prev, self._write_seal(cur, info))
                result, tip = self._insert(
                    cur, child, [event], fork_seq, new_event_ids(1), None, prev=prev
                )
            except BaseException:
                rollback(cur)
                raise
            commit(cur)
        except sqlite3.IntegrityError as e:
            raise UsageError(f"a run {child!r} already exists") from e
        except sqlite3.DatabaseError as e:
            raise write_error(self.path, e, f"cannot fork run {run_id}", run_id=child) from e
        self._tips[child] = (result.last_seq, tip)
        return child
