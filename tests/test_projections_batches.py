"""Batches in the analytics file: ``batches``, ``batch_runs`` and the ``variation_stats``
view, checked against the batch's recorded plan and the batch report's statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest

from engine.batch.plan import batch_plan
from engine.batch.play import continue_fork
from engine.batch.stats import batch_stats, t_quantile
from engine.llm import PriceTable
from engine.play.player import RunPlayer
from engine.play.session import start_run
from engine.scenario.load import load_scenario
from eventstore import EventStore
from projections import export_tables, open_readonly, project, query
from projections._catalog import _t975
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
        expected = {
            (v["index"], m): v["metrics"][m] for v in stats["variations"] for m in stats["metrics"]
        }
        assert got.keys() == {k for k, d in expected.items() if d["n"]}
        for key, (n, mean, sd, lo, hi, low, median, high) in got.items():
            d = expected[key]
            assert n == d["n"]
            approx = pytest.approx
            assert (mean, low, median, high) == approx(
                (d["mean"], d["min"], d["median"], d["max"]), rel=1e-9, abs=1e-12
            )
            if d["stddev"] is None:
                assert (sd, lo, hi) == (None, None, None)
            else:
                assert sd == approx(d["stddev"], rel=1e-9)
                assert (lo, hi) == approx(tuple(d["ci95"]), rel=1e-5, abs=1e-9)


def test_a_catch_up_adds_new_batches_as_a_rebuild_does(
    logged: tuple[Path, str, str, Path], tmp_path: Path
) -> None:
    db, _m, _c, duck = logged
    fresh = tmp_path / "rebuilt.duckdb"
    with EventStore.open(db) as store:
        project(store, fresh, rebuild=True)
    for table in ("batches", "batch_runs"):
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
            f"SELECT batch_id FROM read_csv('{tmp_path / 'out' / 'batches.csv'}')"
        ).fetchall()
        runs = con.execute(
            f"SELECT DISTINCT run_id FROM read_csv('{tmp_path / 'out' / 'batch_runs.csv'}')"
        ).fetchall()
    assert exported == [(matrix,)] and runs == [(run_id,)]


@pytest.mark.parametrize("df", [*range(1, 40), 50, 99, 500, 10_000])
def test_the_views_t_quantile_matches_the_exact_one(df: int) -> None:
    [(t,)] = duckdb.sql(f"SELECT {_t975(str(df))}").fetchall()
    assert t == pytest.approx(t_quantile(0.975, df), rel=4e-6)


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
