"""Counterfactual Monte-Carlo on the bundled rule-driven scenario, through the real CLI:
a baseline set and an edited set of continuations of one run, compared batch to batch.

strait-crisis plays offline in about a second per 20 branches; its rule actors react to
the world, so an edit in turn N+1 changes what the others decide later.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scenario_lab.app import CompareBatches, ForkRun, Lab, LabSettings
from tests.engine_helpers import RULES3, cli, last_line, one_line_error, payloads

STRAIT = Path(__file__).parent.parent / "scenarios" / "strait-crisis"
EDIT = "eastern-power=hotline_call"  # -1 tension at once; rarely drawn from turn 3 of seed 3
AT = 3
COUNT = 12


def _run(db: Path, scenario: Path = STRAIT, seed: int = 3) -> str:
    result = cli("run", scenario, "--db", db, "--seed", str(seed))
    assert result.exit_code == 0, result.output
    return last_line(result.stdout)


def _set(db: Path, parent: str, *extra: str, count: int = COUNT) -> str:
    args = ["fork", parent, "--db", db, "--at-turn", str(AT), "--count", str(count), "--play"]
    result = cli(*args, *extra)
    assert result.exit_code == 0, result.output
    return last_line(result.stdout)


def _compare(db: Path, a: str, b: str, *extra: str) -> dict[str, Any]:
    result = cli("compare", "--batch", a, "--batch", b, "--db", db, "--json", *extra)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _batch_runs(db: Path, batch_id: str) -> list[dict[str, Any]]:
    """The batch's runs in plan order (``batch show --json``)."""
    shown = json.loads(cli("batch", "show", batch_id, "--db", db, "--json").stdout)
    return sorted(shown["runs"], key=lambda r: r["index"])


@dataclass(frozen=True)
class Sets:
    db: Path
    parent: str
    baseline: str  # paired
    edited: str  # paired, with EDIT
    independent: str  # with EDIT, own seeds


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sets]:
    db = tmp_path_factory.mktemp("montecarlo") / "log.db"
    parent = _run(db)
    # the edited set first: a baseline made later with --paired still pairs with it
    edited = _set(db, parent, "--decision", EDIT, "--paired")
    baseline = _set(db, parent, "--paired")
    independent = _set(db, parent, "--decision", EDIT)
    yield Sets(db, parent, baseline, edited, independent)


def _decisions(db: Path, run_id: str, after_turn: int) -> list[tuple[int, str, str]]:
    """(turn, actor, action name) of the run's decisions after ``after_turn``."""
    return [
        (turn, p["actor"], p["action_name"] or p["action"])
        for turn, type_, p in payloads(db, run_id)
        if type_ == "DecisionMade" and turn > after_turn
    ]


