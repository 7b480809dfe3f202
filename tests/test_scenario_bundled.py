"""The bundled scenarios are what users see first: each validates with nothing to fix,
and the bundled sweep plays offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.scenario.load import load_scenario, validate_scenario
from eventstore import EventStore
from projections import batch_report_markdown
from tests.test_batch_helpers import bcli, last_line

SCENARIOS = Path(__file__).parent.parent / "scenarios"


@pytest.mark.parametrize("name", ["strait-crisis", "ai-summit", "tabletop-human"])
def test_validates_without_errors_or_warnings(name: str) -> None:
    assert [str(p) for p in validate_scenario(SCENARIOS / name)] == []
    loaded = load_scenario(SCENARIOS / name)
    assert loaded.warnings == []
    assert len(loaded.scenario.description.splitlines()) > 3  # a short README, not a title


def test_strait_crisis_needs_no_model() -> None:
    s = load_scenario(SCENARIOS / "strait-crisis").scenario
    assert (s.turns, s.turn_duration, s.world_state_model) == (10, "1 month", "rules")
    controls = [a.control for a in s.actors.values()]
    assert sorted(controls) == ["rules", "rules", "rules", "scripted"]
    assert all(a.llm_model is None for a in s.actors.values())
    assert s.metrics == [] and s.validation is None
    assert {"tension", "trade_flow", "military_readiness", "public_support"} <= set(s.variables)
    for actor in s.actors.values():
        assert 3 <= len(actor.actions) <= 5, actor.short_name
        if actor.control == "rules":
            assert actor.preferences and all(a.narrative for a in actor.actions)
            assert all("{actor}" in a.narrative for a in actor.actions)
    kinds = {e.type for e in s.exogenous_events}
    assert kinds == {"scheduled", "random", "conditional", "trend"}
    assert all(e.effects for e in s.exogenous_events)
    # every scripted move applies a declared action's effects
    mediator = s.actors["mediator"]
    assert all(entry.action_name for entry in mediator.script)


def test_ai_summit_is_a_full_llm_scenario() -> None:
    s = load_scenario(SCENARIOS / "ai-summit").scenario
    assert (s.turns, s.turn_duration) == (4, "2 weeks")
    assert len(s.actors) == 3 and s.world_state_model
    assert all(a.control == "ai" and a.llm_model for a in s.actors.values())
    assert s.enable_bilateral_communication
    assert sorted(m.extraction.type for m in s.metrics) == ["keyword", "llm", "pattern"]
    assert s.validation is not None and len(s.validation.checks) == 2
    assert s.exogenous_events and 1 <= len(s.background) <= 2


def test_tabletop_has_one_human_seat_in_a_rule_world() -> None:
    s = load_scenario(SCENARIOS / "tabletop-human").scenario
    assert s.turns == 5 and len(s.actors) == 3 and s.variables
    assert [a.control for a in s.actors.values()].count("human") == 1
    [human] = [a for a in s.actors.values() if a.control == "human"]
    assert len(human.actions) >= 3  # the human's choice moves the indicators too
    assert all(a.llm_model is None for a in s.actors.values()) and s.world_state_model is None


def test_the_bundled_sweep_plays_offline_and_reports_every_variation(tmp_path: Path) -> None:
    sweep = SCENARIOS / "strait-crisis-sweep.yaml"
    db = tmp_path / "log.db"
    dry = bcli("batch", "run", sweep, "--dry-run", "--db", db)
    assert dry.exit_code == 0, dry.output
    # each label whole, however long: the values are what tell variations apart
    labels = [
        line.split(None, 5)[5] for line in dry.stdout.splitlines() if line[:3].strip().isdigit()
    ]
    assert labels == [
        f"variables.tension.initial={t}, actors.eastern-power.preferences.tension={p}"
        for t in (4, 8)
        for p in (-0.5, 1.0)
    ]
    played = bcli("batch", "run", sweep, "--db", db)
    assert played.exit_code == 0, played.output
    batch_id = last_line(played.stdout)
    shown = bcli("batch", "show", batch_id, "--db", db)
    assert shown.exit_code == 0, shown.output
    rows = [line.split(None, 8) for line in shown.stdout.splitlines() if line[:3].strip().isdigit()]
    assert [(r[1], r[2], r[8]) for r in rows] == [("10", "10", label) for label in labels]
    with EventStore.open(db) as store:
        md = batch_report_markdown(store, batch_id)
    assert "40 planned: 40 completed" in md
    for label in labels:
        assert f"| {label} | 10 | 10 | 0 | 0 | 0 | 0 |" in md
