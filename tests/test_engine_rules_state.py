"""State-aware rule actors: weights and conditions that read the world, and what that
does to a counterfactual (issue 15 item 2)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from engine.fold.state import ActorState, Decision, WorldState
from engine.play.rules import choose, opening, situation, utilities
from engine.scenario.model import Actor, Variable
from tests.engine_helpers import cli, last_line, payloads

STRAIT = Path(__file__).parent.parent / "scenarios" / "strait-crisis"
VARIABLES = {
    "tension": Variable(initial=5, min=0, max=10),
    "trade": Variable(initial=50, min=0, max=100),
}


def _actor(**fields: Any) -> Actor:
    data: dict[str, Any] = {
        "name": "The Hawk",
        "short_name": "hawk",
        "control": "rules",
        "actions": [
            {"name": "escalate", "effects": {"tension": 2}, "narrative": "{actor} escalates."},
            {"name": "calm", "effects": {"tension": -2}, "narrative": "{actor} calms."},
        ],
        "preferences": {"tension": "1 if tension < 7 else -1"},
        **fields,
    }
    return Actor.model_validate(data)


def _state(tension: float, last: dict[str, str] | None = None, turn: int = 5) -> Any:
    """A folded state's parts that rule actors read: the world and the recent decisions."""
    actors = {
        who: ActorState(recent=(Decision(turn=turn - 1, actor=who, request_id="r", action_name=a),))
        for who, a in (last or {}).items()
    }
    return SimpleNamespace(
        world=WorldState(variables={"tension": tension, "trade": 50.0}), actors=actors
    )


def test_situation_reads_the_world_and_last_turns_actions() -> None:
    state = _state(8.5, {"a": "patrol", "b": "patrol", "c": "talk"}, turn=5)
    # an older decision does not count
    state.actors["d"] = ActorState(
        recent=(Decision(turn=3, actor="d", request_id="r", action_name="talk"),)
    )
    names = situation(state, VARIABLES, 5)
    assert (names["tension"], names["trade"], names["turn"]) == (8.5, 50.0, 5.0)
    assert (names["patrol"], names["talk"], names["never_chosen"]) == (2.0, 1.0, 0.0)
    assert opening(VARIABLES) == {"turn": 1.0, "tension": 5.0, "trade": 50.0}


def test_a_weight_that_reads_the_state_turns_a_choice_around() -> None:
    hawk = _actor()
    calm_world = [
        choose(hawk, VARIABLES, seed=s, turn=5, state=_state(4)).action_name for s in range(300)
    ]
    tense_world = [
        choose(hawk, VARIABLES, seed=s, turn=5, state=_state(8)).action_name for s in range(300)
    ]
    assert Counter(calm_world)["escalate"] >= 270  # weight +1: escalating is worth +2
    assert Counter(tense_world)["calm"] >= 270  # weight -1: calming is worth +2
    assert utilities(hawk, VARIABLES, situation(_state(8), VARIABLES, 5)) == {
        "escalate": -2.0,
        "calm": 2.0,
    }


def test_a_weight_may_react_to_what_was_done_last_turn() -> None:
    hawk = _actor(preferences={"tension": "2 * patrol - 1"})
    provoked = choose(hawk, VARIABLES, seed=1, turn=5, state=_state(5, {"rival": "patrol"}))
    assert provoked.reasoning == (
        "utilities by preferences: escalate +2.00, calm -2.00; drew escalate; weights now: tension +1"
    )
    ignored = choose(hawk, VARIABLES, seed=1, turn=5, state=_state(5, {"rival": "talk"}))
    assert ignored.action_name == "calm"


def test_an_action_whose_condition_fails_is_never_chosen() -> None:
    hawk = _actor(
        preferences={"tension": 1.0},
        actions=[
            {"name": "escalate", "effects": {"tension": 2}, "when": "tension < 7"},
            {"name": "calm", "effects": {"tension": -2}},
        ],
    )
    picks = {
        choose(hawk, VARIABLES, seed=s, turn=2, state=_state(8)).action_name for s in range(100)
    }
    assert picks == {"calm"}
    choice = choose(hawk, VARIABLES, seed=0, turn=2, state=_state(8))
    assert choice.reasoning.endswith("; not available: escalate (when: tension < 7)")
    assert choose(hawk, VARIABLES, seed=0, turn=2, state=_state(3)).action_name == "escalate"


def test_when_no_condition_holds_every_action_is_open() -> None:
    hawk = _actor(
        preferences={"tension": 1.0},
        actions=[
            {"name": "escalate", "effects": {"tension": 2}, "when": "turn > 9"},
            {"name": "calm", "effects": {"tension": -2}, "when": "turn > 9"},
        ],
    )
    choice = choose(hawk, VARIABLES, seed=0, turn=2, state=_state(5, turn=2))
    assert choice.reasoning.endswith("; no action's `when:` held, so every action was open")


