"""Integrity: recompute a run's hash chain, check what the chain does not hold itself
(its end, its metadata, its blobs), and remember how far it was verified.

The chain shows that each event follows the one before it, unchanged; the tip (written
with each append) shows that the chain still ends where the last append left it, which
catches events cut from, or forged onto, the end of a run. Each run's metadata is sealed
(``_seals.py``); each blob an event names must be in the log and still hash to its name.

``run_verified`` keeps, per run, the last own event a verification passed. A verified
event that is later gone or different means the run was rolled back or rewritten (even
with its tip rolled back too), and ``verify(..., incremental=True)`` (the check before
a read) verifies only what came after it: a few small queries when nothing is new.
That cheap check does not re-read the verified part; a full ``verify`` does, and an
exported anchor (``_anchors.py``) covers a log whose every table was rewritten.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterable, Iterator

from . import _codec
from ._blobrefs import BLOB_FIELDS, BLOB_PATHS, blob_refs
from ._hashing import GENESIS, blob_hash, chain_hash
from ._reads import Reads
from ._records import VerifyResult
from ._seals import Seals

# (seq, position, hash) of one own event of a run
Mark = tuple[int, int, str]
# (seq, position, why) of the first problem found
Problem = tuple[int | None, int | None, str]

_ROWS = (
    "SELECT position, seq, turn, type, schema_version, actor, event_id, recorded_at, "
    "payload, hash FROM events WHERE run_id = ? AND seq > ?"
)
_SAVE = (
    "INSERT INTO run_verified (run_id, seq, position, hash) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (run_id) DO UPDATE SET seq = excluded.seq, position = excluded.position, "
    "hash = excluded.hash WHERE excluded.seq > run_verified.seq"
)
# Per run: its verified mark, its tip, its last own seq and the event now at the mark.
# Each subquery is one index lookup, so this costs O(runs), not O(events).
_STATE = (
    "SELECT r.run_id, v.seq, v.position, v.hash, t.seq, t.hash, "
    "(SELECT max(seq) FROM events e WHERE e.run_id = r.run_id), "
    "(SELECT position FROM events e WHERE e.run_id = r.run_id AND e.seq = v.seq), "
    "(SELECT hash FROM events e WHERE e.run_id = r.run_id AND e.seq = v.seq) "
    "FROM runs r LEFT JOIN run_verified v ON v.run_id = r.run_id "
    "LEFT JOIN run_tips t ON t.run_id = r.run_id"
)
_IDS_PER_QUERY = 500
# Most events of a type that can name a blob do not (a rule brain's decision, a cost of
# an older version): a substring test in C spares decoding those.
_NAMES_BLOB = re.compile(rb'"(?:' + b"|".join(f.encode() for f in sorted(BLOB_FIELDS)) + rb')":"')


class Integrity(Reads, Seals):
    """``verify``: names the first event, blob or metadata that was changed, removed,
    added or moved, and the events lost to a rollback."""

    def verify(self, run_id: str, *, incremental: bool = False) -> VerifyResult:
        """Verify the run's whole timeline (inherited events included).

        ``incremental``: start after the last event each run of the lineage was verified
        up to, having checked that that event is still there unchanged (``checked`` then
        counts only the new events).
        """
        with self._snapshot():
            result, reached = self._verify(run_id, incremental)
        if result.ok:
            self._save_marks(reached)
        return result

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction: a writer appending meanwhile (a run being played) must
        not make the events read first and the tip read last disagree."""
        if self._conn.in_transaction:  # a caller's transaction is snapshot enough
            yield
            return
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def _verify(self, run_id: str, incremental: bool) -> tuple[VerifyResult, dict[str, Mark]]:
        # lineage is cached as written once; here it is what is being checked, so read
        # it again (a runs row edited since this store first read it must show)
        self._lineage_cache.pop(run_id, None)
        for info in self.lineage(run_id):
            changed = self.meta_problem(info)
            if changed is not None:
                return _broken(run_id, 0, (None, None, changed)), {}
        checked = 0
        prev = GENESIS
        reached: dict[str, Mark] = {}  # per run: the last own event verified here
        refs: dict[str, tuple[int, int, str]] = {}  # blob -> first (seq, position, type)
        late: list[Problem] = []  # rollbacks: reported after the tip, which says more
        own: Mark | None = None
        for seg_run, lo, hi in self.segments(run_id):
            prev = self._seeded(seg_run, prev)
            mark = self._mark(seg_run)
            start, last_pos = lo, 0
            if mark is not None and incremental and mark[0] > lo:
                problem = self._mark_problem(seg_run, mark)
                if problem is not None:
                    return _broken(run_id, checked, problem), {}
                if hi is not None and hi <= mark[0]:
                    prev = self._own_hash(seg_run, hi)
                    continue
                start, last_pos, prev = mark
                if seg_run == run_id:
                    own = mark
            sql, params = _ROWS, [seg_run, start]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            expected, seen_mark = start, None
            for row in self._conn.execute(sql + " ORDER BY seq", params):
                position, seq, turn, type_name, version, actor, eid, at, payload, stored = row
                if isinstance(payload, str):  # SQL edits (replace(), ||) turn a BLOB into TEXT
                    payload = payload.encode()
                expected += 1
                reason = ""
                if seq != expected:
                    what = "missing" if seq > expected else "duplicated"
                    reason = f"event seq {expected} is {what} (found seq {seq} of run {seg_run})"
                elif position <= last_pos:
                    reason = "events are out of order (positions do not follow seq)"
                elif not isinstance(payload, bytes) or stored != chain_hash(
                    prev, seg_run, seq, turn, type_name, version, actor, eid, at, payload
                ):
                    reason = f"event seq {seq} ({type_name}) was changed or moved"
                elif type_name in BLOB_PATHS and _NAMES_BLOB.search(payload):
                    try:
                        event = _codec.decode(type_name, version, payload)
                    except Exception as e:  # any decoder failure names the event
                        reason = f"event seq {seq} ({type_name}) cannot be read: {e}"
                    else:
                        for sha in blob_refs(event):
                            refs.setdefault(sha, (seq, position, type_name))
                if reason:
                    return _broken(run_id, checked, (seq, position, reason)), {}
                if mark is not None and seq == mark[0]:
                    seen_mark = (seq, position, stored)
                prev, last_pos = stored, position
                checked += 1
            if hi is not None and expected < hi:
                problem = (expected + 1, None, f"event seq {expected + 1} is missing")
                return _broken(run_id, checked, problem), {}
            if expected > start:
                reached[seg_run] = (expected, last_pos, prev)
                if seg_run == run_id:
                    own = reached[seg_run]
            in_timeline = mark is not None and (hi is None or mark[0] <= hi)
            if mark is not None and in_timeline and seen_mark != mark and start < mark[0]:
                late.append(self._mark_problem(seg_run, mark) or _rewritten(mark))
        problem = self._tip_mismatch(run_id, own)
        if problem is None and late:
            problem = late[0]
        if problem is None:
            problem = self._blob_problem(refs)
        if problem is not None:
            return _broken(run_id, checked, problem), {}
        return VerifyResult(run_id=run_id, ok=True, checked=checked), reached

    def verify_changed(self) -> list[VerifyResult]:
        """Verify, incrementally, every run with anything new or different since it was
        last verified (never verified, events after its mark, a changed mark, tip or
        metadata); the results of those runs, in run id order.

        What the commands that read the whole log run first: one query over the runs
        when nothing changed.
        """
        stale = set()
        for row in self._conn.execute(_STATE).fetchall():
            run, mseq, mpos, mhash, tseq, thash, last, epos, ehash = row
            if mseq is None and tseq is None and last is None:
                continue  # no events at all: only its metadata to check, below
            if not (mseq == tseq == last and mhash == thash == ehash and mpos == epos):
                stale.add(run)
        stale.update(self.meta_problems())
        return [self.verify(run, incremental=True) for run in sorted(stale)]

    def _mark(self, run_id: str) -> Mark | None:
        row = self._conn.execute(
            "SELECT seq, position, hash FROM run_verified WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), str(row[2]))

    def _mark_problem(self, run_id: str, mark: Mark) -> Problem | None:
        """Why the event a verification passed is no longer what it was; None if it is."""
        seq, position, digest = mark
        row = self._conn.execute(
            "SELECT position, hash FROM events WHERE run_id = ? AND seq = ?", (run_id, seq)
        ).fetchone()
        if row is None:
            return (
                seq,
                position,
                f"event seq {seq} of run {run_id}, verified before, is gone: "
                "the run was rolled back past it",
            )
        if (row[0], row[1]) != (position, digest):
            return _rewritten(mark, run_id)
        return None

    def _own_hash(self, run_id: str, seq: int) -> str:
        row = self._conn.execute(
            "SELECT hash FROM events WHERE run_id = ? AND seq = ?", (run_id, seq)
        ).fetchone()
        return "" if row is None else str(row[0])  # "" fails the next link

    def _save_marks(self, reached: dict[str, Mark]) -> None:
        """Remember how far each run was verified; a log opened read-only (or held by
        a long write) keeps its old marks, which only costs the next check time."""
        if not reached:
            return
        rows = [(run, *mark) for run, mark in reached.items()]
        with contextlib.suppress(sqlite3.OperationalError):
            self._conn.executemany(_SAVE, rows)

    def _blob_problem(self, refs: dict[str, tuple[int, int, str]]) -> Problem | None:
        """The first (by seq) blob an event names that is missing or not what was stored."""
        found: dict[str, bytes] = {}
        # a name with a NUL is no stored blob's (PostgreSQL refuses it as a parameter)
        shas = [sha for sha in refs if "\x00" not in sha]
        for i in range(0, len(shas), _IDS_PER_QUERY):
            part = shas[i : i + _IDS_PER_QUERY]
            marks = ",".join("?" * len(part))
            for sha, data in self._conn.execute(
                f"SELECT sha256, data FROM blobs WHERE sha256 IN ({marks})", part
            ):
                found[sha] = data.encode() if isinstance(data, str) else bytes(data or b"")
        for sha, (seq, position, type_name) in sorted(refs.items(), key=lambda kv: kv[1]):
            data = found.get(sha)
            if data is None:
                why = f"blob {sha[:12]} named by event seq {seq} ({type_name}) is missing"
                return seq, position, why
            if blob_hash(data) != sha:
                why = (
                    f"blob {sha[:12]} named by event seq {seq} ({type_name}) was changed "
                    "(its content no longer has that hash)"
                )
                return seq, position, why
        return None

    def _tip_mismatch(self, run_id: str, own: Mark | None) -> Problem | None:
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

    def forget_verified(self, run_ids: Iterable[str] | None = None) -> None:
        """Drop the verified marks (of ``run_ids``, or all): the next check re-reads all."""
        if run_ids is None:
            self._conn.execute("DELETE FROM run_verified")
            return
        self._conn.executemany("DELETE FROM run_verified WHERE run_id = ?", [(r,) for r in run_ids])


def _rewritten(mark: Mark, run_id: str | None = None) -> Problem:
    seq, position, _ = mark
    whose = f" of run {run_id}" if run_id else ""
    return seq, position, f"event seq {seq}{whose} was rewritten after it was verified"


def _broken(run_id: str, checked: int, problem: Problem) -> VerifyResult:
    seq, position, reason = problem
    return VerifyResult(
        run_id=run_id,
        ok=False,
        checked=checked,
        first_bad_position=position,
        first_bad_seq=seq,
        reason=reason,
    )
