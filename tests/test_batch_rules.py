"""A rule-driven batch end to end: worker processes, reproducible seeds, statistics that
agree with the log read independently, the report, resume, Monte-Carlo continuations."""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from contextlib import closing
from itertools import combinations
from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.batch.config import load_batch
from engine.batch.plan import batch_plan, record_batch
from engine.batch.play import continue_fork, start_variation
from engine.batch.sample_stats import t_quantile
from engine.batch.stats import batch_stats
from engine.llm import PriceTable
from engine.play.player import RunPlayer
from engine.play.session import start_run
from engine.rng import derive_seed
from engine.scenario.load import load_scenario
from eventstore import EventStore
from projections import batch_report_markdown
from projections._numbers import num, pct
from tests.engine_helpers import cli
from tests.test_batch_helpers import BATCHES, ENGINE_DATA, batch_rows, bcli, last_line

# two-sided 95% critical value of Student's t with 3 degrees of freedom (4 runs)
T_975_DF3 = 3.182446


def _run_batch(db: Path, *args: str) -> str:
    result = bcli("batch", "run", BATCHES / "rules.yaml", "--db", db, *args)
    assert result.exit_code == 0, result.output
    return last_line(result.stdout)


def _finals(db: Path, batch_id: str) -> dict[str, dict[str, Any]]:
    """Per run, read straight from SQLite: variation, seed, completed, final metrics."""
    out = {}
    for run_id, events in batch_rows(db, batch_id):
        started = next(p for t, p in events if t == "RunStarted")
        out[run_id] = {
            "variation": json.dumps(started["settings"]["variation"], sort_keys=True),
            "seed": started["seed"],
            "completed": any(t == "RunCompleted" for t, _p in events),
            "metrics": _latest(events),
        }
    return out


def _latest(events: list[tuple[str, dict[str, Any]]]) -> dict[str, float]:
    """The last recorded value of each metric among ``events`` (type, payload)."""
    latest: dict[str, float] = {}
    for t, p in events:
        if t == "MetricRecorded" and p.get("value") is not None:
            name = p["name"] if p.get("actor") is None else f"{p['name']}/{p['actor']}"
            latest[name] = p["value"]
    return latest


