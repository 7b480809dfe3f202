"""``scenario-lab init``: each kind of starter validates with nothing to fix and plays."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.scenario.load import validate_scenario
from tests.engine_helpers import cli, last_line, llm_env, payloads, runs_json
from tests.fakellm import FakeLLMServer


@pytest.mark.parametrize("flag", ["", "--rules", "--llm", "--human"])
def test_init_writes_a_scenario_that_validates_cleanly(flag: str, tmp_path: Path) -> None:
    folder = tmp_path / "fishing-dispute"
    result = cli("init", folder, *([flag] if flag else []))
    assert result.exit_code == 0, result.output
    written = result.stdout.splitlines()
    assert written[0] == str(folder / "scenario.yaml") and all(Path(p).is_file() for p in written)
    assert f"scenario-lab validate {folder}" in result.stderr
    assert validate_scenario(folder) == []  # no error, no warning
    assert 'name: "Fishing Dispute"' in (folder / "scenario.yaml").read_text()


def test_the_rule_starter_plays_offline_and_its_actors_react(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    assert cli("init", folder).exit_code == 0
    db = tmp_path / "log.db"
    result = cli("run", folder, "--db", db, "--seed", "5")
    assert result.exit_code == 0, result.output
    [run] = runs_json(db)
    assert (run["status"], run["turns_completed"]) == ("completed", 6)
    decisions = {
        (turn, p["actor"]): p
        for turn, kind, p in payloads(db, last_line(result.stdout))
        if kind == "DecisionMade"
    }
    # the south's weight reads last turn's northern patrol, and escort_boats is open only
    # after one
    for turn in range(2, 7):
        patrolled = decisions[(turn - 1, "north")]["action_name"] == "patrol"
        why = decisions[(turn, "south")]["reasoning"]
        assert ("weights now: tension +0.6" in why) is patrolled, why
        assert ("not available: escort_boats" in why) is not patrolled, why
    north = {decisions[(t, "north")]["action_name"] for t in range(1, 6)}
    assert "patrol" in north and len(north) > 1  # both cases were seen


def test_the_llm_starter_plays_against_a_model(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    assert cli("init", folder, "--llm").exit_code == 0
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        result = cli("run", folder, "--db", db, env=llm_env(fake.base_url))
    assert result.exit_code == 0, result.output
    [run] = runs_json(db)
    assert (run["status"], run["turns_completed"]) == ("completed", 3)


def test_the_human_starter_waits_for_its_seat_and_plays_with_answers(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    assert cli("init", folder, "--human").exit_code == 0
    db = tmp_path / "log.db"
    halted = cli("run", folder, "--db", db)
    assert halted.exit_code == 3, halted.output  # halted: exit 3
    [run] = runs_json(db)
    assert (run["status"], run["halt_reason"]) == ("halted", "human_input")
    answer = "talks\nWe offer talks on shared quotas.\nCalm matters.\nKeep fishing\n"
    resumed = cli("resume", run["run_id"], "--db", db, "--interactive", input=answer * 4)
    assert resumed.exit_code == 0, resumed.output
    assert runs_json(db)[0]["status"] == "completed"


def test_init_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    result = cli("init", folder)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"error: {folder} is a folder that is not empty; nothing was written (give a new or "
        "empty folder)\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    file = tmp_path / "file.yaml"
    file.write_text("x: 1\n")
    assert cli("init", file).exit_code == 2 and file.read_text() == "x: 1\n"


def test_init_takes_one_kind(tmp_path: Path) -> None:
    result = cli("init", tmp_path / "s", "--llm", "--human")
    assert result.exit_code == 2
    assert result.stderr == "error: give one of --rules, --llm, --human, not llm and human\n"
    assert not (tmp_path / "s").exists()
