"""Helpers of the event-store tests: a small valid run, event strategies, raw rows.

``build_run`` writes what the engine writes (turn 0 setup, then turns of five events),
so seqs are predictable: turn t >= 1 ends at seq ``turn_end_seq(t)``.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, cast

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from eventstore import (
    ConcurrencyConflict,
    DecisionMade,
    Event,
    EventStore,
    MessageSent,
    MetricRecorded,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
)
from eventstore._hashing import GENESIS, chain_hash

SETUP_EVENTS = 3  # RunStarted, one MetricRecorded, TurnCompleted(0)
TURN_EVENTS = 5


def setup_events(seed: int = 7) -> list[Event]:
    return [
        RunStarted(
            turn=0,
            scenario_name="test",
            scenario={"actors": ["north", "south"]},
            scenario_sha256="0" * 64,
            seed=seed,
            settings=RunSettings(turns=10),
            tool_version="test",
        ),
        MetricRecorded(turn=0, name="tension", value=0.5, method="rules"),
        TurnCompleted(turn=0),
    ]


def turn_events(turn: int, *, complete: bool = True, tag: str = "") -> list[Event]:
    """One played turn; ``tag`` makes the contents of different branches differ."""
    events: list[Event] = [
        TurnStarted(turn=turn),
        MessageSent(
            turn=turn,
            message_id=f"m{turn}{tag}",
            sender="north",
            recipients=("south",),
            channel="bilateral",
            visibility="private",
            content=f"turn {turn}{tag}",
        ),
        DecisionMade(turn=turn, actor="south", request_id=f"r{turn}{tag}", action=f"act{tag}"),
        MetricRecorded(turn=turn, name="tension", value=turn / 10, method="rules"),
    ]
    if complete:
        events.append(TurnCompleted(turn=turn))
    return events


def turn_end_seq(turn: int) -> int:
    """The seq of ``TurnCompleted(turn)`` in a run made by ``build_run``."""
    return SETUP_EVENTS + TURN_EVENTS * turn


def build_run(
    store: EventStore, turns: int = 3, *, run_id: str | None = None, unfinished: bool = False
) -> str:
    """A root run with its setup and ``turns`` completed turns; ``unfinished`` adds a
    started but not completed next turn."""
    run = store.create_run(run_id, events=setup_events())
    play_turns(store, run, range(1, turns + 1))
    if unfinished:
        store.append(run, turn_events(turns + 1, complete=False), expected_seq=store.last_seq(run))
    return run


def play_turns(store: EventStore, run_id: str, turns: range, *, tag: str = "") -> None:
    for t in turns:
        store.append(run_id, turn_events(t, tag=tag), expected_seq=store.last_seq(run_id))


def raw_connection(path: str | Path) -> closing[sqlite3.Connection]:
    """A second, plain connection to a log (autocommit), closed on exit: sqlite3, or on
    a PostgreSQL log the store's own mapping of the same SQL (``eventstore._pg``)."""
    if isinstance(path, str) and path.startswith("postgresql://"):
        from eventstore._pgschema import open_pg

        return closing(cast(sqlite3.Connection, open_pg(path, create=False)))
    return closing(sqlite3.connect(path, isolation_level=None))


def event_rows(path: str | Path, run_id: str) -> list[tuple[Any, ...]]:
    """(position, seq, event_id, hash) of a run's own rows, in seq order."""
    with raw_connection(path) as conn:
        return conn.execute(
            "SELECT position, seq, event_id, hash FROM events WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()


def count_events(path: str | Path) -> int:
    with raw_connection(path) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


# -- hypothesis strategies for every event type ------------------------------------------

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INT64 | FLOATS | st.text(),
    # lists, not tuples: JSON has one array type and `Any` decodes it as a list
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def _strategy(t: mi.Type) -> st.SearchStrategy[Any]:
    """A strategy for values of one msgspec type, as the JSON codec can round-trip them."""
    if isinstance(t, mi.IntType):
        return INT64  # the log is SQLite/JSON: 64-bit integers
    if isinstance(t, mi.FloatType):
        return FLOATS
    if isinstance(t, mi.StrType):
        return st.text()
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.AnyType):
        return JSON_VALUES
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.UnionType):
        return st.one_of(*(_strategy(x) for x in t.types))
    if isinstance(t, mi.DictType):
        return st.dictionaries(_strategy(t.key_type), _strategy(t.value_type), max_size=3)
    if isinstance(t, mi.VarTupleType):
        return st.lists(_strategy(t.item_type), max_size=3).map(tuple)
    if isinstance(t, mi.ListType):
        return st.lists(_strategy(t.item_type), max_size=3)
    if isinstance(t, mi.StructType):
        return struct_strategy(t.cls)
    raise NotImplementedError(f"no strategy for {t!r}: extend tests/store_helpers.py")