def _own_rows(db: Path, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """A run's own events (type, payload), straight from SQLite."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT type, payload FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    return [(t, json.loads(p)) for t, p in rows]


@pytest.fixture(scope="module")
def rule_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("rules") / "log.db"
    return db, _run_batch(db)


def test_every_planned_run_completes_with_its_variation_and_seed(
    rule_batch: tuple[Path, str],
) -> None:
    db, batch_id = rule_batch
    finals = _finals(db, batch_id)
    with EventStore.open(db) as store:
        _id, plan = batch_plan(store, batch_id)
        status = bcli("batch", "show", batch_id, "--db", db, "--json")
    assert status.exit_code == 0
    shown = json.loads(status.stdout)
    assert shown["counts"]["completed"] == 16 and shown["cut_short"] == []
    assert [v["counts"]["completed"] for v in shown["variations"]] == [4, 4, 4, 4]
    assert len(finals) == 16 and all(f["completed"] for f in finals.values())
    for pr in plan.runs:
        assert finals[pr.run_id]["seed"] == derive_seed(11, pr.index, "batch")
        label = plan.variations[pr.variation].label
        assert finals[pr.run_id]["variation"] == json.dumps(label, sort_keys=True)
    # every run's own start and end, nothing played twice
    for _run_id, events in batch_rows(db, batch_id):
        types = [t for t, _p in events]
        assert types.count("RunStarted") == 1 and types.count("RunCompleted") == 1
        assert types.count("TurnCompleted") == 5  # setup + 4 turns


def test_statistics_agree_with_the_log_read_independently(rule_batch: tuple[Path, str]) -> None:
    db, batch_id = rule_batch
    groups: dict[str, dict[str, list[float]]] = {}
    for f in _finals(db, batch_id).values():
        for name, value in f["metrics"].items():
            groups.setdefault(f["variation"], {}).setdefault(name, []).append(value)
    with EventStore.open(db) as store:
        stats = batch_stats(store, batch_id)
    assert stats.metrics == ("tension", "trade")
    means: dict[tuple[int, str], list[float]] = {}
    for v in stats.variations:
        mine = groups[json.dumps(v.label, sort_keys=True)]
        for metric in ("tension", "trade"):
            values, got = mine[metric], v.metrics[metric]
            means[(v.index, metric)] = values
            sd = statistics.stdev(values)
            mean = sum(values) / len(values)
            half = T_975_DF3 * sd / math.sqrt(len(values))
            assert got.n == len(values) == 4
            assert got.mean == pytest.approx(mean)
            assert got.stddev == pytest.approx(sd)
            assert got.ci95 == pytest.approx((mean - half, mean + half), rel=1e-5)
            assert got.min == min(values) and got.max == max(values)
            assert got.median == pytest.approx(sorted(values)[1] / 2 + sorted(values)[2] / 2)
    assert all(v.cost_usd == 0 for v in stats.status.variations)
    # significant pairs: Welch's t computed here, compared with the |t| of p = 0.05
    expected = set()
    for metric in ("tension", "trade"):
        for a, b in combinations(range(4), 2):
            x, y = means[(a, metric)], means[(b, metric)]
            va, vb = statistics.variance(x) / 4, statistics.variance(y) / 4
            t = (statistics.fmean(x) - statistics.fmean(y)) / math.sqrt(va + vb)
            df = (va + vb) ** 2 / ((va**2 + vb**2) / 3)
            if abs(t) > t_quantile(0.975, df):
                expected.add((metric, a, b))
    assert {(p.metric, p.a, p.b) for p in stats.significant} == expected
    assert stats.tests == 12
    # Holm: never below the raw p, never above it times the number of tests
    assert all(p.p <= p.p_holm <= min(1, 12 * p.p) for p in stats.significant)


def test_a_batch_is_reproducible(rule_batch: tuple[Path, str], tmp_path: Path) -> None:
    db, batch_id = rule_batch
    again = tmp_path / "again.db"
    other = _run_batch(again, "--parallel", "1")

    def by_index(path: Path, bid: str) -> list[dict[str, float]]:
        finals = _finals(path, bid)
        with EventStore.open(path) as store:
            _id, plan = batch_plan(store, bid)
        return [finals[r.run_id]["metrics"] for r in plan.runs]

    assert by_index(again, other) == by_index(db, batch_id)


def test_the_report_has_matrix_statistics_charts_costs_and_tests(
    rule_batch: tuple[Path, str],
) -> None:
    db, batch_id = rule_batch
    with EventStore.open(db) as store:
        md = batch_report_markdown(store, batch_id[:6])
        stats = batch_stats(store, batch_id)
    for heading in (
        "# Batch: Border standoff sweep",
        "## Matrix",
        "### tension",
        "### trade",
        "## Cost per variation",
        "## Runs cut short",
        "## Significant differences",
    ):
        assert heading in md  # fmt: skip
    assert md.count("```mermaid\nxychart-beta") == 2
    means = ", ".join(num(v.metrics["tension"].mean) for v in stats.variations)
    assert f"bar [{means}]" in md
    assert '"0: 2 / -0.5"' in md  # the values of variation 0, in the file's order
    assert "Welch's two-sided t-test" in md and "None: every planned run completed." in md


def test_list_and_a_second_run_of_resume_change_nothing(rule_batch: tuple[Path, str]) -> None:
    db, batch_id = rule_batch
    listed = bcli("batch", "list", "--db", db, "--json")
    assert listed.exit_code == 0
    assert [b["batch_id"] for b in json.loads(listed.stdout)] == [batch_id]
    with EventStore.open(db) as store:
        before = store.max_position()
    resumed = bcli("batch", "resume", batch_id, "--db", db)
    assert resumed.exit_code == 0 and last_line(resumed.stdout) == batch_id
    with EventStore.open(db) as store:
        assert store.max_position() == before


def test_runs_lists_one_batch_with_batch(rule_batch: tuple[Path, str], tmp_path: Path) -> None:
    db, batch_id = rule_batch
    listed = cli("runs", "--db", db, "--batch", batch_id[:6], "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert len(rows) == 16 and {r["batch_id"] for r in rows} == {batch_id}
    table = cli("runs", "--db", db, "--batch", batch_id)
    assert sorted(line.split()[0] for line in table.stdout.splitlines()[1:]) == sorted(
        r["run_id"] for r in rows
    )
    unknown = cli("runs", "--db", db, "--batch", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == (
        "error: no batch 'nope' in the log (list batches with `scenario-lab batch list`)"
    )
    # a batch recorded but not played yet says how to start it
    fresh = tmp_path / "fresh.db"
    with EventStore.open(fresh) as store:
        waiting = record_batch(store, load_batch(BATCHES / "rules.yaml"))
    empty = cli("runs", "--db", fresh, "--batch", waiting)
    assert empty.exit_code == 0 and empty.stdout == ""
    assert f"`scenario-lab batch resume {waiting} --db {fresh}`" in empty.stderr


def test_resume_finishes_an_interrupted_run_and_starts_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    plan = load_batch(BATCHES / "rules.yaml")
    with EventStore.open(db) as store:
        batch_id = record_batch(store, plan)
        # as if the batch process died while playing runs 0 and 1 in-process: run 0
        # right after its setup, run 1 somewhere after its first turn
        for pr in plan.runs[:2]:
            start_variation(store, batch_id, plan, pr)
        player = RunPlayer(store, plan.runs[1].run_id, client=None, prices=PriceTable.load())

        async def die_after_turn_one() -> None:
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    while player.state.last_completed_turn < 1:
                        await anyio.sleep(0)
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                tg.start_soon(player.play)

        anyio.run(die_after_turn_one)
        assert 1 <= player.state.last_completed_turn < 4 and player.state.status == "running"
    shown = bcli("batch", "show", batch_id, "--db", db, "--json")
    whys = {r["status"]: r["why"] for r in json.loads(shown.stdout)["cut_short"]}
    assert whys["interrupted"].endswith(f"`scenario-lab batch resume {batch_id}` finishes it")
    assert (
        whys["not_started"] == f"not started yet: `scenario-lab batch resume {batch_id}` starts it"
    )
    result = bcli("batch", "resume", batch_id[:8], "--db", db)
    assert result.exit_code == 0, result.output
    finals = _finals(db, batch_id)
    assert len(finals) == 16 and all(f["completed"] for f in finals.values())
    resumed = [
        t for _r, events in batch_rows(db, batch_id) for t, _p in events if t == "RunResumed"
    ]
    assert resumed == ["RunResumed"]  # run 1 had played; run 0 had not, so it just starts
    fresh = tmp_path / "fresh.db"
    other = _run_batch(fresh)
    with EventStore.open(fresh) as store:
        _id, fresh_plan = batch_plan(store, other)
    fresh_finals = _finals(fresh, other)
    # same seeds, same results, whichever process played which run
    assert [finals[r.run_id]["metrics"] for r in plan.runs] == [
        fresh_finals[r.run_id]["metrics"] for r in fresh_plan.runs
    ]


def test_continuations_fork_a_run_many_times_as_one_batch(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with EventStore.open(db) as store:
        parent = start_run(store, load_scenario(ENGINE_DATA / "rules3"), seed=4)
        anyio.run(RunPlayer(store, parent, client=None, prices=PriceTable.load()).play)
        batch_id = continue_fork(store, parent, 2, 5, parallel=2)
        stats = batch_stats(store, batch_id)
        forks = store.list_runs(batch_id=batch_id)
    assert stats.status.kind == "continuations" and stats.status.counts["completed"] == 5
    assert {f.parent_run_id for f in forks} == {parent} and {f.fork_turn for f in forks} == {2}
    forked = {
        p["seed"] for _r, events in batch_rows(db, batch_id) for t, p in events if t == "RunForked"
    }
    assert forked == {derive_seed(4, i, "continue") for i in range(5)}
    [v] = stats.variations
    assert v.label == {"fork_of": parent, "fork_turn": 2}
    assert v.metrics["tension"].n == 5
    # where the original run ended among its continuations, checked against the log
    # (each branch played turns after the fork, so its own events hold its last values)
    branch_tension = [
        _latest(events)["tension"]
        for _r, events in batch_rows(db, batch_id)
        if any(t == "RunCompleted" for t, _p in events)
    ]
    mine = _latest(_own_rows(db, parent))["tension"]
    original = stats.original
    assert original is not None
    assert original.run_id == parent and original.status == "completed"
    expected = (
        sum(x < mine for x in branch_tension) + 0.5 * sum(x == mine for x in branch_tension)
    ) / len(branch_tension)
    placed = original.metrics["tension"]
    assert placed.value == pytest.approx(mine) and placed.branches == 5
    assert placed.below == pytest.approx(expected)
    with EventStore.open(db) as store:
        md = batch_report_markdown(store, batch_id)
    assert "## The original run among its continuations" in md
    [row] = [line for line in md.splitlines() if line.startswith("| tension | ")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == num(mine)
    assert cells[3:] == ["5", pct(expected)]


def test_the_original_is_placed_at_the_turn_its_continuations_end(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with EventStore.open(db) as store:
        parent = start_run(store, load_scenario(ENGINE_DATA / "rules3"), seed=4)
        anyio.run(RunPlayer(store, parent, client=None, prices=PriceTable.load()).play)
        shorter = batch_stats(store, continue_fork(store, parent, 1, 3, parallel=1, turns=3))
        longer_id = continue_fork(store, parent, 1, 2, parallel=1, turns=6)
        longer = batch_stats(store, longer_id)
        longer_md = batch_report_markdown(store, longer_id)
    # branches that stop at turn 3 meet the original's values at turn 3, not its end
    at_3 = _latest([(t, p) for t, p in _own_rows(db, parent) if p.get("turn", 0) <= 3])
    assert shorter.original is not None and shorter.original.horizon == 3
    assert shorter.original.metrics["tension"].value == pytest.approx(at_3["tension"])
    assert at_3["tension"] != _latest(_own_rows(db, parent))["tension"]
    # branches that go on past the original's end have nothing of it to meet
    assert longer.original is not None
    assert longer.original.horizon == 6 and longer.original.metrics == {}
    assert "It stopped before turn 6, where the branches end" in longer_md


def test_a_batch_plays_in_one_process_at_a_time(rule_batch: tuple[Path, str]) -> None:
    from eventstore import RunLease

    db, batch_id = rule_batch
    with RunLease(db, f"batch-{batch_id}"):  # as a live `batch run`/`resume` holds it
        second = bcli("batch", "resume", batch_id, "--db", db)
    assert second.exit_code == 1
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: batch {batch_id} is being played by another live process "
        "(wait for it to finish or stop that process first)"
    )
    again = bcli("batch", "resume", batch_id, "--db", db)  # released: it goes on
    assert again.exit_code == 0, again.output


def _descendants(pid: int) -> set[int]:
    """Every live process under ``pid`` (Linux /proc)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                kids = {int(k) for k in task.read_text().split()}
            except OSError:
                continue
            todo += list(kids - out)
            out |= kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not reaped it


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_workers_do_not_outlive_a_killed_batch(tmp_path: Path) -> None:
    import signal
    import time

    from tests.test_batch_helpers import batch_process

    db = tmp_path / "log.db"
    sweep = Path(__file__).parent.parent / "scenarios" / "strait-crisis-sweep.yaml"
    proc = batch_process("batch", "run", sweep, "--db", db, "--parallel", "2", env={})
    try:
        deadline = time.time() + 30
        workers: set[int] = set()
        while time.time() < deadline and len(workers) < 3:  # fork server + 2 workers
            workers = _descendants(proc.pid)
            time.sleep(0.05)
        assert len(workers) >= 3, "the batch never started its workers"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)  # reaped; its pipes may still be held by what it left
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
