"""A human seat in a rule-driven world chooses a declared action, and its effects apply.

The same seed with two different choices must differ in the world's variables by
exactly the difference of the two actions' effects: the human's choice is what moved
the world, through the same rules that apply an AI or rule-driven actor's choice.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eventstore import EventStore, HumanDecisionSubmitted, WorldUpdated
from tests.engine_helpers import HUMAN3, cli, last_line

PLAYER_ACTIONS = """
actions:
  - {name: reroute, description: Reroute power to hospitals, effects: {stability: 2}, narrative: "{actor} reroutes power."}
  - {name: blackout, description: Cut power to the capital, effects: {stability: -3}, narrative: "{actor} cuts the capital's power."}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    folder = tmp_path / "crisis"
    shutil.copytree(HUMAN3, folder)
    player = folder / "actors" / "player.yaml"
    player.write_text(player.read_text() + PLAYER_ACTIONS)
    return folder


def _halted_run(scenario: Path, db: Path) -> str:
    result = cli("run", scenario, "--db", db, "--seed", "11")
    assert result.exit_code == 3, result.output  # halted: exit 3
    return last_line(result.stdout)


def _stability_after_turn_1(db: Path, run_id: str) -> float:
    with EventStore.open(db) as store:
        [world] = [e for e in store.read_events(run_id, to_turn=1) if isinstance(e, WorldUpdated)]
    return world.variables["stability"]


def test_the_chosen_actions_effects_move_the_world(scenario: Path, tmp_path: Path) -> None:
    outcomes = {}
    for choice in ("reroute", "blackout"):
        db = tmp_path / f"{choice}.db"
        run_id = _halted_run(scenario, db)
        decided = cli("decide", run_id, "--db", db, "--actor", "player", "--action-name", choice)
        assert decided.exit_code == 0, decided.output
        # it plays on to the seat's next turn and halts there again: exit 3
        assert cli("resume", run_id, "--db", db).exit_code == 3
        outcomes[choice] = _stability_after_turn_1(db, run_id)
        audit = json.loads(
            cli("audit", run_id, "--db", db, "--actor", "player", "--turn", "1", "--json").stdout
        )
        assert audit["decision"]["action_name"] == choice
        sql = cli(
            "sql",
            "SELECT action_name FROM decisions WHERE human AND turn = 1",
            "--db",
            db,
            "--format",
            "csv",
        )
        assert sql.exit_code == 0, sql.output
        assert sql.stdout.split() == ["action_name", choice]
    assert outcomes["reroute"] - outcomes["blackout"] == pytest.approx(5.0)


def test_the_action_text_defaults_to_the_declared_description(
    scenario: Path, tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    run_id = _halted_run(scenario, db)
    assert (
        cli("decide", run_id, "--db", db, "--actor", "player", "--action-name", "reroute").exit_code
        == 0
    )
    shown = cli("audit", run_id, "--db", db, "--actor", "player")
    assert "action: Reroute power to hospitals [reroute]" in shown.stdout


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (
            ["--action", "Hold on."],
            "player must choose one of its declared actions",
            "reroute, blackout",
        ),
        (
            ["--action-name", "surrender"],
            "'surrender' is not one of player's actions",
            "reroute, blackout",
        ),
    ],
)
def test_a_missing_or_unknown_action_name_is_refused(
    scenario: Path, tmp_path: Path, args: list[str], error: str, hint: str
) -> None:
    db = tmp_path / "log.db"
    run_id = _halted_run(scenario, db)
    result = cli("decide", run_id, "--db", db, "--actor", "player", *args)
    assert result.exit_code == 2
    assert error in result.stderr and hint in result.stderr
    assert "Traceback" not in result.output
    with EventStore.open(db) as store:  # nothing recorded
        assert not [e for e in store.read_events(run_id) if isinstance(e, HumanDecisionSubmitted)]


def test_an_action_name_for_a_seat_without_actions_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    run_id = _halted_run(HUMAN3, db)
    result = cli("decide", run_id, "--db", db, "--actor", "player", "--action-name", "reroute")
    assert result.exit_code == 2
    assert "player declares no actions" in result.stderr and "--action TEXT" in result.stderr


def test_interactive_choice_of_an_action(scenario: Path, tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    # an unknown name is asked again; an empty action text takes the description
    answers = "".join("surrender\nblackout\n\nno choice\n\n" for _ in range(3))
    result = cli("run", scenario, "--db", db, "--interactive", "--seed", "11", input=answers)
    assert result.exit_code == 0, result.output
    with EventStore.open(db) as store:
        run_id = last_line(result.stdout)
        subs = [e for e in store.read_events(run_id) if isinstance(e, HumanDecisionSubmitted)]
    assert [(s.action_name, s.action) for s in subs] == [
        ("blackout", "Cut power to the capital")
    ] * 3