def struct_strategy(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` with every field drawn, optional ones included.

    Built from msgspec's own type info rather than ``st.from_type`` so that a field
    added to the catalogue is covered without touching the tests.
    """
    fields = {f.name: _strategy(f.type) for f in mi.type_info(cls).fields}  # type: ignore[attr-defined]
    return st.builds(cls, **fields)


# -- a writer process of the concurrency tests (module level: spawn imports it) ----------


def writer_events(writer: int, batch: int, size: int) -> tuple[list[Event], list[str]]:
    events: list[Event] = [
        MetricRecorded(turn=batch, name=f"w{writer}", value=float(k)) for k in range(size)
    ]
    ids = [f"w{writer}-b{batch}-e{k}" for k in range(size)]
    return events, ids


def contending_writer(
    db_path: str,
    run_id: str,
    writer: int,
    batches: int,
    size: int,
    barrier: Any,
    results: Any,
) -> None:
    """Append ``batches`` batches, re-reading and retrying on every conflict.

    With a ``barrier``, every round starts with all writers having read the same last
    seq, so exactly one wins the first attempt and each other one must conflict.
    """
    store = EventStore.open(db_path, create=False)
    first_try_conflicts = retry_conflicts = 0
    try:
        for b in range(batches):
            if barrier is not None:
                barrier.wait(timeout=60)  # all writers finished the previous round
            expected = store.last_seq(run_id)
            if barrier is not None:
                barrier.wait(timeout=60)  # all writers read the same last seq
            events, ids = writer_events(writer, b, size)
            attempt = 0
            while True:
                try:
                    store.append(run_id, events, expected_seq=expected, event_ids=ids)
                    break
                except ConcurrencyConflict as e:
                    if attempt == 0:
                        first_try_conflicts += 1
                    else:
                        retry_conflicts += 1
                    attempt += 1
                    assert e.expected_seq == expected
                    expected = store.last_seq(run_id)
    finally:
        store.close()
    results.put((writer, first_try_conflicts, retry_conflicts))


def insert_raw(
    store: EventStore,
    run_id: str,
    type_name: str,
    schema_version: int,
    payload: dict[str, object] | bytes,
    *,
    actor: str | None = None,
    turn: int = 1,
) -> None:
    """Write one row as an older (or foreign) scenario-lab would have, chain intact."""
    with raw_connection(store.path) as conn:
        seq, prev = conn.execute(
            "SELECT coalesce(max(seq), 0), (SELECT hash FROM events WHERE run_id = ?1 "
            "ORDER BY seq DESC LIMIT 1) FROM events WHERE run_id = ?1",
            (run_id,),
        ).fetchone()
        seq += 1
        # a run's first event chains over its sealed metadata (eventstore/_seals.py)
        prev = prev or store._seeded(run_id, GENESIS)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        eid, at = f"raw-{run_id}-{seq}", "2024-01-01T00:00:00.000000+00:00"
        digest = chain_hash(
            prev, run_id, seq, turn, type_name, schema_version, actor, eid, at, body
        )
        conn.execute(
            "INSERT INTO events (run_id, seq, turn, type, schema_version, actor, event_id, "
            "recorded_at, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, seq, turn, type_name, schema_version, actor, eid, at, body, digest),
        )
        conn.execute(
            "INSERT OR REPLACE INTO run_tips (run_id, seq, hash) VALUES (?, ?, ?)",
            (run_id, seq, digest),
        )
