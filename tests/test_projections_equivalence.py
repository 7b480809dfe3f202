"""The rows DuckDB builds from payloads equal the rows the Python path builds.

A catch-up lets DuckDB build the rows of the frequent event types from their payload
JSON (``projections/_stretch.py``, ``_sql_rows.py``); ``project(sql_rows=False)``
builds every row in Python (``projections/_columns.py``), the reference. Hypothesis writes logs both ways must agree on:
played runs with human seats and failed decisions, forks of forks, events stored
under an older schema version, and payloads of every tabled type with drawn contents
(any text, floats, empty and missing optional fields), written as other writers could
have written them (keys in any order, unknown keys, whitespace, ASCII escapes,
integral floats as integers). Every table must hold the same rows.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import EVENT_TYPES, EventStore, ModelCall, StoreError
from eventstore._codec import encode
from projections import TABLES, project
from projections._sql_rows import SQL_TYPES
from tests.projection_logs import RunShape, continue_run, write_run
from tests.store_helpers import insert_raw, raw_connection, struct_strategy

SHAPE = RunShape(actors=("north", "south"), metrics=("tension",), words=4, fail_turns=(1,))
HUMAN = RunShape(actors=("north", "south"), human="south", words=3)
# every type with a table of its own, whichever path builds its rows
TABLED = [
    "DecisionMade",
    "DecisionFailed",
    "HumanDecisionSubmitted",
    "MessageSent",
    "WorldUpdated",
    "MetricRecorded",
    "CostIncurred",
    "CallFailed",
    "ValidationRecorded",
    "ExogenousEventTriggered",
]
INT32 = 2**31 - 1


def _clamped(value: Any) -> Any:
    """``value`` with every integer inside the tables' INTEGER range (bools kept)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return max(-INT32, min(INT32, value))
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # another writer may write 3.0 as 3
    if isinstance(value, list):
        return [_clamped(v) for v in value]
    if isinstance(value, dict):
        return {k: _clamped(v) for k, v in value.items()}
    return value


def _optional(cls: type[msgspec.Struct]) -> list[str]:
    return [
        f.name
        for f in msgspec.structs.fields(cls)
        if f.default is not msgspec.NODEFAULT or f.default_factory is not msgspec.NODEFAULT
    ]


@st.composite
def odd_payload(draw: st.DrawFn, type_name: str) -> bytes:
    """A valid payload of ``type_name``, written as some other writer might."""
    cls = EVENT_TYPES[type_name]
    event = draw(struct_strategy(cls))
    body: dict[str, Any] = _clamped(json.loads(encode(event)))
    # a field at its default may be left out: the reader must fill in the default
    for name in draw(st.lists(st.sampled_from(_optional(cls)), unique=True)):
        body.pop(name, None)
    if isinstance(body.get("call"), dict):
        for name in draw(st.lists(st.sampled_from(_optional(ModelCall)), unique=True)):
            body["call"].pop(name, None)
    keys = draw(st.permutations(sorted(body)))
    body = {k: body[k] for k in keys}
    if draw(st.booleans()):
        body["x_unknown"] = draw(st.sampled_from([1, "extra", [1, {"a": None}], None]))
    indent = draw(st.sampled_from([None, 1]))
    return json.dumps(body, ensure_ascii=draw(st.booleans()), indent=indent).encode()


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name: con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in TABLES
        }
    finally:
        con.close()


