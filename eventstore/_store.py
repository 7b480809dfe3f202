"""The SQLite event store: append, read along fork lineage, fork, verify, blobs.

The schema comes from ``_schema.py`` (SQLAlchemy Core). The hot paths use the DBAPI
``sqlite3`` connection directly: SQLAlchemy's per-statement overhead shows in the
append benchmark, and its import alone costs more than a whole CLI command should.

Ordering rules: ``position`` is the global order (projections follow it); ``seq`` is the
order along one run's timeline. A fork continues its parent's ``seq`` numbering after
``fork_seq``, so a timeline is gap-free from 1 to its last seq across lineage.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _bulk, _codec
from ._errors import (
    ConcurrencyConflict,
    ForkError,
    RunNotFound,
    StoreError,
    UsageError,
)
from ._events import Event, RunForked, event_actor, event_type
from ._hashing import GENESIS, chain_hash
from ._ids import check_ref
from ._records import AppendResult, Recorded, RunInfo, VerifyResult
from ._schema import SCHEMA_VERSION, create_sqlite_schema

_COLS = "position, run_id, seq, turn, type, schema_version, actor, event_id, recorded_at, hash"
_INSERT = (
    "INSERT INTO events (run_id, seq, turn, type, schema_version, actor, event_id, "
    "recorded_at, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_TIP = (
    "INSERT INTO run_tips (run_id, seq, hash) VALUES (?, ?, ?) "
    "ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
)
_RUN_COLS = "run_id, parent_run_id, fork_seq, fork_turn, root_run_id, depth, created_at, batch_id"

# Chunks of a timeline beyond which a bulk read fetches the next while decoding one.
_PREFETCH_AFTER = 2

# A segment of a timeline: events of `run_id` with lo < seq <= hi (hi None: no bound).
Segment = tuple[str, int, int | None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A fresh run or batch id: short enough to type, long enough not to collide."""
    return uuid.uuid4().hex[:12]


