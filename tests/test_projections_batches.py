"""Batches in the analytics file: ``batches``, ``batch_runs`` and the ``variation_stats``
table, checked against the batch's recorded plan and the batch report's statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest

from engine.batch.plan import batch_plan
from engine.batch.play import continue_fork
from engine.batch.stats import batch_stats
from engine.llm import PriceTable
from engine.play.player import RunPlayer
from engine.play.session import start_run
from engine.scenario.load import load_scenario
from eventstore import EventStore
from projections import SCHEMA_VERSION, export_tables, open_readonly, project, query
from tests.test_batch_helpers import BATCHES, ENGINE_DATA, bcli, last_line


def q(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with open_readonly(path) as con:
        return query(con, sql, list(params)).rows


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, Path]:
    """A log with a 2x2 rule batch and 4 continuations of a run, projected twice: once
    before the continuations existed (so the second catch-up adds a batch)."""
    folder = tmp_path_factory.mktemp("batches")
    db, duck = folder / "log.db", folder / "log.duckdb"
    played = bcli("batch", "run", BATCHES / "rules.yaml", "--db", db)
    assert played.exit_code == 0, played.output
    matrix = last_line(played.stdout)
    with EventStore.open(db) as store:
        project(store, duck)
        parent = start_run(store, load_scenario(ENGINE_DATA / "rules3"), seed=4)
        anyio.run(RunPlayer(store, parent, client=None, prices=PriceTable.load()).play)
        continuations = continue_fork(store, parent, 2, 4, parallel=2)
        project(store, duck)
    return db, matrix, continuations, duck


def test_every_batch_is_a_row_with_its_plan(logged: tuple[Path, str, str, Path]) -> None:
    db, matrix, continuations, duck = logged
    rows = q(
        duck,
        "SELECT batch_id, name, kind, seed, runs_planned, variations, runs_per_variation, "
        "parent_run_id, fork_turn, base_scenario_sha256 IS NOT NULL FROM batches "
        "ORDER BY kind DESC",
    )
    with EventStore.open(db) as store:
        _id, plan = batch_plan(store, continuations)
    assert rows == [
        (matrix, "Border standoff sweep", "matrix", 11, 16, 4, 4, None, None, True),
        (
            continuations,
            plan.name,
            "continuations",
            4,
            4,
            1,
            None,
            plan.config["parent_run_id"],
            2,
            False,
        ),
    ]


def test_batch_runs_list_every_planned_run_with_its_variation(
    logged: tuple[Path, str, str, Path],
) -> None:
    db, matrix, _c, duck = logged
    with EventStore.open(db) as store:
        _id, plan = batch_plan(store, matrix)
    rows = q(
        duck,
        "SELECT run_id, run_index, variation_index, variation_name, replicate, seed "
        "FROM batch_runs WHERE batch_id = ? ORDER BY run_index",
        matrix,
    )
    names = {v.index: v.name for v in plan.variations}
    assert rows == [
        (r.run_id, r.index, r.variation, names[r.variation], r.replicate, r.seed) for r in plan.runs
    ]
    # the variation's settings read as the runs table writes them: they join
    joined = q(
        duck,
        "SELECT count(*) FROM batch_runs b JOIN runs r USING (run_id) "
        "WHERE b.batch_id = ? AND b.variation = r.variation",
        matrix,
    )
    assert joined == [(16,)]


def test_variation_stats_agree_with_the_batch_report(
    logged: tuple[Path, str, str, Path],
) -> None:
    db, matrix, continuations, duck = logged
    for batch_id in (matrix, continuations):
        with EventStore.open(db) as store:
            stats = batch_stats(store, batch_id)
        rows = q(
            duck,
            "SELECT variation_index, name || coalesce('/' || actor, ''), n, mean, stddev, "
            "ci95_low, ci95_high, min, median, max FROM variation_stats WHERE batch_id = ?",
            batch_id,
        )
        got = {(r[0], r[1]): r[2:] for r in rows}
        expected = {(v.index, m): v.metrics[m] for v in stats.variations for m in stats.metrics}
        assert got.keys() == {k for k, d in expected.items() if d.n}
        # one implementation: the very same numbers, not close ones (the view this table
        # replaced approximated the t quantile, and agreed to 1e-5 only)
        for key, (n, mean, sd, lo, hi, low, median, high) in got.items():
            d = expected[key]
            ci = d.ci95 or (None, None)
            assert (n, mean, sd, lo, hi, low, median, high) == (
                d.n, d.mean, d.stddev, ci[0], ci[1], d.min, d.median, d.max
            )  # fmt: skip


def test_a_catch_up_adds_new_batches_as_a_rebuild_does(
    logged: tuple[Path, str, str, Path], tmp_path: Path
) -> None:
    db, _m, _c, duck = logged
    fresh = tmp_path / "rebuilt.duckdb"
    with EventStore.open(db) as store:
        project(store, fresh, rebuild=True)
    for table in ("batches", "batch_runs", "variation_stats"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert q(duck, sql) == q(fresh, sql), table


def test_export_of_some_runs_writes_their_batches_only(
    logged: tuple[Path, str, str, Path], tmp_path: Path
) -> None:
    _db, matrix, _c, duck = logged
    [(run_id,)] = q(duck, "SELECT run_id FROM batch_runs WHERE batch_id = ? LIMIT 1", matrix)
    with open_readonly(duck) as con:
        written = export_tables(con, tmp_path / "out", "csv", [run_id])
        assert tmp_path / "out" / "batches.csv" in written
        exported = con.execute(
            f"SELECT batch_id FROM read_csv('{tmp_path / 'out' / 'batches.csv'}', all_varchar = true)"
        ).fetchall()
        runs = con.execute(
            f"SELECT DISTINCT run_id FROM read_csv('{tmp_path / 'out' / 'batch_runs.csv'}', all_varchar = true)"
        ).fetchall()
        stats = con.execute(
            f"SELECT DISTINCT batch_id FROM read_csv('{tmp_path / 'out' / 'variation_stats.csv'}', all_varchar = true)"
        ).fetchall()
    assert exported == stats == [(matrix,)] and runs == [(run_id,)]


def test_variation_stats_is_a_table_any_duckdb_reads(logged: tuple[Path, str, str, Path]) -> None:
    # no function of ours is needed to read it: a plain DuckDB connection, as another
    # tool would open the file, sees the same rows as our read-only one
    _db, _m, _c, duck = logged
    con = duckdb.connect(str(duck), read_only=True)
    try:
        plain = con.execute("SELECT * FROM variation_stats ORDER BY ALL").fetchall()
        [(kind,)] = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'variation_stats'"
        ).fetchall()
    finally:
        con.close()
    assert kind == "BASE TABLE" and len(plain) == 2 * 4 + 2  # 2 metrics x 4 variations, + 2
    assert plain == q(duck, "SELECT * FROM variation_stats ORDER BY ALL")


@pytest.mark.parametrize("lost", ["statistics", "batch"])
def test_what_a_dead_catch_up_missed_is_done_by_the_next(
    logged: tuple[Path, str, str, Path], tmp_path: Path, lost: str
) -> None:
    # as if a catch-up died after committing the continuations' events and before the
    # transaction that copies batches and computes statistics: nothing new is in the
    # log, yet the next catch-up recomputes the continuations' statistics
    db, _m, continuations, duck = logged
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(duck.read_bytes())
    want = {t: q(duck, f"SELECT * FROM {t} ORDER BY ALL") for t in _BATCH_TABLES}
    con = duckdb.connect(str(copy))
    [(first,)] = con.execute(
        "SELECT min(position) FROM events WHERE run_id IN "
        "(SELECT run_id FROM batch_runs WHERE batch_id = ?)",
        [continuations],
    ).fetchall()
    con.execute("UPDATE variation_stats_state SET position = ?", [first - 1])
    if lost == "statistics":  # stale rows of a batch the file has
        con.execute(
            "UPDATE variation_stats SET mean = -1, n = 0 WHERE batch_id = ?", [continuations]
        )
    else:  # the batch itself never arrived
        for table in _BATCH_TABLES:
            con.execute(f"DELETE FROM {table} WHERE batch_id = ?", [continuations])
    con.close()
    with EventStore.open(db) as store:
        result = project(store, copy)
    assert result.events == 0 and not result.rebuilt
    assert {t: q(copy, f"SELECT * FROM {t} ORDER BY ALL") for t in _BATCH_TABLES} == want


_BATCH_TABLES = ("batches", "batch_runs", "variation_stats")


def test_a_file_where_variation_stats_is_a_view_is_rebuilt(tmp_path: Path) -> None:
    # schema 2 had variation_stats as a view; DuckDB's DROP TABLE refuses a view
    db, duck = tmp_path / "log.db", tmp_path / "log.duckdb"
    played = bcli("batch", "run", BATCHES / "rules.yaml", "--db", db)
    assert played.exit_code == 0, played.output
    with EventStore.open(db) as store:
        project(store, duck)
        con = duckdb.connect(str(duck))
        con.execute("DROP TABLE variation_stats")
        con.execute("CREATE VIEW variation_stats AS SELECT 1 AS n")
        con.execute("UPDATE projection_state SET schema_version = 2")
        con.close()
        result = project(store, duck)
    assert result.rebuilt and "schema version 2 -> " in result.reason
    assert q(duck, "SELECT schema_version FROM projection_state") == [(SCHEMA_VERSION,)]
    assert q(duck, "SELECT count(*) FROM variation_stats") == [(8,)]


def test_a_plan_of_another_shape_does_not_stop_a_catch_up(tmp_path: Path) -> None:
    db, duck = tmp_path / "log.db", tmp_path / "log.duckdb"
    foreign = {  # a newer plan format: other keys, runs without ids
        "format": 99,
        "name": None,
        "config": [],
        "variations": [{"idx": 0, "label": "x"}, "?"],
        "runs": [{"idx": 0, "id": "r"}, 7],
    }
    with EventStore.open(db) as store:
        newer = store.create_batch("newer", json.dumps(foreign).encode(), "0" * 64)
        broken = store.create_batch("broken", b"{not json", "1" * 64)
        run = start_run(store, load_scenario(ENGINE_DATA / "rules3"), seed=1)
        project(store, duck)
        anyio.run(RunPlayer(store, run, client=None, prices=PriceTable.load()).play)
        project(store, duck)  # later catch-ups go on too
        last = store.max_position()
    rows = q(duck, "SELECT batch_id, name, runs_planned, seed FROM batches ORDER BY name")
    assert rows == [(broken, "broken", 0, None), (newer, "newer", 0, None)]
    assert q(duck, "SELECT count(*) FROM batch_runs") == [(0,)]
    assert q(duck, "SELECT position FROM projection_state") == [(last,)]
