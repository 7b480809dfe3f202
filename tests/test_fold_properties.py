"""Properties of the fold over random valid runs.

``runs()`` draws whole timelines the way the engine writes them: a setup turn, then
turns with exogenous events, messages and coalitions, decisions by AI and human actors
(some failing and retried), halts and resumes, world updates, metrics, checks and
costs, and maybe an end. The store tests reuse it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.fold.handlers import apply, replay_events
from engine.fold.state import to_builtins
from engine.replay import decode_state, encode_state
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
    RunCompleted,
    RunFailed,
    RunHalted,
    RunResumed,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
)

ACTORS = ("north", "south", "east")
WORDS = st.sampled_from(["talks", "troops", "trade", "sanctions", "aid", "border", "oil"])
TEXT = st.lists(WORDS, min_size=0, max_size=6).map(" ".join)
SHORT = st.lists(TEXT, max_size=3).map(tuple)
VALUE = st.floats(min_value=-100, max_value=100, allow_nan=False)
USD = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def runs(draw: st.DrawFn, max_turns: int = 6) -> list[Event]:
    """A valid timeline: RunStarted, the setup turn 0, then 0..max_turns turns."""
    scenario: dict[str, Any] = {
        "name": "random",
        "variables": {"tension": {"initial": draw(st.integers(0, 10))}},
        "context_window_size": draw(st.integers(1, 4)),
    }
    events: list[Event] = [
        RunStarted(
            scenario_name="random",
            scenario=scenario,
            scenario_sha256="5" * 64,
            seed=draw(st.integers(0, 2**31)),
            settings=RunSettings(turns=max_turns, credit_limit_usd=draw(st.none() | USD)),
            tool_version="test",
        ),
        MetricRecorded(turn=0, name="tension", value=5.0, method="rules"),
        TurnCompleted(turn=0),
    ]
    humans = draw(st.sets(st.sampled_from(ACTORS), max_size=1))
    turns = draw(st.integers(0, max_turns))
    for turn in range(1, turns + 1):
        events += draw(_turn(turn, humans))
    ending = draw(st.sampled_from(["none", "completed", "failed", "halted"]))
    if ending == "completed":
        events.append(RunCompleted(turn=turns, turns_completed=turns, total_cost_usd=0.0))
    elif ending == "failed":
        events.append(RunFailed(turn=turns, error="boom", error_type="RuntimeError"))
    elif ending == "halted":
        events.append(RunHalted(turn=turns, reason="user", detail="stopped"))
    return events


@st.composite
def _turn(draw: st.DrawFn, turn: int, humans: set[str]) -> list[Event]:
    out: list[Event] = [TurnStarted(turn=turn)]
    for i in range(draw(st.integers(0, 2))):
        out.append(
            ExogenousEventTriggered(
                turn=turn,
                name=draw(WORDS),
                description=draw(TEXT),
                kind=draw(st.sampled_from(["scheduled", "random", "injected"])),
                source_index=draw(st.none() | st.integers(0, 3)),
                effects={"tension": draw(VALUE)} if i else {},
            )
        )
    out += draw(_communication(turn))
    for actor in ACTORS:
        rid = f"{turn}-{actor}"
        if actor in humans:
            out.append(HumanInputRequested(turn=turn, actor=actor, request_id=rid))
            if draw(st.booleans()):
                out.append(
                    RunHalted(
                        turn=turn, reason="human_input", detail="waiting", waiting_for=(actor,)
                    )
                )
                out.append(RunResumed(turn=turn, detail="after halt (human_input)"))
            out.append(
                HumanDecisionSubmitted(
                    turn=turn,
                    actor=actor,
                    request_id=rid,
                    action=draw(TEXT),
                    long_term_goals=draw(SHORT),
                )
            )
            continue
        out.append(DecisionRequested(turn=turn, actor=actor, request_id=rid, model="m"))
        if draw(st.integers(0, 4)) == 0:
            out.append(DecisionFailed(turn=turn, actor=actor, request_id=rid, error="unparsable"))
            if draw(st.booleans()):
                continue  # the actor sits this turn out
        out.append(
            DecisionMade(
                turn=turn,
                actor=actor,
                request_id=rid,
                action=draw(TEXT),
                reasoning=draw(TEXT),
                action_name=draw(st.none() | WORDS),
                long_term_goals=draw(SHORT),
                short_term_priorities=draw(SHORT),
            )
        )
        out.append(
            CostIncurred(
                turn=turn,
                model=draw(st.sampled_from(["m", "n"])),
                purpose="decision",
                actor=actor,
                input_tokens=draw(st.integers(0, 5000)),
                output_tokens=draw(st.integers(0, 900)),
                cost_usd=draw(USD),
                request_id=rid,
            )
        )
    out.append(
        WorldUpdated(
            turn=turn,
            narrative=draw(TEXT),
            key_changes=draw(SHORT),
            consequences=draw(SHORT),
            variables={"tension": draw(VALUE)} if draw(st.booleans()) else {},
        )
    )
    out.append(CostIncurred(turn=turn, model="w", purpose="world_update", cost_usd=draw(USD)))
    for name, actor in draw(
        st.lists(st.tuples(WORDS, st.none() | st.sampled_from(ACTORS)), max_size=3)
    ):
        failed = draw(st.integers(0, 5)) == 0
        out.append(
            MetricRecorded(
                turn=turn,
                name=name,
                actor=actor,
                value=None if failed else draw(VALUE),
                error="unparsable" if failed else None,
            )
        )
    for check in draw(st.lists(WORDS, max_size=2, unique=True)):
        out.append(
            ValidationRecorded(
                turn=turn,
                check=check,
                passed=draw(st.booleans()),
                severity=draw(st.sampled_from(["low", "high"])),
            )
        )
    out.append(TurnCompleted(turn=turn))
    return out


@st.composite
def _communication(draw: st.DrawFn, turn: int) -> list[Event]:
    out: list[Event] = []
    for n in range(draw(st.integers(0, 3))):
        sender = draw(st.sampled_from(ACTORS))
        others = tuple(a for a in ACTORS if a != sender)
        kind = draw(st.sampled_from(["talk", "statement", "proposal"]))
        mid = f"m{turn}-{sender}-{n}"
        if kind == "talk":
            out.append(
                MessageSent(
                    turn=turn,
                    message_id=mid,
                    sender=sender,
                    recipients=others[:1],
                    channel="bilateral",
                    visibility="private",
                    content=draw(TEXT),
                    thread_id=mid,
                )
            )
        elif kind == "statement":
            out.append(
                MessageSent(
                    turn=turn,
                    message_id=mid,
                    sender=sender,
                    recipients=others,
                    channel="public",
                    visibility="public",
                    kind="statement",
                    content=draw(TEXT),
                )
            )
        else:
            out.append(
                MessageSent(
                    turn=turn,
                    message_id=mid,
                    sender=sender,
                    recipients=others,
                    channel="coalition",
                    visibility="group",
                    kind="proposal",
                    content=draw(TEXT),
                    thread_id=mid,
                )
            )
            for invitee in others:
                accept = draw(st.booleans())
                out.append(
                    MessageSent(
                        turn=turn,
                        message_id=f"{mid}-{invitee}",
                        sender=invitee,
                        recipients=tuple(a for a in ACTORS if a != invitee),
                        channel="coalition",
                        visibility="group",
                        kind="accept" if accept else "reject",
                        thread_id=mid,
                        in_reply_to=mid,
                    )
                )
        out.append(
            CostIncurred(
                turn=turn,
                model="m",
                purpose="communication",
                actor=sender,
                cost_usd=draw(USD),
                request_id=f"plan:{turn}:{sender}:{n}",
            )
        )
    return out


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(runs())
def test_folding_never_changes_an_earlier_state(events: list[Event]):
    states = []
    s = None
    for ev in events:
        s = apply(s, ev)
        states.append((s, encode_state(s)))
    for state, encoded in states:
        assert encode_state(state) == encoded


@FAST
@given(runs(), st.data())
def test_a_prefix_then_the_rest_equals_the_whole(events: list[Event], data: st.DataObject):
    cut = data.draw(st.integers(1, len(events)))
    head = replay_events(events[:cut])
    assert replay_events(events[cut:], head) == replay_events(events)


@FAST
@given(runs())
def test_replay_events_equals_applying_one_by_one(events: list[Event]):
    s = None
    for ev in events:
        s = apply(s, ev)
    assert s == replay_events(events)


@FAST
@given(runs(), st.data())
def test_encode_then_decode_is_the_identity(events: list[Event], data: st.DataObject):
    cut = data.draw(st.integers(1, len(events)))
    state = replay_events(events[:cut])
    assert decode_state(encode_state(state)) == state
    # and a decoded state folds on exactly like the original
    rest = events[cut:]
    assert replay_events(rest, decode_state(encode_state(state))) == replay_events(rest, state)


@FAST
@given(runs())
def test_progress_describes_the_turn(events: list[Event]):
    s = replay_events(events)
    last_turn = max(e.turn for e in events)
    assert s.last_completed_turn == last_turn and s.turn_open is False
    decided = {
        e.actor
        for e in events
        if isinstance(e, DecisionMade | HumanDecisionSubmitted) and e.turn == last_turn
    }
    if last_turn > 0:
        assert set(s.turn_progress.decided) == decided
    assert s.costs.calls == sum(isinstance(e, CostIncurred) for e in events)
    total = sum(e.cost_usd for e in events if isinstance(e, CostIncurred))
    assert abs(s.costs.total_usd - total) < 1e-9
    assert abs(sum(s.costs.by_turn.values()) - total) < 1e-9
    assert abs(sum(s.costs.by_model.values()) - total) < 1e-9
    assert s.pending_human == {}
    json.dumps(to_builtins(s))  # the CLI's `replay --json` view of any state
