"""Dotted-path overrides of a resolved scenario (batch parameter sweeps)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ScenarioInvalid
from engine.scenario.load import LoadedScenario, apply_overrides, load_scenario, scenario_sha256
from engine.scenario.model import Scenario

DATA = Path(__file__).parent / "data" / "scenarios"


@pytest.fixture(scope="module")
def loaded() -> LoadedScenario:
    return load_scenario(DATA / "rules-min")


def test_scenario_fields(loaded: LoadedScenario) -> None:
    out = apply_overrides(
        loaded.resolved,
        {"turns": 9, "variables.tension.initial": 2.5, "max_communications_per_turn": 0},
    )
    s = Scenario.from_resolved(out)
    assert (s.turns, s.variables["tension"].initial, s.max_communications_per_turn) == (9, 2.5, 0)
    assert s.variables["tension"].max == 10  # the rest of the variable is kept


def test_actor_fields(loaded: LoadedScenario) -> None:
    out = apply_overrides(
        loaded.resolved,
        {
            "actors.hawk.llm_model": "openai/gpt-4o-mini",
            "actors.hawk.preferences.tension": -2,
            "actors.hawk.preferences.trade": 0.9,
            "actors.dove.rule_temperature": 0.1,
            "actors.hawk.actions.1.effects.trade": 4,
        },
    )
    hawk = Scenario.from_resolved(out).actors["hawk"]
    assert hawk.llm_model == "openai/gpt-4o-mini"
    assert hawk.preferences == {"tension": -2.0, "trade": 0.9}
    assert hawk.actions[1].effects == {"tension": -1.0, "trade": 4.0}
    assert Scenario.from_resolved(out).actors["dove"].rule_temperature == 0.1


def test_a_new_key_in_an_open_mapping(loaded: LoadedScenario) -> None:
    out = apply_overrides(loaded.resolved, {"actors.dove.actions.0.effects.tension": -0.5})
    assert out["actors"]["dove"]["actions"][0]["effects"] == {"trade": 5.0, "tension": -0.5}


def test_values_are_coerced_and_the_result_is_canonical(loaded: LoadedScenario) -> None:
    out = apply_overrides(loaded.resolved, {"turns": "7", "turn_duration": "2 Weeks"})
    assert (out["turns"], out["turn_duration"]) == (7, "2 weeks")


def test_aliases_work_in_paths(loaded: LoadedScenario) -> None:
    out = apply_overrides(loaded.resolved, {"num_turns": 5, "actors.hawk.model": "x/y"})
    assert out["turns"] == 5 and out["actors"]["hawk"]["llm_model"] == "x/y"
    assert "num_turns" not in out


def test_the_input_is_not_changed(loaded: LoadedScenario) -> None:
    before = copy.deepcopy(loaded.resolved)
    out = apply_overrides(loaded.resolved, {"turns": 2, "actors.hawk.preferences.tension": 3})
    assert loaded.resolved == before
    assert scenario_sha256(out) != loaded.sha256
    assert apply_overrides(loaded.resolved, {}) == loaded.resolved


def test_loaded_scenario_with_overrides(loaded: LoadedScenario) -> None:
    varied = loaded.with_overrides({"variables.trade.initial": 80})
    assert varied.scenario.variables["trade"].initial == 80
    assert varied.sha256 == scenario_sha256(varied.resolved) != loaded.sha256
    assert varied.warnings == loaded.warnings


BAD_PATHS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown top-level field": (
        {"turnz": 3},
        "override 'turnz': no field 'turnz' at the top level (valid: actors, background, "
        "context_window_size, description, enable_bilateral_communication,",
    ),
    "unknown actor": (
        {"actors.falcon.llm_model": "x"},
        "override 'actors.falcon.llm_model': no key 'falcon' at actors (valid: broker, dove, hawk)",
    ),
    "unknown actor field": (
        {"actors.hawk.llm_modle": "x"},
        "override 'actors.hawk.llm_modle': no field 'llm_modle' at actors.hawk (valid: actions, "
        "communication_style, constraints, context_window_tokens, control, decision_style,",
    ),
    "unknown variable": (
        {"variables.morale.initial": 3},
        "override 'variables.morale.initial': no key 'morale' at variables (valid: tension, trade)",
    ),
    "unknown variable field": (
        {"variables.tension.start": 3},
        "override 'variables.tension.start': no field 'start' at variables.tension (valid: "
        "description, drift, initial, max, min, noise)",
    ),
    "list index out of range": (
        {"actors.hawk.actions.5.effects.tension": 1},
        "override 'actors.hawk.actions.5.effects.tension': no item '5' at actors.hawk.actions "
        "(valid indexes: 0 to 1)",
    ),
    "a path through a single value": (
        {"turns.max": 3},
        "override 'turns.max': turns is a single value, not a mapping with 'max'",
    ),
    "a path into an unset part": (
        {"validation.halt_on_critical": True},
        "override 'validation.halt_on_critical': validation is not set; override it as a whole",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PATHS))
def test_bad_paths_name_the_path_and_the_valid_keys(loaded: LoadedScenario, case: str) -> None:
    overrides, expected = BAD_PATHS[case]
    with pytest.raises(ScenarioInvalid) as caught:
        apply_overrides(loaded.resolved, overrides)
    assert caught.value.message.startswith(expected), caught.value.message
    assert caught.value.problems == [caught.value.message]


BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "a value of the wrong type": (
        {"turns": "many"},
        "override 'turns': turns: should be a valid integer, unable to parse string as an "
        "integer, not 'many'",
    ),
    "a value out of range": (
        {"turns": 0},
        "override 'turns': turns: should be greater than or equal to 1, not 0",
    ),
    "a preference on an undeclared variable": (
        {"actors.hawk.preferences.morale": 1},
        "override 'actors.hawk.preferences.morale': actors.hawk.preferences: names 'morale', "
        "which scenario.yaml does not declare under `variables:` (declared: tension, trade)",
    ),
    "an initial value outside the variable's range": (
        {"variables.tension.initial": 11},
        "override 'variables.tension.initial': variables.tension.initial: 11 is outside [0, 10]",
    ),
    "an unknown control": (
        {"actors.broker.control": "robot"},
        "override 'actors.broker.control': actors.broker.control: should be 'ai', 'human', "
        "'scripted' or 'rules', not 'robot'",
    ),
    "a scripted actor left without its script": (
        {"actors.broker.script": [], "turns": 6},
        "override 'actors.broker.script': actors.broker.script: control: scripted needs a "
        "`script:` list of actions, one per turn",
    ),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_invalid_values_are_reported_with_their_override(loaded: LoadedScenario, case: str) -> None:
    overrides, expected = BAD_VALUES[case]
    with pytest.raises(ScenarioInvalid) as caught:
        apply_overrides(loaded.resolved, overrides)
    assert caught.value.message.startswith(expected), caught.value.message


def test_a_new_variable_can_be_added_whole(loaded: LoadedScenario) -> None:
    out = apply_overrides(
        loaded.resolved, {"variables.morale": {"initial": 5, "min": 0, "max": 10}}
    )
    assert Scenario.from_resolved(out).variables["morale"].noise == 0
