"""Batches through the application API: the dry run, recording, playing, status, and
continuations of one run."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import msgspec
import pytest

from scenario_lab.app import (
    BatchProgress,
    BatchResume,
    BatchRunRequest,
    ForkRun,
    InvalidRequest,
    ScenarioInvalid,
    StartRun,
)
from tests.app_helpers import STRAIT, SWEEP, make_lab, no_runs, play
from tests.engine_helpers import cli


def _small(tmp_path: Path) -> Path:
    """The bundled sweep with one run per variation, 3 turns each."""
    text = SWEEP.read_text().replace("runs_per_variation: 10", "runs_per_variation: 1")
    text = text.replace("base_scenario: strait-crisis", f"base_scenario: {STRAIT}")
    path = tmp_path / "small.yaml"
    path.write_text(text)
    return path


def test_the_dry_run_writes_nothing(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    plan = lab.plan_batch(BatchRunRequest(file=str(SWEEP)))
    assert (plan.runs, plan.runs_per_variation, len(plan.variations)) == (40, 10, 4)
    assert plan.base_scenario == "Strait Crisis" and plan.estimated_usd == 0
    assert plan.variations[0].name.startswith("variables.tension.initial=4")
    assert no_runs(lab)
    with pytest.raises(InvalidRequest) as info:
        lab.plan_batch(BatchRunRequest(file=str(SWEEP), budget=0.0))
    assert info.value.field == "budget" and info.value.one_line({"budget": "--budget"}) == (
        "--budget 0.0 must be more than 0"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("experiment_name: x\nruns_per_variation: 0\n")
    with pytest.raises(ScenarioInvalid) as bad:
        lab.plan_batch(BatchRunRequest(file=str(broken)))
    assert len(bad.value.problems) >= 2


def test_a_batch_is_recorded_played_and_shown(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    created = lab.create_batch(BatchRunRequest(file=str(_small(tmp_path))))
    assert (created.variations, created.runs_per_variation, created.runs) == (4, 1, 4)
    assert lab.batch_status(created.batch_id).counts["not_started"] == 4
    progress = BatchProgress()
    status = anyio.run(lambda: lab.play_batch(created.batch_id, progress=progress))
    assert status.counts["completed"] == 4 and progress.done == 4
    assert [v.counts["completed"] for v in status.variations] == [1, 1, 1, 1]
    assert lab.list_batches()[0].batch_id == created.batch_id
    printed = cli("batch", "show", created.batch_id, "--db", tmp_path / "log.db", "--json")
    assert printed.stdout == json.dumps(msgspec.to_builtins(status), ensure_ascii=False) + "\n"
    again = lab.prepare_batch_resume(BatchResume(batch=created.batch_id[:6]))
    assert again.batch_id == created.batch_id
    with pytest.raises(InvalidRequest):
        lab.prepare_batch_resume(BatchResume(batch=created.batch_id, budget=-1))
    assert "## " in lab.batch_report(created.batch_id)


def test_continuations_of_a_run_are_a_batch(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    run_id = play(lab, StartRun(scenario=str(STRAIT), seed=3, turns=3)).run_id
    with pytest.raises(InvalidRequest) as no_play:
        lab.create_continuations(ForkRun(run=run_id, at_turn=1, count=3))
    assert no_play.value.one_line({"count": "--count", "play": "--play"}) == "--count needs --play"
    created = lab.create_continuations(ForkRun(run=run_id, at_turn=1, count=3, play=True))
    assert created.parent_run_id == run_id and created.runs == 3
    status = anyio.run(lambda: lab.play_batch(created.batch_id, parallel=2))
    assert status.kind == "continuations" and status.counts["completed"] == 3
    assert {r.parent_run_id for r in lab.list_runs().runs if r.batch_id} == {run_id}
