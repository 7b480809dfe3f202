"""What each actor (and each judge) is shown: its own situation, never another's secrets."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.play.prompts import (
    DecisionContext,
    PastDecision,
    SeenMessage,
    actor_system_prompt,
    decision_messages,
    metric_messages,
    validation_messages,
    world_update_messages,
)


def make_actor(tag: str, **kw: Any) -> SimpleNamespace:
    base = {
        "name": f"{tag.title()} Power",
        "short_name": tag,
        "role": f"the {tag} government",
        "description": f"{tag} description text",
        "system_prompt": f"{tag} system prompt",
        "goals": [f"{tag} goal one", f"{tag} goal two"],
        "constraints": [f"{tag} constraint"],
        "decision_style": f"{tag} decides cautiously",
        "expertise": {"navy": f"{tag} naval doctrine", "trade": "tariffs"},
        "private_information": f"SECRET-{tag.upper()}-7731",
    }
    return SimpleNamespace(**{**base, **kw})


EAST = make_actor("east")
WEST = make_actor("west")
SCENARIO = SimpleNamespace(
    name="Strait Crisis",
    description="A standoff over a strait.",
    system_prompt="This is a simulation exercise.",
    initial_world_state="Ships gather near the strait.",
    background={"history.md": "The strait has been contested since 1950."},
)


def context(**kw: Any) -> DecisionContext:
    base: dict[str, Any] = {
        "turn": 4,
        "total_turns": 9,
        "simulated_date": "2031-05-14",
        "world_state": "Talks stalled; a tanker ran aground.",
        "own_recent": (PastDecision(3, "east moved two frigates", "show resolve"),),
        "older_digest": ("turn 1: both sides postured",),
        "messages": (
            SeenMessage(3, "west", ("east",), "bilateral", "talk", "shall we de-escalate?"),
            SeenMessage(3, "bloc", (), "public", "statement", "trade must flow"),
        ),
        "exogenous": (("Storm", "a storm closes the strait"),),
        "variables": {"tension": 7.25, "trade": 40.0},
        "actions": (("blockade", "close the strait"), ("talk", "open talks")),
    }
    return DecisionContext(**{**base, **kw})


def user_text(messages: list[dict[str, str]]) -> str:
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def all_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages)


def test_decision_prompt_shows_the_actor_its_whole_situation() -> None:
    msgs = decision_messages(SCENARIO, EAST, context())
    text = user_text(msgs)
    for expected in [
        "East Power, the east government",
        "east description text",
        "- east goal one",
        "- east goal two",
        "- east constraint",
        "east decides cautiously",
        "- navy: east naval doctrine",
        "SECRET-EAST-7731",
        "## Background: history.md",
        "The strait has been contested since 1950.",
        "Ships gather near the strait.",
        "Turn 4 of 9 (2031-05-14)",
        "Talks stalled; a tanker ran aground.",
        "- turn 3: east moved two frigates",
        "turn 1: both sides postured",
        "[turn 3, bilateral] west to east (talk): shall we de-escalate?",
        "[turn 3, public] bloc to everyone (statement): trade must flow",
        "- Storm: a storm closes the strait",
        "- tension: 7.25",
        "- trade: 40",
        "- blockade: close the strait",
        "- talk: open talks",
        "action_name (one of the available actions)",
    ]:
        assert expected in text, expected
    system = msgs[0]["content"]
    assert "This is a simulation exercise." in system
    assert "east system prompt" in system
    assert system.endswith("You are East Power, the east government.")


def test_decision_prompt_never_shows_another_actors_private_information() -> None:
    for me, other in ((EAST, WEST), (WEST, EAST)):
        text = all_text(decision_messages(SCENARIO, me, context()))
        assert me.private_information in text
        assert other.private_information not in text
        assert other.system_prompt not in text
        assert other.goals[0] not in text


@given(
    st.text(st.characters(categories=["L", "N"]), min_size=6, max_size=30),
    st.text(st.characters(categories=["L", "N"]), min_size=6, max_size=30),
)
def test_private_information_stays_private(mine: str, theirs: str) -> None:
    me = make_actor("east", private_information=mine)
    text = all_text(decision_messages(SCENARIO, me, context()))
    assume(theirs not in text)
    other = make_actor("west", private_information=theirs)
    assert mine in text
    # the other actor exists in the same scenario; building its prompt changes nothing
    decision_messages(SCENARIO, other, context())
    assert theirs not in all_text(decision_messages(SCENARIO, me, context()))


def test_optional_sections_are_left_out_when_empty() -> None:
    bare = make_actor(
        "east",
        role="",
        goals=[],
        constraints=[],
        decision_style="",
        expertise=[],
        private_information="",
    )
    ctx = DecisionContext(turn=1, total_turns=3, simulated_date=None, world_state="")
    text = user_text(decision_messages(SCENARIO, bare, ctx))
    assert "Turn 1 of 3\n" in text  # no date
    assert "## Your goals\n(none)" in text
    assert "## Your decision style\n(not stated)" in text
    assert "## Your expertise\n(none)" in text
    assert "(unchanged)" in text
    for absent in (
        "Private information",
        "Indicators",
        "Events this turn",
        "Communications",
        "Earlier turns",
        "Your recent decisions",
        "Actions available",
    ):
        assert absent not in text, absent
    assert "action_name (null)" in text
    no_background = SimpleNamespace(**{**vars(SCENARIO), "background": None})
    assert "Background" not in user_text(decision_messages(no_background, bare, ctx))


def test_expertise_as_a_list() -> None:
    actor = make_actor("east", expertise=["sonar", "logistics"])
    text = user_text(decision_messages(SCENARIO, actor, context()))
    assert "## Your expertise\n- sonar\n- logistics" in text


def test_task_replaces_the_closing_instructions() -> None:
    text = user_text(decision_messages(SCENARIO, EAST, context(), task="Plan your messages now."))
    assert text.rstrip().endswith("## Your task\nPlan your messages now.")
    assert "Decide what you do this turn" not in text
    # the situation shown is the same as for the decision
    plain = user_text(decision_messages(SCENARIO, EAST, context()))
    assert text.split("## Your task")[0] == plain.split("## Your task")[0]


def test_markdown_instructions_when_json_mode_is_off() -> None:
    text = user_text(decision_messages(SCENARIO, EAST, context(json_mode=False)))
    assert "**ACTION:**" in text and "**ACTION NAME:**" in text
    assert "JSON" not in text
    text = user_text(decision_messages(SCENARIO, EAST, context(json_mode=False, actions=())))
    assert "**ACTION NAME:**" not in text


def test_actor_system_prompt_without_role_or_prompts() -> None:
    s = SimpleNamespace(system_prompt="")
    assert actor_system_prompt(s, make_actor("east", role="", system_prompt="")) == (
        "You are East Power."
    )


def test_world_update_includes_every_decision_and_event() -> None:
    msgs = world_update_messages(
        SCENARIO,
        turn=4,
        total_turns=9,
        simulated_date="2031-05-14",
        previous="Talks stalled.",
        decisions=[("East Power", "moves frigates"), ("West Power", "calls the UN")],
        exogenous=[("Storm", "a storm closes the strait"), ("Strike", "dockers strike")],
        public_messages=["bloc: trade must flow"],
    )
    text = user_text(msgs)
    for expected in [
        "Strait Crisis",
        "A standoff over a strait.",
        "Talks stalled.",
        "Actions taken in turn 4 of 9 (2031-05-14)",
        "- East Power: moves frigates",
        "- West Power: calls the UN",
        "- Storm: a storm closes the strait",
        "- Strike: dockers strike",
        "- bloc: trade must flow",
        "neutral adjudicator",
    ]:
        assert expected in text, expected
    assert msgs[0]["content"] == "This is a simulation exercise."
    for actor in (EAST, WEST):
        assert actor.private_information not in all_text(msgs)


def test_world_update_of_a_quiet_first_turn() -> None:
    quiet = SimpleNamespace(**{**vars(SCENARIO), "system_prompt": ""})
    msgs = world_update_messages(
        quiet, turn=1, total_turns=2, simulated_date=None, previous="", decisions=[], exogenous=[]
    )
    text = user_text(msgs)
    assert "Ships gather near the strait." in text  # the initial state stands in
    assert "(no actor acted)" in text
    assert "## Events" not in text and "Public statements" not in text
    assert msgs[0]["content"] == "You adjudicate a multi-actor scenario exercise."


@pytest.mark.parametrize("actor", [None, "east"])
def test_metric_messages_include_the_prompt(actor: str | None) -> None:
    metric = SimpleNamespace(name="tension", description="how tense it is", range=(0, 10))
    text = user_text(
        metric_messages(
            metric,
            prompt="Rate the military tension.",
            turn=4,
            world="Ships collide.",
            decisions=[("East Power", "moves frigates")],
            actor=actor,
        )
    )
    assert text.startswith("Rate the military tension.")
    assert "Metric: tension" + (" for east" if actor else "") + ": how tense it is" in text
    assert "Turn 4 world state:\nShips collide." in text
    assert "- East Power: moves frigates" in text
    assert "a number between 0 and 10" in text


def test_metric_messages_without_a_range() -> None:
    metric = SimpleNamespace(name="mood", description="", range=None)
    text = user_text(
        metric_messages(metric, prompt="p", turn=1, world="w", decisions=[], actor=None)
    )
    assert "value (a number)" in text


def test_validation_messages_include_the_prompt_or_fall_back() -> None:
    check = SimpleNamespace(prompt="Is every actor in character?", description="ignored")
    text = user_text(
        validation_messages(
            "consistency", check, turn=2, world="World.", decisions=[("East Power", "waits")]
        )
    )
    assert "Quality check 'consistency': Is every actor in character?" in text
    assert "Turn 2 world update:\nWorld." in text and "- East Power: waits" in text
    by_description = SimpleNamespace(prompt=None, description="Check realism.")
    assert "'realism': Check realism." in user_text(
        validation_messages("realism", by_description, turn=1, world="", decisions=[])
    )
    bare = SimpleNamespace()
    assert "'plausibility': plausibility" in user_text(
        validation_messages("plausibility", bare, turn=1, world="", decisions=[])
    )
