"""Any two batches of one scenario compare: two batch files (paired when they share
their seed), and a batch file against a set of continuations (independent samples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.engine_helpers import cli, last_line

SCENARIOS = Path(__file__).parent.parent / "scenarios"


def _batch_file(folder: Path, name: str, tension: float, seed: int) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"experiment_name: {name}\n"
        f"base_scenario: {SCENARIOS / 'strait-crisis'}\n"
        "runs_per_variation: 6\n"
        f"seed: {seed}\n"
        "variations:\n"
        "  - {type: scenario_parameter, parameter: turns, values: [5]}\n"
        "  - type: scenario_parameter\n"
        "    parameter: variables.tension.initial\n"
        f"    values: [{tension}]\n"
    )
    return path


def _run_batch(db: Path, path: Path) -> str:
    result = cli("batch", "run", path, "--db", db)
    assert result.exit_code == 0, result.output
    return last_line(result.stdout)


def _compare(db: Path, a: str, b: str) -> dict[str, Any]:
    result = cli("compare", "--batch", a, "--batch", b, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_two_batch_files_and_a_set_of_continuations_compare(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    calm = _run_batch(db, _batch_file(tmp_path, "calm", 3, seed=11))
    tense = _run_batch(db, _batch_file(tmp_path, "tense", 9, seed=11))
    other_seed = _run_batch(db, _batch_file(tmp_path, "tense-again", 9, seed=12))

    # the same batch seed: run i of each draws the same numbers, so they pair
    paired = _compare(db, calm, tense)
    assert paired["paired"] is True and paired["pairs"] == 6
    assert paired["shared_until_turn"] is None
    tension = next(m for m in paired["metrics"] if m["metric"] == "tension")
    first = tension["turns"][0]
    assert first["turn"] == 0 and first["stats"]["difference"] == 6  # 9 - 3, no noise yet
    low, _high = tension["turns"][1]["stats"]["ci95"]
    assert low > 0  # a tenser start stays tenser

    # another seed: independent samples
    assert _compare(db, tense, other_seed)["paired"] is False

    # a set of continuations of one of the batch's runs, against the batch file
    shown = json.loads(cli("batch", "show", tense, "--db", db, "--json").stdout)
    run = shown["runs"][0]["run_id"]
    forked = cli("fork", run, "--db", db, "--at-turn", "2", "--count", "4", "--play")
    assert forked.exit_code == 0, forked.output
    mixed = _compare(db, tense, last_line(forked.stdout))
    assert mixed["paired"] is False
    assert (mixed["a"]["kind"], mixed["b"]["kind"]) == ("matrix", "continuations")
    assert mixed["a"]["scenario"] == mixed["b"]["scenario"] == "Strait Crisis"
    report = cli("report", "--batch", calm, "--batch", tense, "--db", db)
    assert report.exit_code == 0, report.output
    assert "| kind | matrix | matrix |" in report.stdout
