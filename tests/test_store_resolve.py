"""Resolving a run id or prefix: the exact id by its key, a prefix by a range of the
primary key's index (never a scan), on both backends; the errors name the candidates."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from eventstore import EventStore, RunNotFound, UsageError
from eventstore._runs import next_after

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL


@pytest.fixture
def named(store: EventStore) -> EventStore:
    for run_id in ["abc", "abc1", "abc2", "abd", "b~", "b~z", "c\u00e9t\u00e9"]:
        store.create_run(run_id)
    return store


def test_the_exact_id_is_found_though_longer_ids_start_with_it(named: EventStore) -> None:
    assert named.resolve("abc") == "abc"
    assert named.resolve("b~") == "b~"


@pytest.mark.parametrize(
    ("prefix", "run_id"),
    [
        ("abc1", "abc1"),
        ("abd", "abd"),
        ("b~z", "b~z"),
        ("c", "c\u00e9t\u00e9"),
        ("c\u00e9", "c\u00e9t\u00e9"),
    ],
)
def test_a_unique_prefix_resolves_to_its_run(named: EventStore, prefix: str, run_id: str) -> None:
    assert named.resolve(prefix) == run_id


def test_an_ambiguous_prefix_names_its_candidates(named: EventStore) -> None:
    with pytest.raises(UsageError) as info:
        named.resolve("ab")
    message = str(info.value)
    assert "run id prefix 'ab' is ambiguous: 4 runs start with it (abc, abc1, abc2, abd)" in message
    assert not isinstance(info.value, RunNotFound)
    assert "more characters" in (info.value.hint or "")


def test_a_prefix_of_many_runs_names_the_first_few(store: EventStore) -> None:
    for i in range(8):
        store.create_run(f"run{i}")
    with pytest.raises(
        UsageError, match=r"at least 5 runs start with it \(run0, run1, run2, run3, run4, \.\.\.\)"
    ):
        store.resolve("run")


@pytest.mark.parametrize("ref", ["abe", "abc3", "a~", "z", "c\u00e9u"])
def test_an_unknown_id_is_run_not_found(named: EventStore, ref: str) -> None:
    with pytest.raises(RunNotFound, match=ref):
        named.resolve(ref)


def test_the_range_ends_where_the_prefix_stops() -> None:
    assert next_after("ab") == "ac"
    assert next_after("a~") == "a\x7f"
    assert next_after("\ud7ff") == "\ue000"  # surrogates are never stored: skipped
    assert next_after("a\U0010ffff") is None  # nothing above: the open range


def test_the_prefix_range_is_a_search_of_the_primary_key(store: EventStore, backend: str) -> None:
    store.create_run("abc")
    sql = "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT 6"
    if backend == "sqlite":
        with closing(sqlite3.connect(Path(store.path))) as conn:
            plan = " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("ab", "ac")))
        assert "SEARCH runs USING COVERING INDEX sqlite_autoindex_runs_1" in plan, plan
        return
    import psycopg

    with psycopg.connect(str(store.path), autocommit=True) as conn:
        # a table this small is read whole when allowed; forbidden, the plan shows
        # whether the index can answer the range (it can only under the "C" collation)
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute("EXPLAIN " + sql.replace("?", "%s"), ("ab", "ac")).fetchall()
    plan = " ".join(r[0] for r in rows)
    assert "Index Scan on runs_pkey" in plan or "Index Only Scan using runs_pkey" in plan, plan
    assert "Index Cond: ((run_id >= 'ab'::text) AND (run_id < 'ac'::text))" in plan, plan


def _batches(store: EventStore, *ids: str) -> None:
    for batch_id in ids:
        store.create_batch(f"plan {batch_id}", b"{}", "0" * 64, batch_id=batch_id)


def test_a_batch_is_found_by_its_id_or_a_unique_prefix(store: EventStore) -> None:
    _batches(store, "b17", "b17x", "c\u00e9")
    assert store.batch("b17")["batch_id"] == "b17"  # exact, though "b17x" starts with it
    assert store.batch("b17x")["name"] == "plan b17x"
    assert store.batch("c")["batch_id"] == "c\u00e9"


def test_an_ambiguous_or_unknown_batch_prefix_is_a_usage_error(store: EventStore) -> None:
    _batches(store, *(f"bat{i}" for i in range(7)))
    with pytest.raises(
        UsageError,
        match=r"batch id prefix 'bat' is ambiguous: at least 5 batches start with it "
        r"\(bat0, bat1, bat2, bat3, bat4, \.\.\.\)",
    ) as info:
        store.batch("bat")
    assert "more characters" in (info.value.hint or "")
    _batches(store, "dup1", "dup2")
    with pytest.raises(UsageError, match=r"ambiguous: 2 batches start with it \(dup1, dup2\)"):
        store.batch("dup")
    with pytest.raises(UsageError, match="no batch 'zzz' in the log") as missing:
        store.batch("zzz")
    assert "batch list" in (missing.value.hint or "")