def _old_versions(store: EventStore, run: str) -> None:
    """Rows as scenario-lab wrote them before MessageSent and CostIncurred v2."""
    message = {
        "type": "MessageSent",
        "message_id": "old-m",
        "sender": "north",
        "to": "south",
        "channel": "bilateral",
        "visibility": "private",
        "content": "from an old log",
    }
    insert_raw(store, run, "MessageSent", 1, message, actor="north")
    cost = {"type": "CostIncurred", "model": "m/old", "purpose": "decision", "cost_usd": 0.5}
    insert_raw(store, run, "CostIncurred", 1, cost, actor="north")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sql_rows_equal_python_rows(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = EventStore.open(root / "log.db")
        try:
            write_run(store, "a", turns=2, seed=1, shape=SHAPE)
            write_run(store, "h", turns=1, seed=2, shape=HUMAN, finish="running")
            odd = data.draw(st.lists(st.sampled_from(TABLED), max_size=12))
            for i, type_name in enumerate(odd):
                payload = data.draw(odd_payload(type_name))
                insert_raw(store, "h", type_name, 1, payload, actor="south", turn=1 + i % 2)
            if data.draw(st.booleans()):
                _old_versions(store, "h")
            at = data.draw(st.integers(0, 1))
            fork = store.fork("h", at, new_run_id="f", changes={"seed": 3})
            continue_run(store, fork, range(at + 1, at + 2), seed=3, shape=SHAPE, tag="-f")
            twig = store.fork(fork, at + 1, new_run_id="t")
            continue_run(store, twig, range(at + 2, at + 3), seed=4, shape=SHAPE, tag="-t")
            chunk = data.draw(st.sampled_from([7, 64, 4096]))
            project(store, root / "sql.duckdb", chunk_events=chunk, sql_rows=True)
            project(store, root / "py.duckdb", chunk_events=chunk, sql_rows=False)
        finally:
            store.close()
        sql, python = _tables(root / "sql.duckdb"), _tables(root / "py.duckdb")
        for name in TABLES:
            assert sql[name] == python[name], name


def test_every_frequent_type_is_built_by_duckdb() -> None:
    """A column added to one of these tables must be added to ``_sql_rows`` too, or its
    type silently falls back to the slower Python path."""
    assert set(SQL_TYPES) == {
        "DecisionMade",
        "MessageSent",
        "WorldUpdated",
        "MetricRecorded",
        "CostIncurred",
        "ValidationRecorded",
    }


DAMAGED = {
    # valid JSON that msgspec refuses: DuckDB alone would have made '5' of it
    "a wrongly typed field": (
        "DecisionMade",
        b'{"type":"DecisionMade","actor":5,"request_id":"r"}',
        "cannot be decoded",
    ),
    "two values in one payload": (
        "CostIncurred",
        b'{"type":"CostIncurred","model":"m","purpose":"p"},'
        b'{"type":"CostIncurred","model":"m","purpose":"p"}',
        "cannot be decoded",
    ),
    "a required field missing": (
        "MetricRecorded",
        b'{"type":"MetricRecorded","value":1.0}',
        "cannot be decoded",
    ),
    "bytes that are not UTF-8": (
        "WorldUpdated",
        b'{"type":"WorldUpdated","narrative":"\xff\xfe"}',
        "cannot be decoded: Invalid UTF-8",
    ),
    # msgspec skips what no table reads: Arrow's check of the payload column catches it
    "bytes that are not UTF-8 where no table reads": (
        "DecisionMade",
        b'{"type":"DecisionMade","actor":"north","request_id":"r","x_note":"\xff\xfe"}',
        "not UTF-8",
    ),
}


@pytest.mark.parametrize("sql_rows", [True, False], ids=["sql", "python"])
@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_payload_is_named_and_nothing_is_committed(
    store: EventStore, tmp_path: Path, case: str, sql_rows: bool
) -> None:
    type_name, payload, message = DAMAGED[case]
    write_run(store, "a", turns=1, shape=SHAPE)
    duck = tmp_path / "a.duckdb"
    project(store, duck, sql_rows=sql_rows)
    write_run(store, "b", turns=1, shape=SHAPE)
    insert_raw(store, "b", type_name, 1, payload, actor="north")
    with pytest.raises(StoreError, match=message):
        project(store, duck, sql_rows=sql_rows)
    con = duckdb.connect(str(duck), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM events WHERE run_id = 'b'").fetchone() == (0,)
    finally:
        con.close()


def test_both_paths_read_a_payload_an_sql_edit_turned_into_text(
    store: EventStore, tmp_path: Path
) -> None:
    write_run(store, "a", turns=1, shape=SHAPE)
    with raw_connection(store.path) as conn:
        conn.execute("UPDATE events SET payload = CAST(payload AS TEXT) WHERE seq % 3 = 0")
    project(store, tmp_path / "sql.duckdb", sql_rows=True)
    project(store, tmp_path / "py.duckdb", sql_rows=False)
    assert _tables(tmp_path / "sql.duckdb") == _tables(tmp_path / "py.duckdb")
    con = duckdb.connect(str(tmp_path / "sql.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM decisions").fetchone() != (0,)
    finally:
        con.close()


def test_a_log_of_current_versions_is_checked_in_one_call_per_stretch(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-type path (``_columns.build``) is only for older versions and damage: a
    log this version wrote, forks and human seats included, never takes it, and gives
    the reference path's tables."""
    write_run(store, "a", turns=2, shape=SHAPE)
    write_run(store, "h", turns=2, shape=HUMAN)
    continue_run(store, store.fork("a", 1, new_run_id="f"), range(2, 3), shape=SHAPE, tag="-f")

    def refuse(*args: Any) -> None:
        raise AssertionError("a stretch of current versions took the per-type path")

    with monkeypatch.context() as m:
        m.setattr("projections._stretch.build", refuse)
        project(store, tmp_path / "fast.duckdb", chunk_events=7)
    project(store, tmp_path / "py.duckdb", chunk_events=7, sql_rows=False)
    assert _tables(tmp_path / "fast.duckdb") == _tables(tmp_path / "py.duckdb")