def test_an_edit_changes_later_decisions_and_metrics_clearly(sets: Sets) -> None:
    base_runs = _batch_runs(sets.db, sets.baseline)
    edit_runs = _batch_runs(sets.db, sets.edited)
    assert [r["status"] for r in base_runs + edit_runs] == ["completed"] * (2 * COUNT)
    # paired: branch i of each set has the same seed, whichever set was made first
    assert [r["seed"] for r in base_runs] == [r["seed"] for r in edit_runs]
    forced = [d for r in edit_runs for d in _decisions(sets.db, r["run_id"], AT) if d[0] == AT + 1]
    assert ("eastern-power", "hotline_call") in {(a, act) for _t, a, act in forced}
    # the other actors' later choices follow the world the edit made: with the very same
    # random draws, their distribution differs
    later = AT + 1

    def others(runs: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
        return Counter(
            (actor, action)
            for r in runs
            for turn, actor, action in _decisions(sets.db, r["run_id"], later)
            if actor != "eastern-power"
        )

    assert others(base_runs) != others(edit_runs)
    found = _compare(sets.db, sets.baseline, sets.edited)
    assert found["paired"] is True and found["pairs"] == COUNT
    assert found["shared_until_turn"] == AT
    by_metric = {m["metric"]: m for m in found["metrics"]}
    tension = {t["turn"]: t["stats"] for t in by_metric["tension"]["turns"]}
    assert min(tension) == AT + 1  # the shared turns are not compared
    first = tension[AT + 1]
    assert first["test"] == "paired" and first["n_a"] == first["n_b"] == COUNT
    _low, high = first["ci95"]
    assert high < 0  # the call calms the strait: the interval excludes 0
    assert first["difference"] == pytest.approx(first["mean_b"] - first["mean_a"])
    assert first["effect_size"] is not None and first["effect_size"] < 0


def test_paired_intervals_are_narrower_than_welch_on_the_same_runs(sets: Sets) -> None:
    paired = _compare(sets.db, sets.baseline, sets.edited)
    welch = _compare(sets.db, sets.baseline, sets.edited, "--welch")
    assert paired["paired"] and not welch["paired"]
    narrower = 0
    compared = 0
    for p, w in zip(paired["metrics"], welch["metrics"], strict=True):
        for pt, wt in zip(p["turns"], w["turns"], strict=True):
            assert pt["stats"]["test"] == "paired" and wt["stats"]["test"] == "welch"
            assert pt["stats"]["difference"] == pytest.approx(wt["stats"]["difference"])
            if pt["stats"]["ci95"] is None or wt["stats"]["ci95"] is None:
                continue
            compared += 1
            (pl, ph), (wl, wh) = pt["stats"]["ci95"], wt["stats"]["ci95"]
            narrower += ph - pl < wh - wl
    assert compared >= 20 and narrower == compared


def test_sets_without_paired_seeds_are_compared_as_independent(sets: Sets) -> None:
    found = _compare(sets.db, sets.baseline, sets.independent)
    assert found["paired"] is False and found["pairs"] == 0
    assert {t["stats"]["test"] for m in found["metrics"] for t in m["turns"]} == {"welch"}
    own = {r["seed"] for r in _batch_runs(sets.db, sets.independent)}
    assert own.isdisjoint(r["seed"] for r in _batch_runs(sets.db, sets.baseline))
    refused = cli(
        "compare", "--batch", sets.baseline, "--batch", sets.independent, "--db", sets.db,
        "--paired",
    )  # fmt: skip
    one_line_error(refused, 2, "--paired", "do not share their runs' seeds", "fork RUN")


def test_the_report_of_two_batches_has_both_fan_charts(sets: Sets) -> None:
    printed = cli("report", "--batch", sets.baseline, "--batch", sets.edited, "--db", sets.db)
    assert printed.exit_code == 0, printed.output
    text = printed.stdout
    assert text.index("## Summary") < text.index("## The two batches") < text.index("## tension")
    assert "| trade_flow |" in text and "xychart-beta" in text
    assert "B - A (paired; 95% CI)" in text
    with Lab(LabSettings(db=sets.db)) as lab:
        comparison = lab.compare_batches(CompareBatches(batches=(sets.baseline, sets.edited)))
        doc = lab.batch_comparison_document(comparison)
    fans = [c for c in doc.charts() if c.slug.startswith("fan-")]
    assert len(fans) == len(comparison.metrics) == 4
    series = {row["series"] for row in fans[0].spec["data"]["values"]}
    assert series == {"A: none (baseline)", f"B: {EDIT}"}
    tension = next(m for m in comparison.metrics if m.metric == "tension")
    [drawn] = [c for c in doc.charts() if c.slug == "difference-tension"]
    bars = drawn.spec["data"]["values"]
    assert [b["group"] for b in bars] == [f"turn {t.turn}" for t in tension.turns]
    assert [(b["mean"], b["low"], b["high"]) for b in bars] == [
        (t.stats.difference, *t.stats.ci95) for t in tension.turns if t.stats.ci95
    ]


def test_a_set_is_a_batch_that_batch_tooling_sees(sets: Sets) -> None:
    listed = json.loads(cli("batch", "list", "--db", sets.db, "--json").stdout)
    names = {b["batch_id"]: b["name"] for b in listed}
    assert EDIT in names[sets.edited] and "paired" in names[sets.edited]
    one = cli("report", "--batch", sets.edited, "--db", sets.db)
    assert one.exit_code == 0 and "Monte-Carlo continuations" in one.stdout
    runs = json.loads(cli("runs", "--db", sets.db, "--batch", sets.edited, "--json").stdout)
    assert len(runs) == COUNT and {r["parent_run_id"] for r in runs} == {sets.parent}


def _own_payloads(db: Path, run_id: str) -> list[tuple[str, bytes]]:
    """The run's own events after its ``RunForked`` (which names its batch), as stored."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT type, payload FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    finally:
        con.close()
    assert rows[0][0] == "RunForked"
    return [(t, bytes(p)) for t, p in rows[1:]]


def test_the_same_seeds_give_byte_identical_logs(tmp_path: Path) -> None:
    """The same parent (scenario and seed) in two logs, the same set made in each: every
    branch records the very same bytes, also when one log's set was recorded, left
    unplayed (its process died) and finished by ``batch resume``, and as a single fork
    given the branch's seed."""
    first, second = tmp_path / "one.db", tmp_path / "two.db"
    a = _set(first, _run(first), "--decision", EDIT, "--paired", count=4)
    parent = _run(second)
    with Lab(LabSettings(db=second)) as lab:
        created = lab.create_continuations(
            ForkRun(
                run=parent,
                at_turn=AT,
                decisions=dict([EDIT.split("=")]),
                count=4,
                play=True,
                paired=True,
            )
        )
    assert {r["status"] for r in _batch_runs(second, created.batch_id)} == {"not_started"}
    resumed = cli("batch", "resume", created.batch_id, "--db", second)
    assert resumed.exit_code == 0, resumed.output
    runs_a, runs_b = _batch_runs(first, a), _batch_runs(second, created.batch_id)
    assert [r["seed"] for r in runs_a] == [r["seed"] for r in runs_b]
    for x, y in zip(runs_a, runs_b, strict=True):
        assert y["status"] == "completed"
        assert _own_payloads(first, x["run_id"]) == _own_payloads(second, y["run_id"])
    # a set's branch (played in a worker process) is the single fork with its seed
    # (played in this one)
    one = cli(
        "fork", parent, "--db", second, "--at-turn", str(AT), "--decision", EDIT,
        "--seed", str(runs_b[1]["seed"]), "--play",
    )  # fmt: skip
    assert one.exit_code == 0, one.output
    assert _own_payloads(second, last_line(one.stdout)) == _own_payloads(
        second, runs_b[1]["run_id"]
    )


# -- mistakes: one line each, nothing recorded -----------------------------------------


def test_bad_fork_set_flags_are_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    parent = _run(db)
    base = ["fork", parent, "--db", db, "--at-turn", "2"]
    one_line_error(cli(*base, "--count", "0", "--play"), 2, "--count 0 must be at least 1")
    one_line_error(cli(*base, "--count", "2"), 2, "--count needs --play")
    one_line_error(cli(*base, "--paired"), 2, "--paired", "--count")
    one_line_error(cli(*base, "--budget", "1", "--play"), 2, "--budget", "--count")
    one_line_error(
        cli(*base, "--count", "2", "--play", "--human", "mediator"), 2, "--human", "unattended"
    )
    one_line_error(
        cli(*base, "--count", "2", "--play", "--decision", "eastern-power=live_fire_dril"),
        2,
        "'live_fire_dril' is not one of eastern-power's actions",
    )
    listed = json.loads(cli("batch", "list", "--db", db, "--json").stdout)
    assert listed == [] and len(json.loads(cli("runs", "--db", db, "--json").stdout)) == 1


def test_bad_batch_comparisons_are_refused_in_one_line(sets: Sets, tmp_path: Path) -> None:
    db = sets.db
    other = _set(db, _run(db, RULES3, seed=1), count=2)  # another scenario, same log
    one_line_error(
        cli("compare", "--batch", sets.baseline, "--batch", other, "--db", db),
        2,
        "play different scenarios",
        "Strait Crisis",
    )
    one_line_error(
        cli("report", "--batch", sets.baseline, "--batch", sets.baseline, "--db", db),
        2,
        "names batch",
        "twice",
    )
    three = ["--batch", sets.baseline, "--batch", sets.edited, "--batch", sets.independent]
    one_line_error(cli("compare", *three, "--db", db), 2, "exactly two batches")
    one_line_error(
        cli("report", "--batch", sets.baseline, "--paired", "--db", db), 2, "--batch twice"
    )
    one_line_error(
        cli("compare", "--batch", sets.baseline, "--batch", "nosuchbatch", "--db", db),
        2,
        "no batch 'nosuchbatch'",
    )
    one_line_error(cli("compare", sets.parent, "--batch", sets.baseline, "--db", db), 2, "not both")
    with Lab(LabSettings(db=db)) as lab:  # recorded, never played: no run completed
        unplayed = lab.create_continuations(
            ForkRun(run=sets.parent, at_turn=AT + 1, count=2, play=True)
        ).batch_id
    one_line_error(
        cli("compare", "--batch", sets.baseline, "--batch", unplayed, "--db", db),
        2,
        "no metric in common",
        f"{unplayed}: none",
    )


def test_a_smaller_paired_set_pairs_with_the_first_branches_of_a_larger_one(sets: Sets) -> None:
    small = _set(sets.db, sets.parent, "--paired", count=5)
    found = _compare(sets.db, small, sets.edited)
    assert found["paired"] is True and found["pairs"] == 5
    final = found["metrics"][0]["final"]
    assert final["n_a"] == final["n_b"] == 5
    seeds = [r["seed"] for r in _batch_runs(sets.db, small)]
    assert seeds == [r["seed"] for r in _batch_runs(sets.db, sets.edited)][:5]
