"""Scenarios through the application API: validate, estimate, and the offered list."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from scenario_lab.app import (
    BUNDLED_SCENARIOS,
    Estimate,
    EstimateRequest,
    Lab,
    LabSettings,
    NotFound,
    ScenarioInvalid,
    UsageError,
)
from tests.app_helpers import STRAIT, make_lab
from tests.engine_helpers import LLM3, cli


def test_validate_gives_every_problem_typed(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    assert lab.validate(STRAIT).valid
    broken = tmp_path / "broken"
    shutil.copytree(STRAIT, broken)
    text = (broken / "scenario.yaml").read_text().replace("turns: 10", "turns: -3")
    (broken / "scenario.yaml").write_text(text + "\nunknown_field: 1\n")
    found = lab.validate(broken)
    assert not found.valid and found.errors >= 1 and found.warnings >= 1
    first = next(p for p in found.problems if p.severity == "error")
    assert (first.file, first.field) == ("scenario.yaml", "turns") and first.text


def test_estimate_is_typed_and_is_what_the_cli_prints(tmp_path: Path) -> None:
    est = make_lab(tmp_path).estimate(EstimateRequest(scenario=str(LLM3)))
    assert isinstance(est, Estimate)
    assert {r.model: r.calls for r in est.by_model} == {"test/actor": 9, "test/world": 6}
    assert est.calls == 15 and est.turns == 3
    printed = cli("estimate", LLM3, "--json").stdout
    assert printed == json.dumps(msgspec.to_builtins(est), ensure_ascii=False) + "\n"


def test_estimate_refuses_an_unknown_actor_and_an_impossible_turn_count(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    with pytest.raises(ScenarioInvalid) as info:
        lab.estimate(EstimateRequest(scenario=str(LLM3), models={"nobody": "m"}))
    assert info.value.field == "models" and "nobody" in info.value.message
    with pytest.raises(ScenarioInvalid) as info:
        lab.estimate(EstimateRequest(scenario=str(LLM3), turns=100_001))
    assert info.value.field == "turns" and info.value.message == "turns 100001 is out of range"


def test_an_unreadable_price_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="cannot read price file"):
        make_lab(tmp_path, prices=bad).estimate(EstimateRequest(scenario=str(LLM3)))


def test_scenarios_are_offered_by_folder_name(tmp_path: Path) -> None:
    extra = tmp_path / "mine"
    shutil.copytree(STRAIT, extra / "my-crisis")
    (extra / "empty").mkdir()  # no scenario.yaml: not offered
    shutil.copytree(STRAIT, extra / "broken")
    (extra / "broken" / "scenario.yaml").write_text("name: x\n")
    lab = Lab(LabSettings(db=tmp_path / "log.db", scenario_dirs=(BUNDLED_SCENARIOS, extra)))
    offered = {s.name: s for s in lab.list_scenarios()}
    assert {"strait-crisis", "ai-summit", "tabletop-human", "my-crisis", "broken"} <= set(offered)
    assert "empty" not in offered
    strait = offered["strait-crisis"]
    assert strait.valid and strait.source == "bundled" and strait.turns == 10
    assert {a.short_name for a in strait.actors} >= {"eastern-power"}
    assert offered["my-crisis"].source == "configured"
    assert not offered["broken"].valid and offered["broken"].problems
    detail = lab.scenario("my-crisis")
    assert detail.scenario["name"] == strait.title and len(detail.sha256) == 64
    json.dumps(msgspec.to_builtins(detail))  # JSON as it stands
    with pytest.raises(NotFound) as info:
        lab.scenario("nope")
    assert info.value.field == "scenario" and "strait-crisis" in (info.value.hint or "")
