"""Loading scenario directories: aliases, both exogenous layouts, normalisation, and the
resolved scenario a run records (round trip, independence from the files, its hash)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from engine.scenario.load import LoadedScenario, load_scenario, scenario_sha256
from engine.scenario.model import Actor, ExogenousEvent, Scenario, ScriptEntry

DATA = Path(__file__).parent / "data" / "scenarios"


def _copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(DATA / name, root)
    return root


@pytest.fixture(scope="module")
def rules_min() -> LoadedScenario:
    return load_scenario(DATA / "rules-min")


@pytest.fixture(scope="module")
def lab_format() -> LoadedScenario:
    return load_scenario(DATA / "scenario-lab-format")


def test_scenario_level_aliases(lab_format: LoadedScenario) -> None:
    s = lab_format.scenario
    assert s.turns == 3  # from scenario_length: {type: fixed, turns: 3}
    assert s.context_window_size == 2  # from context_window
    assert s.turn_duration == "2 weeks"  # "2 Weeks" normalised
    assert (s.enable_bilateral_communication, s.enable_coalition_formation) == (True, True)
    assert s.enable_public_statements and s.max_communications_per_turn == 3
    assert "context_window" not in lab_format.resolved
    assert lab_format.resolved["context_window_size"] == 2
    assert lab_format.warnings == []


def test_num_turns_alias(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    text = (root / "scenario.yaml").read_text().replace("turns: 4", "num_turns: 6")
    (root / "scenario.yaml").write_text(text)
    loaded = load_scenario(root)
    assert loaded.scenario.turns == 6 and loaded.resolved["turns"] == 6
    assert "num_turns" not in loaded.resolved


def test_actor_aliases_and_normalisation(lab_format: LoadedScenario) -> None:
    techco = lab_format.scenario.actors["techco"]
    assert techco.llm_model == "openai/gpt-4o-mini"  # from model:
    assert techco.decision_style == "Pragmatic"  # from decision_making_style:
    assert techco.goals == ["Keep export licences simple"]  # one string -> list
    assert techco.constraints == ["Cannot share customer lists"]
    assert techco.personality_traits == ["cautious"]
    assert techco.expertise == {"technical": "chip design, supply chains", "policy": "export law"}
    assert techco.private_information.splitlines() == [
        "- Sales to the restricted market are 30% of revenue",
        "- A competitor is lobbying for tighter rules",
    ]
    assert techco.control == "ai"  # the default
    regulator = lab_format.scenario.actors["regulator"]
    assert regulator.expertise == ["administrative law"]
    assert regulator.personality_traits == ["patient", "legalistic"]
    ngo = lab_format.scenario.actors["ngo"]
    assert ngo.control == "human" and ngo.llm_model == "anthropic/claude-3-haiku"
    assert ngo.expertise == ["surveillance technology", "human rights law"]
    resolved = lab_format.resolved["actors"]["techco"]
    assert "model" not in resolved and "decision_making_style" not in resolved


def test_aliases_on_the_model_itself() -> None:
    actor = Actor.model_validate(
        {"name": "A", "short_name": "a", "model": "m/x", "decision_making_style": "Bold"}
    )
    assert (actor.llm_model, actor.decision_style) == ("m/x", "Bold")
    assert actor.model_dump()["llm_model"] == "m/x"


def test_actors_keep_the_listed_order(
    lab_format: LoadedScenario, rules_min: LoadedScenario
) -> None:
    assert list(lab_format.scenario.actors) == ["techco", "regulator", "ngo"]
    assert list(rules_min.scenario.actors) == ["hawk", "dove", "broker"]
    assert list(rules_min.resolved["actors"]) == ["hawk", "dove", "broker"]


def test_grouped_exogenous_layout_becomes_flat(lab_format: LoadedScenario) -> None:
    events = lab_format.scenario.exogenous_events
    assert [(e.name, e.type, e.once) for e in events] == [
        ("Vote", "scheduled", True),
        ("Leak", "random", False),
        ("Deal momentum", "conditional", True),
        ("Press coverage", "trend", False),
    ]
    assert events[1].turn_range == (1, 2)
    assert events[2].conditions == {"cooperation": ">= 7"}


def test_flat_exogenous_layout(rules_min: LoadedScenario) -> None:
    events = rules_min.scenario.exogenous_events
    assert [e.type for e in events] == ["scheduled", "random", "conditional", "trend"]
    assert [e.once for e in events] == [True, False, True, False]  # defaults by type
    assert events[0].effects == {"trade": -10}
    # comparisons are stored in one canonical form; a bare number means equality
    assert events[2].conditions == {"tension": ">= 7", "talk_mentions": "== 0"}


def test_once_can_be_set_explicitly() -> None:
    event = ExogenousEvent.model_validate(
        {"name": "E", "type": "scheduled", "turn": 2, "once": False}
    )
    assert event.once is False


def test_metrics_validation_and_background(lab_format: LoadedScenario) -> None:
    metrics = {m.name: m for m in lab_format.scenario.metrics}
    assert metrics["cooperation"].range == (0, 10)
    assert metrics["cooperation"].extraction.model == "openai/gpt-4o-mini"
    assert metrics["licence_mentions"].extraction.scoring == "density"
    assert metrics["licence_mentions"].actor_specific
    assert metrics["percent"].extraction.group == "value"
    assert metrics["stance"].categories == ["strict", "balanced", "lax"]
    assert metrics["agreement"].type == "boolean"
    validation = lab_format.scenario.validation
    assert validation is not None
    assert list(validation.checks) == ["actor_consistency", "plausibility"]  # list form
    assert validation.checks["actor_consistency"].severity == "medium"  # the default
    assert validation.checks["plausibility"].enabled is False
    assert (validation.run_after_each_turn, validation.halt_on_critical) == (False, True)
    assert validation.max_issues_before_halt == 3
    assert lab_format.scenario.background == {
        "brief.md": "# Brief\nSemiconductor exports rose 12% last year.\n"
    }


def test_rule_scenario_parts(rules_min: LoadedScenario) -> None:
    s = rules_min.scenario
    assert s.variables["tension"].drift == 0.1 and s.variables["tension"].noise == 0.2
    assert s.variables["trade"].drift == 0 and s.variables["trade"].noise == 0  # defaults
    hawk = s.actors["hawk"]
    assert hawk.goals == ["Hold the river line"]
    assert [a.name for a in hawk.actions] == ["patrol", "talk"]
    assert hawk.preferences == {"tension": 0.5, "trade": 0.2}
    assert hawk.rule_temperature == 1.0 and s.actors["dove"].rule_temperature == 0.5
    # background documents sorted by file name
    assert list(s.background) == ["a-history.md", "b-notes.md"]
    assert s.start_date == "2030-01-31"


def test_script_entries_are_normalised_and_the_last_repeats(rules_min: LoadedScenario) -> None:
    broker = rules_min.scenario.actors["broker"]
    assert broker.script == [
        ScriptEntry(action="Calls both capitals."),
        ScriptEntry(
            action="Hosts a meeting.",
            reasoning="Momentum matters.",
            goals=["Keep talking"],
            action_name="mediate",
        ),
    ]
    assert broker.script_entry(1).action == "Calls both capitals."
    assert broker.script_entry(2).action_name == "mediate"
    assert broker.script_entry(9) == broker.script[-1]


def test_a_scripted_actor_may_give_one_string(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    (root / "actors" / "broker.yaml").write_text(
        "name: Broker\nshort_name: broker\ncontrol: scripted\nscript: Urges restraint.\n"
    )
    broker = load_scenario(root).scenario.actors["broker"]
    assert broker.script_entry(3).action == "Urges restraint."


def test_short_name_defaults_to_the_file_name(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    path = root / "actors" / "broker.yaml"
    path.write_text(path.read_text().replace("short_name: broker\n", ""))
    assert load_scenario(root).scenario.actors["broker"].short_name == "broker"


def test_yml_extension_and_unquoted_dates(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    (root / "scenario.yaml").rename(root / "scenario.yml")
    text = (root / "scenario.yml").read_text().replace('"2030-01-31"', "2030-01-31")
    (root / "scenario.yml").write_text(text)
    loaded = load_scenario(root)
    assert loaded.scenario.start_date == "2030-01-31"  # YAML's date, kept as ISO text
    json.dumps(loaded.resolved)


def test_without_an_actors_list_every_file_is_played(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    text = (root / "scenario.yaml").read_text().replace("actors: [hawk, dove, broker]\n", "")
    (root / "scenario.yaml").write_text(text)
    loaded = load_scenario(root)
    assert list(loaded.scenario.actors) == ["broker", "dove", "hawk"]
    assert any("scenario.yaml: actors: not given" in w for w in loaded.warnings)


def test_resolved_round_trip(rules_min: LoadedScenario, lab_format: LoadedScenario) -> None:
    for loaded in (rules_min, lab_format):
        rebuilt = Scenario.from_resolved(loaded.resolved)
        assert rebuilt == loaded.scenario
        assert list(rebuilt.actors) == list(loaded.scenario.actors)
        assert json.loads(rebuilt.model_dump_json()) == loaded.resolved
        # through JSON, as RunStarted stores it
        assert Scenario.from_resolved(json.loads(json.dumps(loaded.resolved))) == rebuilt


def test_resolved_holds_every_file(rules_min: LoadedScenario) -> None:
    r = rules_min.resolved
    assert set(r) >= {"actors", "metrics", "validation", "exogenous_events", "background"}
    assert r["background"]["a-history.md"] == "# First\nA text.\n"
    assert r["actors"]["broker"]["script"][0] == {
        "action": "Calls both capitals.",
        "reasoning": "",
        "goals": [],
        "action_name": None,
    }
    assert r["metrics"][0]["extraction"]["keywords"] == ["talks"]


def test_editing_files_later_changes_no_resolved_scenario(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    first = load_scenario(root)
    kept = copy.deepcopy(first.resolved)
    (root / "scenario.yaml").write_text(
        (root / "scenario.yaml").read_text().replace("turns: 4", "turns: 9")
    )
    (root / "background" / "a-history.md").write_text("rewritten")
    (root / "actors" / "hawk.yaml").unlink()
    assert first.resolved == kept
    rebuilt = Scenario.from_resolved(first.resolved)
    assert rebuilt.turns == 4 and rebuilt.background["a-history.md"] == "# First\nA text.\n"
    assert "hawk" in rebuilt.actors


def test_sha256_is_of_the_canonical_json(rules_min: LoadedScenario) -> None:
    import hashlib

    canonical = json.dumps(rules_min.resolved, sort_keys=True, separators=(",", ":"))
    assert rules_min.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    assert rules_min.sha256 == scenario_sha256(rules_min.resolved)


def test_sha256_is_stable_and_sensitive(tmp_path: Path) -> None:
    a = load_scenario(DATA / "rules-min")
    b = load_scenario(_copy("rules-min", tmp_path))  # another path, same content
    assert a.sha256 == b.sha256
    reordered = dict(reversed(list(a.resolved.items())))
    assert scenario_sha256(reordered) == a.sha256
    root = tmp_path / "rules-min"
    path = root / "background" / "b-notes.md"
    path.write_text(path.read_text() + "One more line.\n")
    assert load_scenario(root).sha256 != a.sha256


def test_from_resolved_accepts_older_recordings(rules_min: LoadedScenario) -> None:
    old = copy.deepcopy(rules_min.resolved)
    old["actors"]["broker"]["script"][0] = "Calls both capitals."  # entries were plain text
    old["exogenous_events"][2]["conditions"] = {"tension": ">= 7", "talk_mentions": 0}
    assert Scenario.from_resolved(old) == rules_min.scenario


def test_conditions_keep_every_digit() -> None:
    event = ExogenousEvent.model_validate(
        {
            "name": "E",
            "type": "conditional",
            "conditions": {"a": ">= 1234567.5", "b": 0.1, "c": "= -3", "d": "<1000000"},
        }
    )
    assert event.conditions == {"a": ">= 1234567.5", "b": "== 0.1", "c": "== -3", "d": "< 1000000"}