def _new_event_ids(n: int) -> list[str]:
    """``n`` random 128-bit event ids as 32 hex digits (the shape of ``uuid4().hex``).

    One ``urandom`` call per batch instead of one ``uuid4()`` per event: on a VM each
    call is a ~5 µs syscall, which was a sixth of the time of appending ten events.
    """
    raw = os.urandom(16 * n).hex()
    return [raw[i : i + 32] for i in range(0, 32 * n, 32)]


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching values that start with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class EventStore:
    """The append-only log of every run, in one SQLite file (WAL mode)."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self._conn = conn
        self._lineage_cache: dict[str, list[RunInfo]] = {}
        self._tips: dict[str, tuple[int, str]] = {}  # run -> (last seq, its hash)

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, scratch: bool = False) -> EventStore:
        """Open the log at ``path``; create it when missing and ``create`` is true.

        ``scratch``: a private log that is thrown away after use (a batch worker plays a
        run in one, then copies it into the real log). It keeps its journal in memory
        and never syncs: a crash loses it, which costs nothing, and closing it does not
        checkpoint a WAL into a file about to be deleted (~20 ms a run).
        """
        path = Path(path)
        fresh = not path.exists() or path.stat().st_size == 0
        if fresh:
            if not create:
                raise StoreError(
                    f"no log at {path}",
                    hint="run a scenario first, or point --db / SCENARIO_LAB_DB at a log",
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
        if scratch:
            conn.execute("PRAGMA journal_mode=MEMORY")
            conn.execute("PRAGMA synchronous=OFF")
        else:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        if version < SCHEMA_VERSION:
            try:
                _upgrade(conn, path)
            except BaseException:
                conn.close()
                raise
        return cls(path, conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The DBAPI connection, for read-only queries of layers above."""
        return self._conn

    # -- runs and lineage --------------------------------------------------------------

    def create_run(
        self,
        run_id: str | None = None,
        *,
        batch_id: str | None = None,
        events: Sequence[Event] = (),
        blobs: Mapping[str, bytes] | None = None,
    ) -> str:
        """Register a new root run with its first ``events``, atomically; returns its id.

        Creating the run and its setup events in one transaction means a crash never
        leaves a run without its ``RunStarted``.
        """
        run_id = run_id or new_id()
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(
                f"INSERT INTO runs ({_RUN_COLS}) VALUES (?, NULL, NULL, NULL, ?, 0, ?, ?)",
                (run_id, run_id, _now(), batch_id),
            )
            if events:
                ids = _new_event_ids(len(events))
                result, tip = self._insert(cur, run_id, events, 0, ids, blobs)
        except sqlite3.IntegrityError as e:
            cur.execute("ROLLBACK")
            raise UsageError(f"a run {run_id!r} already exists") from e
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        if events:
            self._tips[run_id] = (result.last_seq, tip)
        return run_id

    def run_info(self, run_id: str) -> RunInfo:
        row = self._conn.execute(
            f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return _run_info(row)

    def resolve(self, prefix: str) -> str:
        """The run id that is ``prefix`` or the only one starting with it."""
        check_ref(prefix, "run")
        # The exact id sorts first: with LIMIT 3, ids sharing the prefix must not push
        # it out (without ORDER BY that held only by the index's scan order).
        rows = self._conn.execute(
            "SELECT run_id FROM runs WHERE run_id = ? OR run_id LIKE ? ESCAPE '\\' "
            "ORDER BY run_id = ? DESC, run_id LIMIT 3",
            (prefix, _like_prefix(prefix), prefix),
        ).fetchall()
        ids = [r[0] for r in rows]
        if prefix in ids:
            return prefix
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise RunNotFound(prefix)
        raise UsageError(
            f"run id prefix {prefix!r} is ambiguous ({', '.join(ids)}, ...)",
            hint="give more characters of the run id",
        )

    def list_runs(self, *, batch_id: str | None = None) -> list[RunInfo]:
        """Every run, newest first."""
        sql = f"SELECT {_RUN_COLS} FROM runs"
        params: tuple[Any, ...] = ()
        if batch_id is not None:
            sql += " WHERE batch_id = ?"
            params = (batch_id,)
        sql += " ORDER BY created_at DESC, rowid DESC"
        return [_run_info(r) for r in self._conn.execute(sql, params)]

    def children(self, run_id: str) -> list[RunInfo]:
        rows = self._conn.execute(
            f"SELECT {_RUN_COLS} FROM runs WHERE parent_run_id = ? ORDER BY created_at",
            (run_id,),
        )
        return [_run_info(r) for r in rows]

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

    # -- appending ---------------------------------------------------------------------

    def append(
        self,
        run_id: str,
        events: Sequence[Event],
        *,
        expected_seq: int,
        event_ids: Sequence[str] | None = None,
        blobs: Mapping[str, bytes] | None = None,
    ) -> AppendResult:
        """Append ``events`` atomically after ``expected_seq`` (the caller's last seen seq).

        Another writer having appended first raises ``ConcurrencyConflict``; re-sending a
        batch whose ``event_ids`` are already stored returns the original result.
        ``blobs`` (sha256 -> bytes) are stored in the same transaction.
        """
        if not events:
            raise ValueError("append needs at least one event")
        ids = list(event_ids) if event_ids is not None else _new_event_ids(len(events))
        if len(ids) != len(events):
            raise ValueError("event_ids must match events one to one")
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            try:
                result, tip = self._insert(cur, run_id, events, expected_seq, ids, blobs)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        except sqlite3.IntegrityError:
            return self._after_conflict(run_id, expected_seq, events, ids)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot append to run {run_id}: {e}", run_id=run_id) from e
        self._tips[run_id] = (result.last_seq, tip)
        return result

    def _insert(
        self,
        cur: sqlite3.Cursor,
        run_id: str,
        events: Sequence[Event],
        expected_seq: int,
        ids: Sequence[str],
        blobs: Mapping[str, bytes] | None,
        prev: str | None = None,
    ) -> tuple[AppendResult, str]:
        """Insert ``events`` after ``expected_seq``; ``prev`` is the hash they chain onto."""
        if prev is None:
            prev = self._hash_at(run_id, expected_seq)
        now = _now()
        encode = _codec.encode
        rows = []
        seq = expected_seq
        for ev, eid in zip(events, ids, strict=True):
            seq += 1
            type_name = event_type(ev)
            version = ev.SCHEMA_VERSION
            payload = encode(ev)
            actor = event_actor(ev)
            prev = chain_hash(
                prev, run_id, seq, ev.turn, type_name, version, actor, eid, now, payload
            )
            rows.append((run_id, seq, ev.turn, type_name, version, actor, eid, now, payload, prev))
        if blobs:
            cur.executemany(
                "INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?, ?)", blobs.items()
            )
        cur.executemany(_INSERT, rows)
        last_pos = cur.execute("SELECT last_insert_rowid()").fetchone()[0]
        cur.execute(_TIP, (run_id, seq, prev))
        result = AppendResult(
            run_id=run_id,
            first_seq=expected_seq + 1,
            last_seq=seq,
            first_position=last_pos - len(rows) + 1,
            last_position=last_pos,
        )
        return result, prev

    def _hash_at(self, run_id: str, seq: int) -> str:
        """The hash of the run's own event at ``seq`` (GENESIS before a root's seq 1).

        Only the run's own events qualify. A fork's inherited prefix is already followed
        by its ``RunForked``, so a caller expecting a seq inside it is stale; and since
        the fork has no own rows at those seqs, UNIQUE(run_id, seq) would not catch it:
        the append would land inside the prefix and fork the timeline silently.
        """
        tip = self._tips.get(run_id)
        if tip is not None and tip[0] == seq:
            return tip[1]
        if seq == 0:
            if self.run_info(run_id).parent_run_id is None:
                return GENESIS
        else:
            row = self._conn.execute(
                "SELECT hash FROM events WHERE run_id = ? AND seq = ?", (run_id, seq)
            ).fetchone()
            if row is not None:
                return str(row[0])
        raise ConcurrencyConflict(run_id, seq, self.last_seq(run_id))

    def _timeline_hash(self, run_id: str, seq: int) -> str:
        """The hash of the event at ``seq`` of the run's timeline, inherited or own."""
        for seg_run, lo, hi in self.segments(run_id):
            if lo < seq and (hi is None or seq <= hi):
                row = self._conn.execute(
                    "SELECT hash FROM events WHERE run_id = ? AND seq = ?", (seg_run, seq)
                ).fetchone()
                if row is not None:
                    return str(row[0])
        raise StoreError(f"run {run_id} has no event at seq {seq}", run_id=run_id)

    def _after_conflict(
        self, run_id: str, expected_seq: int, events: Sequence[Event], ids: Sequence[str]
    ) -> AppendResult:
        """Tell a retried batch (its original result is returned) from a real conflict.

        A retry is the same events under the same ids, stored in that order in this run;
        anything else that reuses stored ids is the caller's error, never a success.
        """
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            "SELECT event_id, run_id, seq, position, type, schema_version, payload "
            f"FROM events WHERE event_id IN ({marks}) ORDER BY seq",
            list(ids),
        ).fetchall()
        if not rows:
            raise ConcurrencyConflict(run_id, expected_seq, self.last_seq(run_id))
        first = rows[0][2]
        same_batch = (
            [r[0] for r in rows] == list(ids)
            and all(r[1] == run_id for r in rows)
            and [r[2] for r in rows] == list(range(first, first + len(ids)))
            and [_codec.decode(r[4], r[5], r[6]) for r in rows] == list(events)
        )
        if not same_batch:
            raise StoreError(
                f"run {run_id}: some of these event ids are already stored, "
                "but not as this batch of this run",
                hint="re-send exactly the batch that was appended, or use new event ids",
                run_id=run_id,
            )
        return AppendResult(
            run_id=run_id,
            first_seq=first,
            last_seq=rows[-1][2],
            first_position=rows[0][3],
            last_position=rows[-1][3],
        )

    # -- reading -----------------------------------------------------------------------

    def last_seq(self, run_id: str) -> int:
        """The last seq of the run's timeline (a fresh fork: its fork_seq)."""
        info = self.run_info(run_id)
        row = self._conn.execute(
            "SELECT max(seq) FROM events WHERE run_id = ?", (run_id,)
        ).fetchone()
        own = row[0]
        return int(own) if own is not None else (info.fork_seq or 0)

    def _segment_query(
        self, cols: str, run_id: str, to_turn: int | None, after_seq: int
    ) -> Iterator[tuple[Any, ...]]:
        for seg_run, lo, hi in self.segments(run_id):
            lo = max(lo, after_seq)
            if hi is not None and hi <= lo:
                continue
            sql = f"SELECT {cols} FROM events WHERE run_id = ? AND seq > ?"
            params: list[Any] = [seg_run, lo]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            if to_turn is not None:
                sql += " AND turn <= ?"
                params.append(to_turn)
            # not `yield from`: closing this generator would then close the cursor, which
            # raises once the store is closed (a half-read generator kept alive past
            # close(), e.g. by a traceback, would report "Exception ignored").
            for row in self._conn.execute(sql + " ORDER BY seq", params):  # noqa: UP028
                yield row

    def iter_events(
        self, run_id: str, *, to_turn: int | None = None, after_seq: int = 0
    ) -> Iterator[Recorded]:
        """The run's timeline (inherited events included) in seq order."""
        for r in self._segment_query(_COLS + ", payload", run_id, to_turn, after_seq):
            yield _recorded(r)

    def read(
        self, run_id: str, *, to_turn: int | None = None, after_seq: int = 0
    ) -> list[Recorded]:
        self.run_info(run_id)
        return list(self.iter_events(run_id, to_turn=to_turn, after_seq=after_seq))

    def read_events(
        self, run_id: str, *, to_turn: int | None = None, after_seq: int = 0
    ) -> list[Event]:
        """Only the decoded events of a timeline: the fast path for replay."""
        out: list[Event] = []
        for chunk in self.iter_event_chunks(run_id, to_turn=to_turn, after_seq=after_seq):
            out += chunk
        return out

    def iter_event_chunks(
        self, run_id: str, *, to_turn: int | None = None, after_seq: int = 0
    ) -> Iterator[list[Event]]:
        """A timeline's decoded events in seq order, a few thousand at a time (bulk read)."""
        self.run_info(run_id)
        ranges: list[_bulk.Range] = []
        for seg_run, lo, hi in self.segments(run_id):
            lo = max(lo, after_seq)
            if hi is None:
                row = self._conn.execute(
                    "SELECT max(seq) FROM events WHERE run_id = ?", (seg_run,)
                ).fetchone()
                hi = row[0] or 0
            ranges += [(seg_run, a, b) for a, b in _bulk.chunk_bounds(lo, hi)]
        # a thread pays off only when there is a next chunk to fetch while one decodes
        fetched = (
            _bulk.prefetched(self.path, ranges, to_turn)
            if len(ranges) > _PREFETCH_AFTER
            else (_bulk.fetch(self._conn, r, to_turn) for r in ranges)
        )
        for r, f in zip(ranges, fetched, strict=True):
            chunk = _bulk.decode_chunk(self._conn, r, to_turn, f)
            if chunk:
                yield chunk

    def iter_after(self, position: int, *, batch_size: int = 5000) -> Iterator[Recorded]:
        """Every run's own events after a global ``position``, in global order."""
        while True:
            rows = self._conn.execute(
                f"SELECT {_COLS}, payload FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (position, batch_size),
            ).fetchall()
            for r in rows:
                yield _recorded(r)
            if len(rows) < batch_size:
                return
            position = rows[-1][0]

    def max_position(self) -> int:
        row = self._conn.execute("SELECT max(position) FROM events").fetchone()
        return int(row[0] or 0)

    def completed_turns(self, run_id: str) -> list[int]:
        """The turns with a ``TurnCompleted`` in the run's timeline, ascending."""
        return [
            int(r[0]) for r in self._segment_query_where(run_id, "type = 'TurnCompleted'", "turn")
        ]

    def _segment_query_where(self, run_id: str, where: str, cols: str) -> Iterator[tuple[Any, ...]]:
        for seg_run, lo, hi in self.segments(run_id):
            sql = f"SELECT {cols} FROM events WHERE run_id = ? AND seq > ? AND {where}"
            params: list[Any] = [seg_run, lo]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            # not `yield from`: closing this generator would then close the cursor, which
            # raises once the store is closed (a half-read generator kept alive past
            # close(), e.g. by a traceback, would report "Exception ignored").
            for row in self._conn.execute(sql + " ORDER BY seq", params):  # noqa: UP028
                yield row

    # -- forks -------------------------------------------------------------------------

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
            f"run {run_id} {what} (last completed turn: "
            f"{last if last is not None else 'none, the setup is unfinished'})",
            hint=(
                f"fork at a completed turn (0 to {last})"
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
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(
                f"INSERT INTO runs ({_RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    child,
                    run_id,
                    fork_seq,
                    at_turn,
                    parent.root_run_id,
                    parent.depth + 1,
                    _now(),
                    batch_id,
                ),
            )
            result, tip = self._insert(
                cur, child, [event], fork_seq, _new_event_ids(1), None, prev=prev
            )
        except sqlite3.IntegrityError as e:
            cur.execute("ROLLBACK")
            raise UsageError(f"a run {child!r} already exists") from e
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        self._tips[child] = (result.last_seq, tip)
        return child

    # -- integrity ---------------------------------------------------------------------

    def verify(self, run_id: str) -> VerifyResult:
        """Recompute the hash chain of the run's whole timeline.

        Names the first event that was changed, removed, inserted or reordered.
        """
        prev = GENESIS
        count = 0
        last_position: dict[str, int] = {}
        own: tuple[int, int, str] | None = None  # (seq, position, hash) of the last own event
        cols = "position, run_id, seq, turn, type, schema_version, actor, event_id, recorded_at"
        rows = self._segment_query(cols + ", payload, hash", run_id, None, 0)
        for checked, r in enumerate(rows):
            position, run, seq, turn, type_name, version, actor, eid, at, payload, stored = r
            if isinstance(payload, str):  # SQL edits (replace(), ||) turn a BLOB into TEXT
                payload = payload.encode()
            reason = ""
            if seq != checked + 1:
                what = "missing" if seq > checked + 1 else "duplicated"
                reason = f"event seq {checked + 1} is {what} (found seq {seq} of run {run})"
            elif position <= last_position.get(run, 0):
                reason = "events are out of order (positions do not follow seq)"
            elif not isinstance(payload, bytes) or stored != chain_hash(
                prev, run, seq, turn, type_name, version, actor, eid, at, payload
            ):
                reason = f"event seq {seq} ({type_name}) was changed or moved"
            if reason:
                return VerifyResult(
                    run_id=run_id,
                    ok=False,
                    checked=checked,
                    first_bad_position=position,
                    first_bad_seq=seq,
                    reason=reason,
                )
            prev = stored
            last_position[run] = position
            count = checked + 1
            if run == run_id:
                own = (seq, position, stored)
        broken = self._tip_mismatch(run_id, own)
        if broken is not None:
            seq, position, reason = broken
            return VerifyResult(
                run_id=run_id,
                ok=False,
                checked=count,
                first_bad_position=position,
                first_bad_seq=seq,
                reason=reason,
            )
        return VerifyResult(run_id=run_id, ok=True, checked=count)

    def _tip_mismatch(
        self, run_id: str, own: tuple[int, int, str] | None
    ) -> tuple[int, int | None, str] | None:
        """(seq, position, why) when the run's last own event is not the one recorded.

        The chain proves each event follows the one before; only the tip written with
        each append shows that the chain still ends where the run's last append left it.
        """
        row = self._conn.execute(
            "SELECT seq, hash FROM run_tips WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            if own is None:
                return None
            return own[0], own[1], f"event seq {own[0]} was added outside scenario-lab"
        tip_seq, tip_hash = row
        last = own[0] if own is not None else (self.run_info(run_id).fork_seq or 0)
        if last < tip_seq:
            return (
                last + 1,
                None,
                f"events seq {last + 1}..{tip_seq} are missing from the end of the run",
            )
        assert own is not None  # last >= tip_seq >= 1 means the run has own events
        if last > tip_seq:
            return tip_seq + 1, None, f"events after seq {tip_seq} were added outside scenario-lab"
        if own[2] != tip_hash:
            return own[0], own[1], f"event seq {own[0]} was replaced (not the one appended)"
        return None

    # -- blobs -------------------------------------------------------------------------

    def put_blob(self, data: bytes | str) -> str:
        """Store large text once by content; returns its sha256."""
        from ._hashing import blob_hash

        raw = data.encode() if isinstance(data, str) else data
        sha = blob_hash(raw)
        self._conn.execute("INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?, ?)", (sha, raw))
        return sha

    def get_blob(self, sha256: str) -> bytes:
        row = self._conn.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            raise StoreError(f"blob {sha256} is not in the log")
        return bytes(row[0])

    # -- snapshots (a cache: safe to drop) ---------------------------------------------

    def put_snapshot(self, run_id: str, turn: int, seq: int, kind: str, data: bytes) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO snapshots (run_id, kind, turn, seq, data) VALUES (?, ?, ?, ?, ?)",
            (run_id, kind, turn, seq, data),
        )

    def get_snapshot(
        self, run_id: str, max_turn: int | None, kind: str
    ) -> tuple[int, int, bytes] | None:
        """The latest snapshot valid for the run's timeline at or before ``max_turn``."""
        for seg_run, _lo, hi in reversed(self.segments(run_id)):
            sql = "SELECT turn, seq, data FROM snapshots WHERE run_id = ? AND kind = ?"
            params: list[Any] = [seg_run, kind]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            if max_turn is not None:
                sql += " AND turn <= ?"
                params.append(max_turn)
            row = self._conn.execute(sql + " ORDER BY turn DESC LIMIT 1", params).fetchone()
            if row is not None:
                return int(row[0]), int(row[1]), bytes(row[2])
        return None

    def drop_snapshots(self, run_id: str | None = None) -> None:
        if run_id is None:
            self._conn.execute("DELETE FROM snapshots")
        else:
            self._conn.execute("DELETE FROM snapshots WHERE run_id = ?", (run_id,))

    # -- batches -----------------------------------------------------------------------

    def create_batch(
        self, name: str, config: bytes, config_sha256: str, *, batch_id: str | None = None
    ) -> str:
        batch_id = batch_id or new_id()
        self._conn.execute(
            "INSERT INTO batches (batch_id, name, config, config_sha256, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (batch_id, name, config, config_sha256, _now()),
        )
        return batch_id

    def batch(self, batch_id: str) -> dict[str, Any]:
        check_ref(batch_id, "batch")
        row = self._conn.execute(
            "SELECT batch_id, name, config, config_sha256, created_at FROM batches "
            "WHERE batch_id = ? OR batch_id LIKE ? ESCAPE '\\' ORDER BY batch_id = ? DESC LIMIT 2",
            (batch_id, _like_prefix(batch_id), batch_id),
        ).fetchall()
        if not row or (len(row) > 1 and row[0][0] != batch_id):
            raise UsageError(
                f"no batch {batch_id!r} in the log"
                if not row
                else f"batch id {batch_id!r} is ambiguous",
                hint="list batches with `scenario-lab batch list`",
            )
        b = row[0]
        return {
            "batch_id": b[0],
            "name": b[1],
            "config": bytes(b[2]),
            "config_sha256": b[3],
            "created_at": b[4],
        }

    def list_batches(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT batch_id, name, config_sha256, created_at FROM batches ORDER BY created_at DESC"
        )
        return [
            {"batch_id": r[0], "name": r[1], "config_sha256": r[2], "created_at": r[3]}
            for r in rows
        ]


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
            raise StoreError(f"cannot create the log {path}: {e}") from e
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.new")
    try:
        create_sqlite_schema(str(tmp))
        # another process may have created the log first: then use theirs
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except OSError as e:
        raise StoreError(f"cannot create the log {path}: {e}") from e
    except Exception as e:  # any driver failure is one user-facing message
        raise StoreError(f"cannot create the log {path}: {e}") from e
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _recorded(r: tuple[Any, ...]) -> Recorded:
    """A Recorded from a row of ``_COLS`` followed by the payload."""
    return Recorded(
        position=r[0],
        run_id=r[1],
        seq=r[2],
        turn=r[3],
        type=r[4],
        schema_version=r[5],
        actor=r[6],
        event_id=r[7],
        recorded_at=r[8],
        hash=r[9],
        event=_codec.decode(r[4], r[5], r[10]),
    )


def _run_info(row: tuple[Any, ...]) -> RunInfo:
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
