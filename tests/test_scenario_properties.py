"""Round-trip properties over generated scenario directories.

For any valid scenario written to files: loading gives a resolved scenario that rebuilds
the identical model, survives JSON, hashes the same, and does not depend on how the
files spelled it (aliases or canonical names, flat or grouped exogenous events).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.scenario.load import apply_overrides, load_scenario, scenario_sha256
from engine.scenario.model import Scenario

GROUPS = {
    "scheduled": "scheduled_events",
    "random": "random_events",
    "conditional": "conditional_events",
    "trend": "trends",
}
WORDS = st.text(alphabet="abcdefghij klmnopqrstuvwxyz:#-'\"", min_size=1, max_size=20).filter(
    lambda s: s.strip() == s
)
SHORT_NAMES = ["north", "south", "broker", "ngo-1", "x9"]


@st.composite
def _variables(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(["tension", "trade", "morale"]), min_size=1, unique=True))
    out = {}
    for name in names:
        low = draw(st.integers(-50, 50))
        high = low + draw(st.integers(1, 100))
        out[name] = {
            "initial": draw(st.integers(low, high)),
            "min": low,
            "max": high,
            "drift": draw(st.floats(-1, 1, allow_nan=False)),
            "noise": draw(st.floats(0, 2, allow_nan=False)),
            "description": draw(WORDS),
        }
    return out


@st.composite
def _scenarios(draw: st.DrawFn) -> dict[str, Any]:
    variables = draw(_variables())
    effects = st.dictionaries(st.sampled_from(sorted(variables)), st.integers(-5, 5), max_size=2)
    actors = {}
    for short in draw(st.lists(st.sampled_from(SHORT_NAMES), min_size=1, max_size=4, unique=True)):
        control = draw(st.sampled_from(["rules", "scripted", "human"]))
        actor: dict[str, Any] = {
            "name": draw(WORDS),
            "short_name": short,
            "control": control,
            "goals": draw(st.one_of(WORDS, st.lists(WORDS, max_size=3))),
            "decision_style": draw(WORDS),
        }
        if control == "rules":
            actor["actions"] = [
                {"name": f"move-{i}", "effects": draw(effects), "narrative": "{actor} moves."}
                for i in range(draw(st.integers(1, 3)))
            ]
            actor["preferences"] = {
                name: draw(st.floats(-2, 2, allow_nan=False)) for name in variables
            }
        if control == "scripted":
            actor["script"] = draw(
                st.lists(st.one_of(WORDS, st.builds(lambda a: {"action": a}, WORDS)), min_size=1)
            )
        actors[short] = actor
    by_kind: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "scheduled": st.fixed_dictionaries({"turn": st.integers(1, 5)}),
        "random": st.fixed_dictionaries({"probability": st.floats(0, 1, allow_nan=False)}),
        "conditional": st.just({"conditions": {next(iter(variables)): ">= 1"}}),
        "trend": st.fixed_dictionaries({"frequency": st.integers(1, 3)}),
    }
    events = []
    for i, kind in enumerate(draw(st.lists(st.sampled_from(list(GROUPS)), max_size=4))):
        event = {"name": f"event {i}", "type": kind, "effects": draw(effects)}
        events.append({**event, **draw(by_kind[kind])})
    events.sort(key=lambda e: list(GROUPS).index(e["type"]))  # the grouped layout's order
    return {
        "scenario": {
            "name": draw(WORDS),
            "description": draw(WORDS),
            "turns": draw(st.integers(5, 12)),
            "turn_duration": draw(st.sampled_from(["1 day", "2 weeks", "1 month", "3 years"])),
            "context_window_size": draw(st.integers(1, 5)),
            "actors": list(actors),
            "variables": variables,
        },
        "actors": actors,
        "events": events,
    }


def _write(root: Path, spec: dict[str, Any], *, aliases: bool, grouped: bool) -> Path:
    root.mkdir(parents=True)
    (root / "actors").mkdir()
    top = dict(spec["scenario"])
    if aliases:
        top["num_turns"] = top.pop("turns")
        top["context_window"] = top.pop("context_window_size")
    (root / "scenario.yaml").write_text(yaml.safe_dump(top))
    for short, actor in spec["actors"].items():
        actor = dict(actor)
        if aliases:
            actor["decision_making_style"] = actor.pop("decision_style")
        (root / "actors" / f"{short}.yaml").write_text(yaml.safe_dump(actor))
    if spec["events"]:
        if grouped:
            layout: dict[str, Any] = {}
            for event in spec["events"]:
                item = {k: v for k, v in event.items() if k != "type"}
                layout.setdefault(GROUPS[event["type"]], []).append(item)
        else:
            layout = {"exogenous_events": spec["events"]}
        (root / "exogenous-events.yaml").write_text(yaml.safe_dump(layout, sort_keys=False))
    return root


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=_scenarios())
def test_resolved_round_trip(
    spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("generated")
    loaded = load_scenario(_write(base / "plain", spec, aliases=False, grouped=False))
    assert loaded.warnings == []
    rebuilt = Scenario.from_resolved(loaded.resolved)
    assert rebuilt == loaded.scenario
    assert list(rebuilt.actors) == spec["scenario"]["actors"]
    through_json = json.loads(json.dumps(loaded.resolved))
    assert through_json == loaded.resolved
    assert Scenario.from_resolved(through_json) == rebuilt
    assert json.loads(rebuilt.model_dump_json()) == loaded.resolved
    assert scenario_sha256(through_json) == loaded.sha256
    assert apply_overrides(loaded.resolved, {}) == loaded.resolved
    for short, actor in spec["actors"].items():
        goals = actor["goals"]
        assert rebuilt.actors[short].goals == ([goals] if isinstance(goals, str) else goals)

    # the same scenario spelled with aliases and grouped events resolves identically
    other = load_scenario(_write(base / "aliased", spec, aliases=True, grouped=True))
    assert other.resolved == loaded.resolved
    assert other.sha256 == loaded.sha256


@settings(max_examples=30, deadline=None)
@given(spec=_scenarios(), turns=st.integers(1, 40), initial=st.floats(0, 1, allow_nan=False))
def test_overrides_set_exactly_what_they_name(
    spec: dict[str, Any], turns: int, initial: float
) -> None:
    scenario = Scenario.model_validate({**spec["scenario"], "actors": spec["actors"]})
    resolved = json.loads(scenario.model_dump_json())
    name, var = next(iter(resolved["variables"].items()))
    value = var["min"] + initial * (var["max"] - var["min"])
    out = apply_overrides(resolved, {"turns": turns, f"variables.{name}.initial": value})
    assert out["turns"] == turns and out["variables"][name]["initial"] == value
    out["turns"], out["variables"][name]["initial"] = resolved["turns"], var["initial"]
    assert out == resolved
