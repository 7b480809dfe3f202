"""Scenario Lab's own scenarios and batch files run unchanged (issue 15 item 5).

``tests/data/scenario-lab`` is a small repository in Scenario Lab's layout, shaped like
its bundled ``example-full-featured`` scenario and ``experiments/`` batch files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.batch.config import load_batch
from engine.errors import ScenarioInvalid
from engine.scenario.load import load_scenario, validate_scenario
from tests.engine_helpers import cli, last_line, llm_env, payloads, runs_json
from tests.fakellm import FakeLLMServer

REPO = Path(__file__).parent / "data" / "scenario-lab"
TOWN = REPO / "scenarios" / "town-ai"


def test_an_actors_list_may_name_actor_files() -> None:
    # tech-company.yaml's short_name is techco; privacy-advocate.yaml is listed with .yaml
    scenario = load_scenario(TOWN).scenario
    assert list(scenario.actors) == ["mayor", "techco", "privacy"]
    assert scenario.actors["techco"].name.startswith("TechSolutions")


def test_a_short_name_wins_over_another_file_of_that_name(tmp_path: Path) -> None:
    root = tmp_path / "town"
    shutil.copytree(TOWN, root)
    # mayor.yaml now has short_name techco-rival; a file named techco.yaml has short_name
    # mayor: the list's `mayor` means the actor whose short_name is mayor
    (root / "actors" / "techco.yaml").write_text(
        "name: Deputy\nshort_name: mayor\nllm_model: openai/gpt-4o-mini\n"
    )
    (root / "actors" / "mayor.yaml").write_text(
        "name: Rival\nshort_name: rival\nllm_model: openai/gpt-4o-mini\n"
    )
    actors = load_scenario(root).scenario.actors
    assert actors["mayor"].name == "Deputy" and "rival" not in actors


def test_an_unknown_actor_entry_names_the_files_present(tmp_path: Path) -> None:
    root = tmp_path / "town"
    shutil.copytree(TOWN, root)
    text = (root / "scenario.yaml").read_text().replace("  - mayor\n", "  - city-hall\n")
    (root / "scenario.yaml").write_text(text)
    result = cli("validate", root)
    assert result.exit_code == 1
    assert (
        "error: scenario.yaml:15: actors.0: lists 'city-hall', which is neither an actor's "
        "short_name nor a file in actors/ (actor files: mayor.yaml (short_name mayor), "
        "privacy-advocate.yaml (short_name privacy), tech-company.yaml (short_name techco))"
    ) in result.stdout
    run = cli("run", root, "--db", tmp_path / "x.db")
    assert run.exit_code == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "lists 'city-hall'" in run.stderr
    assert not (tmp_path / "x.db").exists()


def test_grouped_event_sections_that_do_not_fit_warn_with_file_and_line() -> None:
    problems = validate_scenario(TOWN)
    assert [p for p in problems if p.severity == "error"] == []
    skipped = [str(p) for p in problems if "so it is skipped" in p.message]
    assert skipped == [
        "exogenous-events.yaml:4: trends.0: does not match the event schema (effects: should "
        "be a valid dictionary), so it is skipped (fix it to play it; `scenario-lab schema "
        "exogenous` prints the schema)",
        "exogenous-events.yaml:21: conditional_events.0: does not match the event schema "
        "(conditions: should be a valid dictionary), so it is skipped (fix it to play it; "
        "`scenario-lab schema exogenous` prints the schema)",
        "exogenous-events.yaml:28: scheduled_events.0: does not match the event schema (turn: "
        "a scheduled event needs `turn:`), so it is skipped (fix it to play it; `scenario-lab "
        "schema exogenous` prints the schema)",
    ]
    # the one that fits is played
    events = load_scenario(TOWN).scenario.exogenous_events
    assert [(e.name, e.type) for e in events] == [("federal_grant_opportunity", "random")]


def test_the_example_runs_against_a_model(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        result = cli("run", TOWN, "--db", db, env=llm_env(fake.base_url))
    assert result.exit_code == 0, result.output
    [summary] = runs_json(db)
    assert (summary["status"], summary["turns_completed"]) == ("completed", 2)
    assert "so it is skipped" in result.stderr  # the warnings were shown, not hidden
    fired = [
        p["name"]
        for _t, kind, p in payloads(db, last_line(result.stdout))
        if kind == "ExogenousEventTriggered"
    ]
    assert fired == ["federal_grant_opportunity"]  # probability 1, once; nothing skipped fired


# -- a batch file's base_scenario ---------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(REPO, tmp_path / "repo")
    return tmp_path / "repo"


def test_base_scenario_relative_to_the_working_directory(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)  # Scenario Lab ran from its repository root
    plan = load_batch("experiments/town-ai-models.yaml")
    assert plan.base is not None and plan.base.scenario.name == "Urban AI Deployment"
    assert len(plan.runs) == 2
    assert any("relative to the working directory" in w for w in plan.warnings)
    # the scenario's own warnings say which scenario they are about
    assert "scenarios/town-ai/scenario.yaml:19: features: unknown field, ignored" in " ".join(
        plan.warnings
    )


def test_base_scenario_beside_the_batch_file_comes_first(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside = repo / "experiments" / "scenarios" / "town-ai"
    shutil.copytree(TOWN, beside)
    text = (beside / "scenario.yaml").read_text().replace("Urban AI Deployment", "Beside")
    (beside / "scenario.yaml").write_text(text)
    monkeypatch.chdir(repo)
    plan = load_batch("experiments/town-ai-models.yaml")
    assert plan.base is not None and plan.base.scenario.name == "Beside"
    assert not any("working directory" in w for w in plan.warnings)


def test_base_scenario_may_name_its_scenario_yaml(repo: Path) -> None:
    batch = repo / "experiments" / "town-ai-models.yaml"
    text = batch.read_text().replace('"scenarios/town-ai"', '"../scenarios/town-ai/scenario.yaml"')
    batch.write_text(text)
    plan = load_batch(batch)
    assert plan.base is not None and plan.base.scenario.name == "Urban AI Deployment"


def test_base_scenario_found_nowhere_names_both_places(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo.parent)  # neither here nor beside the batch file
    batch = repo / "experiments" / "town-ai-models.yaml"
    with pytest.raises(ScenarioInvalid) as caught:
        load_batch(batch)
    assert caught.value.message == (
        f"{batch}: base_scenario: 'scenarios/town-ai' is a scenario directory neither beside "
        f"the batch file ({repo / 'experiments' / 'scenarios' / 'town-ai'}) nor in the "
        f"working directory ({repo.parent / 'scenarios' / 'town-ai'}) (give the scenario's "
        "folder, relative to the batch file's folder)"
    )
