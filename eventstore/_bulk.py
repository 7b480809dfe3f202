"""Reading a timeline's events in bulk: one SQL row and one decoder call per chunk.

Fetching each payload as its own row and decoding it with its own decoder call costs
~4 µs an event here: a Python tuple per row and a call per event. Here SQLite joins a
chunk's payloads into one JSON array in C (``group_concat``) and one msgspec call
decodes the whole array into events, which roughly halves the cost of every replay.

A chunk that holds an event stored under an older schema version (which needs its
upcasters) or that the array decoder rejects is read again row by row through
``_codec.decode``, so old logs stay readable and a damaged payload is named exactly.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from . import _codec
from ._collector import collector_paused
from ._events import EVENT_TYPES, AnyEvent, Event

# Seqs per chunk: big enough that the per-query cost vanishes, small enough that the
# joined text of a chunk (~300 bytes an event) stays a few MB.
CHUNK_SEQS = 8192

_array_decoder = msgspec.json.Decoder(list[AnyEvent])

# Rows stored under another version than their type's current one. Only types that have
# ever changed need a test; a row of an unknown type fails the array decode (its tag is
# unknown) and the row-by-row read then names it.
_STALE = (
    " OR ".join(
        f"(type = '{name}' AND schema_version <> {cls.SCHEMA_VERSION})"
        for name, cls in EVENT_TYPES.items()
        if cls.SCHEMA_VERSION != 1  # type names are our own identifiers: safe to inline
    )
    or "0"
)

_BULK = (
    "SELECT count(*), coalesce(sum({stale}), 0), "
    "CAST('[' || group_concat(payload, ',') || ']' AS BLOB) "
    # ORDER BY in the subquery: SQLite feeds an aggregate in its subquery's order
    "FROM (SELECT type, schema_version, payload FROM events "
    "WHERE run_id = ? AND seq > ? AND seq <= ?{turn} ORDER BY seq)"
)
# The same on PostgreSQL: its aggregate takes the order itself, and a condition is not a
# number there
_PG_BULK = (
    "SELECT count(*), coalesce(sum(CASE WHEN {stale} THEN 1 ELSE 0 END), 0)::int, "
    "'['::bytea || string_agg(payload, ','::bytea ORDER BY seq) || ']'::bytea "
    "FROM events WHERE run_id = ? AND seq > ? AND seq <= ?{turn}"
)
_ROWS = (
    "SELECT type, schema_version, payload FROM events "
    "WHERE run_id = ? AND seq > ? AND seq <= ?{turn} ORDER BY seq"
)


def _sql(template: str, to_turn: int | None) -> str:
    return template.format(stale=_STALE, turn=" AND turn <= ?" if to_turn is not None else "")


# A chunk to read: (run_id, lo, hi) for the events with lo < seq <= hi.
Range = tuple[str, int, int]
# What SQLite returns for a chunk: (count, rows under an older version, JSON array).
Fetched = tuple[int, int, bytes | None]


def _params(r: Range, to_turn: int | None) -> list[Any]:
    return [*r] if to_turn is None else [*r, to_turn]


def fetch(conn: sqlite3.Connection, r: Range, to_turn: int | None) -> Fetched:
    template = _BULK if isinstance(conn, sqlite3.Connection) else _PG_BULK
    row: Fetched = conn.execute(_sql(template, to_turn), _params(r, to_turn)).fetchone()
    return row


def decode_chunk(
    conn: sqlite3.Connection, r: Range, to_turn: int | None, fetched: Fetched
) -> list[Event]:
    """The events of a fetched chunk, read again row by row when the bulk path cannot."""
    count, stale, payload = fetched
    if not count:
        return []
    if not stale:
        try:
            # thousands of new objects at once: the collector would walk them repeatedly
            with collector_paused():
                events: list[Any] = _array_decoder.decode(payload)  # type: ignore[arg-type]
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass  # read row by row below: that names the damaged event
        else:
            # a payload holding two JSON values separated by a comma would shift every
            # later event by one; the count catches it
            if len(events) == count:
                return events
    decode = _codec.decode
    return [decode(t, v, p) for t, v, p in conn.execute(_sql(_ROWS, to_turn), _params(r, to_turn))]


def chunk_bounds(lo: int, hi: int, size: int | None = None) -> Iterator[tuple[int, int]]:
    """``(lo, hi]`` cut into consecutive ranges of at most ``size`` (CHUNK_SEQS) seqs."""
    size = size or CHUNK_SEQS
    while lo < hi:
        top = min(lo + size, hi)
        yield lo, top
        lo = top


def prefetched(path: Path, ranges: list[Range], to_turn: int | None) -> Iterator[Fetched]:
    """``fetch`` of each range in order, done one chunk ahead by a thread.

    SQLite releases the GIL while it joins a chunk's payloads, so on a second core it
    builds the next chunk while the caller decodes and folds this one. The thread has
    its own connection (one connection serves one thread at a time) and stops when the
    caller stops early.
    """
    out: queue.Queue[Fetched | BaseException] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def offer(item: Fetched | BaseException) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            conn = sqlite3.connect(path, check_same_thread=False)
            try:
                for r in ranges:
                    if not offer(fetch(conn, r, to_turn)):
                        return
            finally:
                conn.close()
        except BaseException as e:  # handed to the caller, raised in its thread
            offer(e)

    worker = threading.Thread(target=work, name="scenario-lab-prefetch", daemon=True)
    worker.start()
    try:
        for _ in ranges:
            item = out.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
