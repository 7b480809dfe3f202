"""The log read into Arrow for a catch-up (``EventStore.iter_raw_arrow``) is the log as
``iter_raw`` reads it, through the ADBC driver, through the stdlib fallback (no driver,
or a PostgreSQL log) alike; a value of the wrong kind is a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventstore import EventStore, StoreError, _raw_arrow
from projections import project
from tests.projection_logs import RunShape, continue_run, write_run
from tests.store_helpers import raw_connection

pytestmark = pytest.mark.backends

SHAPE = RunShape(actors=("north", "south"), metrics=("tension",), words=3)


def _log(store: EventStore) -> None:
    write_run(store, "a", turns=2, shape=SHAPE)
    continue_run(store, store.fork("a", 1, new_run_id="f"), range(2, 3), shape=SHAPE, tag="-f")


def _tuples(store: EventStore, chunk: int, after: int = 0) -> list[list[tuple[Any, ...]]]:
    out = []
    for table in store.iter_raw_arrow(after, chunk=chunk):
        assert table.schema == _raw_arrow.RAW_SCHEMA
        out.append([tuple(row.values()) for row in table.to_pylist()])
    return out


def _stored(store: EventStore, chunk: int, after: int = 0) -> list[list[tuple[Any, ...]]]:
    return [
        [(*r[:9], r[9].encode() if isinstance(r[9], str) else bytes(r[9])) for r in rows]
        for rows in store.iter_raw(after, chunk=chunk)
    ]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_arrow_stretches_are_the_stored_rows(
    store: EventStore, chunk: int, backend: str
) -> None:
    _log(store)
    if backend == "sqlite":  # an SQL edit may leave a payload as TEXT: read as its bytes
        with raw_connection(store.path) as conn:
            conn.execute("UPDATE events SET payload = CAST(payload AS TEXT) WHERE seq % 3 = 0")
    assert _tuples(store, chunk) == _stored(store, chunk)
    assert _tuples(store, chunk, after=5) == _stored(store, chunk, after=5)
    assert _tuples(store, chunk, after=store.max_position()) == []


def test_without_the_driver_the_stdlib_rows_give_the_same_tables(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(store)
    expected = _tuples(store, 7)
    project(store, tmp_path / "adbc.duckdb")
    monkeypatch.setattr(_raw_arrow, "_adbc", lambda: None)
    assert _tuples(store, 7) == expected
    project(store, tmp_path / "stdlib.duckdb")
    from tests.test_projections_equivalence import _tables

    assert _tables(tmp_path / "adbc.duckdb") == _tables(tmp_path / "stdlib.duckdb")


def test_a_value_of_the_wrong_kind_is_named_not_a_traceback(tmp_path: Path) -> None:
    # SQLite only: PostgreSQL's typed columns refuse such an edit in the first place
    with EventStore.open(tmp_path / "log.db") as store:
        _log(store)
        with raw_connection(store.path) as conn:
            conn.execute("UPDATE events SET turn = 'two' WHERE run_id = 'a' AND seq = 5")
        with pytest.raises(StoreError, match="value of the wrong kind") as e:
            project(store, tmp_path / "a.duckdb")
    assert "verify" in (e.value.hint or "")
