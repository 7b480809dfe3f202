"""Fog of war as a property: for any scenario and event stream and any seat, nothing
another actor keeps private reaches that seat.

Every private string the strategy generates is a unique marker registered with the set
of seats allowed to read it (an actor's own fields: that actor; a private talk: its
parties; prompts, raw answers, model settings, validations: no seat). The serialised
output of ``see`` for a seat must contain no marker that seat is not allowed.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.visibility import STAFF, Seat, briefing, may_see, see
from eventstore import (
    CostIncurred,
    DecisionFailed,
    DecisionMade,
    DecisionRequested,
    Event,
    ExogenousEventTriggered,
    HumanDecisionSubmitted,
    HumanInputRequested,
    MessageSent,
    MetricRecorded,
    ModelCall,
    Recorded,
    RunCompleted,
    RunFailed,
    RunForked,
    RunHalted,
    RunResumed,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
    event_actor,
    event_type,
)

NOBODY: frozenset[str] = frozenset()


class Markers:
    """Unique secret strings, each with the seats allowed to read it."""

    def __init__(self) -> None:
        self.allowed: dict[str, frozenset[str]] = {}
        self._n = itertools.count()

    def __call__(self, *seats: str) -> str:
        marker = f"ZQ{next(self._n)}QZ"
        self.allowed[marker] = frozenset(seats)
        return marker

    def call(self) -> ModelCall:
        return ModelCall(
            model=self(),
            prompt_hash=self(),
            response_hash=self(),
            cost_usd=0.25,
            parse_method=self(),
        )


def scenario(m: Markers, actors: list[str]) -> dict[str, Any]:
    return {
        "name": "Generated",
        "description": "public",
        "turns": 3,
        "world_state_model": m(),
        "metrics": [{"name": "tension", "prompt": m()}],
        "validation": {"prompt": m()},
        "exogenous_events": [{"name": m(), "description": m(), "turn": 2}],
        "background": {"brief.md": "shared background"},
        "actors": {
            a: {
                "name": f"Actor {a}",
                "short_name": a,
                "role": "public role",
                "description": "public description",
                "control": "human",
                "goals": [m(a)],
                "constraints": [m(a)],
                "private_information": m(a),
                "system_prompt": m(a),
                "decision_style": m(a),
                "expertise": [m(a)],
                "llm_model": m(),
                "script": [{"action": m()}],
                "preferences": {m(): 1.0},
            }
            for a in actors
        },
    }


@st.composite
def streams(draw: st.DrawFn) -> tuple[Markers, list[str], list[Recorded]]:
    m = Markers()
    actors = draw(st.lists(st.sampled_from("abcdef"), min_size=2, max_size=5, unique=True))
    actor = st.sampled_from(actors)
    events: list[Event] = [
        RunStarted(
            scenario_name="Generated",
            scenario=scenario(m, actors),
            scenario_sha256="0" * 64,
            seed=7,
            settings=RunSettings(turns=3, model_overrides={actors[0]: m()}),
            tool_version="test",
        )
    ]
    kinds = draw(st.lists(st.integers(0, 17), max_size=40))
    for i, kind in enumerate(kinds):
        turn = 1 + i // 10
        a = draw(actor)
        if kind == 0:
            events.append(TurnStarted(turn=turn, simulated_date="2031-01-01"))
        elif kind == 1:
            events.append(
                DecisionRequested(turn=turn, actor=a, request_id="q", model=m(), prompt_hash=m())
            )
        elif kind == 2:
            events.append(
                DecisionMade(
                    turn=turn,
                    actor=a,
                    request_id="q",
                    long_term_goals=(m(a),),
                    reasoning=m(a),
                    action=m(a),
                    call=m.call(),
                )
            )
        elif kind == 3:
            events.append(
                DecisionFailed(turn=turn, actor=a, request_id="q", error=m(), call=m.call())
            )
        elif kind == 4:
            events.append(HumanInputRequested(turn=turn, actor=a, request_id="h", prompt_hash=m()))
        elif kind == 5:
            events.append(
                HumanDecisionSubmitted(
                    turn=turn,
                    actor=a,
                    request_id="h",
                    action=m(a),
                    reasoning=m(a),
                    submitted_by=m(),
                )
            )
        elif kind == 6:
            to = tuple(draw(st.lists(actor, min_size=1, max_size=3, unique=True)))
            visibility = draw(st.sampled_from(["private", "group"]))
            channel = "bilateral" if visibility == "private" else "coalition"
            events.append(
                MessageSent(
                    turn=turn,
                    message_id=f"m{i}",
                    sender=a,
                    recipients=to,
                    channel=channel,
                    visibility=visibility,
                    content=m(a, *to),
                    call=m.call(),
                )
            )
        elif kind == 7:
            events.append(
                MessageSent(
                    turn=turn,
                    message_id=f"m{i}",
                    sender=a,
                    recipients=(),
                    channel="public",
                    visibility="public",
                    content="a public statement",
                    call=m.call(),
                )
            )
        elif kind == 8:
            events.append(WorldUpdated(turn=turn, narrative="public narrative", call=m.call()))
        elif kind == 9:
            events.append(MetricRecorded(turn=turn, name="tension", value=1.0, call=m.call()))
        elif kind == 10:
            events.append(MetricRecorded(turn=turn, name=m(a), value=2.0, actor=a, call=m.call()))
        elif kind == 11:
            events.append(MetricRecorded(turn=turn, name="tension", error=m(), call=m.call()))
        elif kind == 12:
            events.append(
                ValidationRecorded(
                    turn=turn, check=m(), passed=False, issues=(m(),), explanation=m()
                )
            )
        elif kind == 13:
            events.append(
                CostIncurred(turn=turn, model=m(), purpose="decision", actor=a, request_id=m())
            )
        elif kind == 14:
            events.append(RunHalted(turn=turn, reason="human_input", detail=m(), waiting_for=(a,)))
        elif kind == 15:
            events.append(RunResumed(turn=turn, detail=m(), credit_limit_usd=5.0))
        elif kind == 16:
            events.append(
                RunForked(
                    turn=turn,
                    parent_run_id="p",
                    fork_turn=turn - 1,
                    fork_seq=3,
                    forced_decisions={a: m(a)},
                    model_overrides={a: m()},
                    injections=(m(),),
                )
            )
        else:
            events.append(
                ExogenousEventTriggered(
                    turn=turn, name="storm", description="public", kind="scheduled"
                )
            )
            events.append(TurnCompleted(turn=turn))
    events += [
        RunFailed(turn=9, error=m(), error_type=m()),
        RunCompleted(turn=9, turns_completed=3, total_cost_usd=1.0),
    ]
    records = [
        Recorded(
            position=i + 1,
            run_id="r",
            seq=i + 1,
            turn=e.turn,
            type=event_type(e),
            schema_version=1,
            actor=event_actor(e),
            event_id=f"e{i}",
            recorded_at="2031-01-01T00:00:00",
            hash="h",
            event=e,
        )
        for i, e in enumerate(events)
    ]
    return m, actors, records


@settings(max_examples=150, deadline=None)
@given(streams())
def test_a_seat_never_receives_what_another_actor_keeps_private(
    generated: tuple[Markers, list[str], list[Recorded]],
) -> None:
    m, actors, records = generated
    for seat in actors:
        seen = [see(Seat(seat), r) for r in records]
        text = json.dumps(seen)
        leaked = [k for k, allowed in m.allowed.items() if seat not in allowed and k in text]
        assert not leaked, (seat, leaked)
        # and it does see its own: the briefing carries its private information
        scenario_of_run = records[0].event.scenario  # type: ignore[attr-defined]
        assert scenario_of_run["actors"][seat]["private_information"] in json.dumps(seen[0])


@settings(max_examples=50, deadline=None)
@given(streams())
def test_staff_see_every_event_unchanged(
    generated: tuple[Markers, list[str], list[Recorded]],
) -> None:
    _m, _actors, records = generated
    import msgspec

    for r in records:
        assert see(STAFF, r) == msgspec.to_builtins(r.event)


def test_a_seat_sees_public_events_and_its_own_talks() -> None:
    talk = MessageSent(
        turn=1,
        message_id="m",
        sender="a",
        recipients=("b",),
        channel="bilateral",
        visibility="private",
        content="hi",
    )
    rec = Recorded(
        position=1,
        run_id="r",
        seq=1,
        turn=1,
        type="MessageSent",
        schema_version=2,
        actor="a",
        event_id="e",
        recorded_at="",
        hash="h",
        event=talk,
    )
    assert may_see(Seat("a"), rec) and may_see(Seat("b"), rec) and not may_see(Seat("c"), rec)
    assert see(Seat("b"), rec) == {k: v for k, v in see(STAFF, rec).items() if k != "call"}  # type: ignore[union-attr]


def test_the_briefing_keeps_the_others_public_face_only() -> None:
    m = Markers()
    sc = scenario(m, ["a", "b"])
    brief = briefing(sc, "a")
    assert brief["actors"]["b"] == {
        "name": "Actor b",
        "short_name": "b",
        "role": "public role",
        "description": "public description",
    }
    assert brief["actors"]["a"]["private_information"] == sc["actors"]["a"]["private_information"]
    assert "llm_model" not in brief["actors"]["a"] and "metrics" not in brief
    assert brief["background"] == {"brief.md": "shared background"}
