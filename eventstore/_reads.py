"""Reading the log: a run's timeline along its fork lineage, and every run's events
in global order.

A timeline is read segment by segment (``Runs.segments``): the root's events up to the
first fork point, then each descendant's own events, so a fork copies nothing. The bulk
paths (``iter_event_chunks``, ``iter_raw``) hand over thousands of events per call for
replay and the projections; ``_bulk.py`` explains the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _bulk, _codec
from ._events import Event
from ._records import RawEvent, Recorded
from ._runs import Runs

if TYPE_CHECKING:  # pyarrow is imported by the reader only: not on every command's start
    import pyarrow as pa

EVENT_COLS = "position, run_id, seq, turn, type, schema_version, actor, event_id, recorded_at, hash"
# the columns of a RawEvent, in its order
_RAW_COLS = (
    "position, run_id, seq, turn, type, schema_version, actor, event_id, recorded_at, payload"
)

# Chunks of a timeline beyond which a bulk read fetches the next while decoding one.
_PREFETCH_AFTER = 2


def recorded(r: tuple[Any, ...]) -> Recorded:
    """A Recorded from a row of ``EVENT_COLS`` followed by the payload."""
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


class Reads(Runs):
    """Timelines in seq order, the whole log in position order."""

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
        for r in self._segment_query(EVENT_COLS + ", payload", run_id, to_turn, after_seq):
            yield recorded(r)

    def read(
        self, run_id: str, *, to_turn: int | None = None, after_seq: int = 0
    ) -> list[Recorded]:
        """The run's timeline as a list; ``RunNotFound`` when there is no such run."""
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
            if len(ranges) > _PREFETCH_AFTER and isinstance(self.path, Path)
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
                f"SELECT {EVENT_COLS}, payload FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (position, batch_size),
            ).fetchall()
            for r in rows:
                yield recorded(r)
            if len(rows) < batch_size:
                return
            position = rows[-1][0]

    def iter_raw(self, after: int, *, chunk: int) -> Iterator[list[RawEvent]]:
        """Every run's own events after global position ``after``, as stored, in
        position order, ``chunk`` rows a list (the last one may be shorter).

        The payloads stay undecoded, under their row's ``schema_version``: a bulk reader
        (the projections) decodes many of one type in one call, and hands anything
        under an older version to ``decode``, which upgrades it.
        """
        while True:
            rows = self._raw_rows(after, chunk)
            if not rows:
                return
            yield rows
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def _raw_rows(self, after: int, chunk: int) -> list[RawEvent]:
        rows: list[RawEvent] = self._conn.execute(
            f"SELECT {_RAW_COLS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (after, chunk),
        ).fetchall()
        return rows

    def iter_raw_arrow(self, after: int, *, chunk: int) -> Iterator[pa.Table]:
        """``iter_raw``'s stretches as Arrow tables of its ten columns
        (``_raw_arrow.RAW_SCHEMA``; payloads as binary), read without a Python object
        per value where the driver allows (``_raw_arrow``)."""
        from . import _raw_arrow

        return _raw_arrow.iter_arrow(self.path, self._raw_rows, after, chunk)

    def event_id_at(self, position: int) -> str | None:
        """The id of the event at global ``position``; None when there is none."""
        row = self._conn.execute(
            "SELECT event_id FROM events WHERE position = ?", (position,)
        ).fetchone()
        return None if row is None else str(row[0])

    def max_position(self) -> int:
        """The global position of the newest event (0 for an empty log)."""
        row = self._conn.execute("SELECT max(position) FROM events").fetchone()
        return int(row[0] or 0)

    def completed_turns(self, run_id: str) -> list[int]:
        """The turns with a ``TurnCompleted`` in the run's timeline, ascending."""
        return [
            int(r[0]) for r in self._segment_query_where(run_id, "type = 'TurnCompleted'", "turn")
        ]

    def _segment_query_where(
        self, run_id: str, where: str, cols: str, *, ordered: bool = True
    ) -> Iterator[tuple[Any, ...]]:
        """``cols`` of the timeline's events matching ``where``, per segment, in seq order
        (``ordered``; an aggregate in ``cols`` needs False: PostgreSQL refuses ORDER BY
        of a column outside it)."""
        for seg_run, lo, hi in self.segments(run_id):
            sql = f"SELECT {cols} FROM events WHERE run_id = ? AND seq > ? AND {where}"
            params: list[Any] = [seg_run, lo]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            # not `yield from`: closing this generator would then close the cursor, which
            # raises once the store is closed (a half-read generator kept alive past
            # close(), e.g. by a traceback, would report "Exception ignored").
            for row in self._conn.execute(sql + (" ORDER BY seq" if ordered else ""), params):  # noqa: UP028
                yield row