def test_constant_weights_choose_and_explain_as_before() -> None:
    # the choice and its log text of an actor without expressions are unchanged, so runs
    # of scenarios written before expressions existed replay as they were recorded
    plain = _actor(preferences={"tension": -1.0})
    with_state = choose(plain, VARIABLES, seed=4, turn=3, state=_state(9, {"x": "calm"}))
    without = choose(plain, VARIABLES, seed=4, turn=3)
    assert with_state == without
    assert without.reasoning == "utilities by preferences: calm +2.00, escalate -2.00; drew calm"


# -- a counterfactual in the bundled strait-crisis ----------------------------------------

SEEDS = range(100, 116)
HAWKISH = {"naval_patrols", "live_fire_drill"}


def _branches(tmp_path: Path, scenario: Path, db: Path) -> dict[str, list[dict[int, str]]]:
    """Play the scenario, then fork it at turn 4 with the western power's move forced both
    ways, once per seed (the same seeds for both: common random numbers). Per forced move,
    per seed: the eastern power's decisions of turns 6 and 7."""
    played = cli("run", scenario, "--seed", "7", "--db", db)
    assert played.exit_code == 0, played.output
    run = last_line(played.stdout)
    out: dict[str, list[dict[int, str]]] = {}
    for move in ("freedom_of_navigation", "back_channel"):
        out[move] = []
        for seed in SEEDS:
            forked = cli(
                "fork", run, "--at-turn", "4", "--decision", f"western-power={move}",
                "--seed", str(seed), "--turns", "7", "--play", "--db", db,
            )  # fmt: skip
            assert forked.exit_code == 0, forked.output
            out[move].append(
                {
                    turn: p["action_name"]
                    for turn, kind, p in payloads(db, last_line(forked.stdout))
                    if kind == "DecisionMade" and p["actor"] == "eastern-power" and turn >= 6
                }
            )
    return out


@pytest.mark.slow
def test_a_counterfactual_changes_the_distribution_of_later_decisions(tmp_path: Path) -> None:
    # The eastern power values readiness three times as much after a destroyer transit
    # (its weight reads last turn's `freedom_of_navigation`). Forcing that transit in turn
    # 5, rather than a back channel, must shift its turn-6 choices toward patrols and drills.
    branches = _branches(tmp_path, STRAIT, tmp_path / "aware.db")
    transit = [b[6] for b in branches["freedom_of_navigation"]]
    channel = [b[6] for b in branches["back_channel"]]
    hawkish_after_transit = sum(a in HAWKISH for a in transit)
    hawkish_after_channel = sum(a in HAWKISH for a in channel)
    assert hawkish_after_transit - hawkish_after_channel >= 3, (transit, channel)
    # paired by seed, every decision that changed moved toward patrols and drills (with
    # the same draw, a larger readiness weight only widens their share of the interval)
    changed = [(t, c) for t, c in zip(transit, channel, strict=True) if t != c]
    assert changed and all(t in HAWKISH and c not in HAWKISH for t, c in changed), changed

    # The same actor with constant weights: for every seed, its later decisions are the
    # same in both branches. A counterfactual could only have added a constant to the
    # world, never changed what this actor does.
    constant = tmp_path / "constant"
    shutil.copytree(STRAIT, constant)
    east = constant / "actors" / "eastern-power.yaml"
    data = yaml.safe_load(east.read_text())
    data["preferences"] = {"tension": 0.1, "military_readiness": 0.4, "trade_flow": 0.4}
    east.write_text(yaml.safe_dump(data))
    fixed = _branches(tmp_path, constant, tmp_path / "constant.db")
    assert fixed["freedom_of_navigation"] == fixed["back_channel"]


def test_state_aware_choices_are_seeded_by_the_run(tmp_path: Path) -> None:
    def play(db: Path) -> tuple[str, list[Any]]:
        result = cli("run", STRAIT, "--seed", "7", "--db", db)
        assert result.exit_code == 0, result.output
        run = last_line(result.stdout)
        kept = ("DecisionMade", "WorldUpdated", "ExogenousEventTriggered")
        return run, [(t, k, p) for t, k, p in payloads(db, run) if k in kept]

    run, first = play(tmp_path / "a.db")
    assert play(tmp_path / "b.db")[1] == first  # same scenario and seed: the same log
    forked = cli(
        "fork", run, "--at-turn", "4", "--decision", "western-power=freedom_of_navigation",
        "--seed", "11", "--play", "--db", tmp_path / "a.db",
    )  # fmt: skip
    assert forked.exit_code == 0, forked.output
    for checked in (run, last_line(forked.stdout)):
        again = cli("replay", checked, "--check", "--db", tmp_path / "a.db")
        assert again.exit_code == 0, again.output
