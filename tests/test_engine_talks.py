"""The communication plan: channels, the per-turn cap, coalitions, replies and answers."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from engine.play.talks import (
    Channels,
    TalkPlan,
    answer_event,
    channels,
    plan_events,
    plan_instructions,
    reply_event,
)
from eventstore import MessageSent

ACTORS = ["east", "west", "bloc", "mediator"]
ALL = Channels(bilateral=True, coalition=True, public=True, cap=10)


def plan(
    messages: Sequence[tuple[str, str]] = (),
    members: Sequence[str] = (),
    purpose: str = "",
    public: str = "",
) -> TalkPlan:
    return TalkPlan.model_validate(
        {
            "messages": [{"to": to, "content": c} for to, c in messages],
            "coalition_members": list(members),
            "coalition_purpose": purpose,
            "public_statement": public,
        }
    )


def events(
    p: TalkPlan,
    ch: Channels = ALL,
    *,
    actor: str = "east",
    turn: int = 3,
    coalitions: dict[str, tuple[str, ...]] | None = None,
) -> list[MessageSent]:
    out = plan_events(
        p, turn=turn, actor_id=actor, actors=ACTORS, ch=ch, my_coalitions=coalitions or {}
    )
    assert all(isinstance(e, MessageSent) for e in out)
    return [e for e in out if isinstance(e, MessageSent)]


def scenario(**kw: Any) -> SimpleNamespace:
    base = {
        "enable_bilateral_communication": True,
        "enable_coalition_formation": False,
        "enable_public_statements": True,
        "max_communications_per_turn": 3,
    }
    return SimpleNamespace(**{**base, **kw})


# -- channels --------------------------------------------------------------------------


def test_channels_from_the_scenario() -> None:
    assert channels(scenario()) == Channels(bilateral=True, coalition=False, public=True, cap=3)
    assert channels(scenario(max_communications_per_turn=None)).cap == 2
    assert channels(scenario()).any
    closed = scenario(
        enable_bilateral_communication=False,
        enable_coalition_formation=False,
        enable_public_statements=False,
    )
    assert not channels(closed).any


def test_a_cap_of_zero_means_no_communication() -> None:
    # 0 used to fall back to the default of 2
    ch = channels(scenario(max_communications_per_turn=0))
    assert ch.cap == 0
    assert not ch.any
    p = plan([("west", "hello")], ["west", "bloc"], "join us", "we stand firm")
    assert events(p, ch) == []


def test_plan_instructions_list_only_enabled_channels_and_the_cap() -> None:
    text = plan_instructions(
        Channels(bilateral=True, coalition=False, public=False, cap=2), "east", ["west", "bloc"], []
    )
    assert "one of west, bloc" in text and "At most 2 communications" in text
    assert "coalition proposal" not in text and "public statement" not in text
    text = plan_instructions(ALL, "east", ["west"], ["c-1"])
    assert "coalition you belong to (`to`: c-1)" in text
    assert "coalition proposal" in text and "public statement" in text


# -- plan_events -----------------------------------------------------------------------


def test_bilateral_messages() -> None:
    (m,) = events(plan([("west", "  let us talk  ")]))
    assert (m.sender, m.recipients, m.channel, m.visibility, m.kind) == (
        "east",
        ("west",),
        "bilateral",
        "private",
        "talk",
    )
    assert m.content == "let us talk"
    assert m.turn == 3
    assert m.message_id == "m3-east-1"
    assert m.thread_id == m.message_id  # a talk opens its own thread
    assert m.in_reply_to is None


def test_messages_to_self_unknown_actors_or_without_content_are_dropped() -> None:
    p = plan([("east", "me"), ("nobody", "hi"), ("west", "   "), ("bloc", "ok")])
    assert [(m.recipients, m.content) for m in events(p)] == [(("bloc",), "ok")]


def test_disabled_channels_send_nothing() -> None:
    p = plan([("west", "hi")], ["west", "bloc"], "a pact", "a statement")
    none = Channels(bilateral=False, coalition=False, public=False, cap=10)
    assert events(p, none) == []
    only_public = Channels(bilateral=False, coalition=False, public=True, cap=10)
    assert [m.channel for m in events(p, only_public)] == ["public"]
    only_coalition = Channels(bilateral=False, coalition=True, public=False, cap=10)
    assert [m.kind for m in events(p, only_coalition)] == ["proposal"]
    only_bilateral = Channels(bilateral=True, coalition=False, public=False, cap=10)
    assert [m.channel for m in events(p, only_bilateral)] == ["bilateral"]


@pytest.mark.parametrize("cap", [1, 2, 3, 4, 5, 6])
def test_the_cap_counts_every_communication(cap: int) -> None:
    p = plan(
        [("west", "one"), ("bloc", "two"), ("mediator", "three")],
        ["west", "bloc"],
        "a pact",
        "a statement",
    )
    out = events(p, Channels(bilateral=True, coalition=True, public=True, cap=cap))
    assert len(out) == min(cap, 5)
    # messages first, then the proposal, then the public statement
    assert [m.kind for m in out] == ["talk", "talk", "talk", "proposal", "statement"][:cap]


def test_a_coalition_proposal_needs_two_valid_others_and_a_purpose() -> None:
    ok = events(plan(members=["west", "bloc", "west", "east", "ghost"], purpose=" pact "))
    (m,) = ok
    assert (m.kind, m.channel, m.visibility) == ("proposal", "coalition", "group")
    assert m.recipients == ("west", "bloc")  # de-duplicated; self and unknown left out
    assert m.content == "pact"
    assert m.thread_id == m.message_id
    assert events(plan(members=["west", "east", "ghost"], purpose="pact")) == []
    assert events(plan(members=["west", "bloc"], purpose="  ")) == []


def test_public_statements_reach_every_other_actor() -> None:
    (m,) = events(plan(public="  We stand firm. "), actor="bloc")
    assert m.recipients == ("east", "west", "mediator")
    assert (m.channel, m.visibility, m.kind, m.content) == (
        "public",
        "public",
        "statement",
        "We stand firm.",
    )
    assert events(plan(public="   ")) == []


def test_messages_to_a_coalition_go_to_its_other_members() -> None:
    coalitions = {"c-7": ("east", "west", "bloc")}
    p = plan([("c-7", "hold the line")])
    (m,) = events(p, coalitions=coalitions)
    assert m.recipients == ("west", "bloc")
    assert (m.channel, m.visibility, m.thread_id) == ("coalition", "group", "c-7")
    off = Channels(bilateral=True, coalition=False, public=True, cap=10)
    assert events(p, off, coalitions=coalitions) == []  # not an actor either: dropped
    assert events(plan([("c-1", "alone")]), coalitions={"c-1": ("east",)}) == []


def test_message_ids_are_deterministic_and_unique() -> None:
    p = plan([("west", "a"), ("bloc", "b")], ["west", "bloc"], "pact", "statement")
    first, again = events(p, turn=5), events(p, turn=5)
    assert first == again
    ids = [m.message_id for m in first]
    assert ids == ["m5-east-1", "m5-east-2", "m5-east-3", "m5-east-4"]
    assert events(p, turn=5, actor="west")[0].message_id == "m5-west-1"


def test_talk_plan_ignores_extra_fields() -> None:
    p = TalkPlan.model_validate(
        {
            "messages": [{"to": "west", "content": "hi", "tone": "warm"}],
            "coalition_members": [],
            "coalition_purpose": "",
            "public_statement": "",
            "mood": "tense",
        }
    )
    assert p.messages[0].to == "west"


# -- replies and coalition answers -----------------------------------------------------


def test_reply_event() -> None:
    (talk,) = events(plan([("west", "hello")]))
    r = reply_event(4, talk, "west", "  hi back ")
    assert (r.turn, r.sender, r.recipients, r.kind, r.content) == (
        4,
        "west",
        ("east",),
        "reply",
        "hi back",
    )
    assert (r.channel, r.visibility) == ("bilateral", "private")
    assert r.in_reply_to == talk.message_id
    assert r.thread_id == talk.thread_id == talk.message_id
    assert r.message_id == f"{talk.message_id}-r"
    threadless = SimpleNamespace(message_id="m1-x-1", sender="x", thread_id=None)
    assert reply_event(1, threadless, "y", "ok").thread_id == "m1-x-1"


@pytest.mark.parametrize("accept", [True, False])
def test_answer_event(accept: bool) -> None:
    (proposal,) = events(plan(members=["west", "bloc", "mediator"], purpose="pact"))
    a = answer_event(3, proposal, "bloc", accept, "  because ")
    assert a.kind == ("accept" if accept else "reject")
    assert a.sender == "bloc"
    assert a.recipients == ("east", "west", "mediator")  # everyone else in the group
    assert (a.channel, a.visibility, a.content) == ("coalition", "group", "because")
    assert a.in_reply_to == proposal.message_id
    assert a.thread_id == proposal.message_id
    assert a.message_id == f"{proposal.message_id}-bloc"
