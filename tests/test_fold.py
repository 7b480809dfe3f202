"""The fold, one event type at a time: what each event changes in the state."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import msgspec
import pytest

from engine.fold.handlers import apply, replay_events
from engine.fold.parts import DIGEST_CHARS
from engine.fold.state import (
    DEFAULT_WINDOW,
    RunState,
    Series,
    coalitions_of,
    to_builtins,
    visible_messages,
)
from engine.replay import decode_state, encode_state
from eventstore import (
    CallFailed,
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
    RunForked,
    RunHalted,
    RunResumed,
    RunSettings,
    RunStarted,
    StoreError,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
)

SCENARIO: dict[str, Any] = {
    "name": "border",
    "variables": {"tension": {"initial": 4, "min": 0, "max": 10}, "trade": {"initial": 2.5}},
    "context_window_size": 2,
}


def started(**settings: Any) -> RunStarted:
    return RunStarted(
        scenario_name="border",
        scenario=SCENARIO,
        scenario_sha256="ab" * 32,
        seed=11,
        settings=RunSettings(turns=settings.pop("turns", 5), **settings),
        tool_version="0.1.0",
    )


def fold(*events: Event, state: RunState | None = None) -> RunState:
    return replay_events(events, state)


def setup(**settings: Any) -> RunState:
    return fold(started(**settings), TurnCompleted(turn=0))


def in_turn(turn: int = 1, state: RunState | None = None) -> RunState:
    return apply(state if state is not None else setup(), TurnStarted(turn=turn))


def decided(turn: int, actor: str, action: str = "wait", **kw: Any) -> list[Event]:
    rid = f"{turn}-{actor}"
    return [
        DecisionRequested(turn=turn, actor=actor, request_id=rid, model="m"),
        DecisionMade(turn=turn, actor=actor, request_id=rid, action=action, **kw),
    ]


def whole_turn(turn: int, actors: Iterable[str] = ("a", "b"), **world: Any) -> list[Event]:
    events: list[Event] = [TurnStarted(turn=turn)]
    for actor in actors:
        events += decided(turn, actor, f"{actor} acts in {turn}")
    events.append(WorldUpdated(turn=turn, narrative=f"world after {turn}", **world))
    events.append(TurnCompleted(turn=turn))
    return events


# -- run lifecycle ---------------------------------------------------------------------


def test_run_started_sets_identity_settings_and_initial_variables():
    s = apply(None, started(turns=7, credit_limit_usd=2.0))
    assert s.scenario_name == "border"
    assert s.scenario is SCENARIO  # kept by reference, never copied
    assert s.scenario_sha256 == "ab" * 32
    assert s.seed == 11
    assert s.settings.turns == 7 and s.settings.credit_limit_usd == 2.0
    assert s.world.variables == {"tension": 4.0, "trade": 2.5}
    assert s.status == "running"
    assert (s.turn, s.turn_open, s.last_completed_turn) == (0, False, -1)
    assert s.window == 2  # the scenario's context window


def test_window_from_settings_then_default():
    assert apply(None, started(context_window=5)).window == 5
    bare = RunStarted(
        scenario_name="x",
        scenario={},
        scenario_sha256="0" * 64,
        seed=0,
        settings=RunSettings(turns=1),
        tool_version="t",
    )
    s = apply(None, bare)
    assert s.window == DEFAULT_WINDOW
    assert s.world.variables == {}


def test_a_timeline_must_start_with_run_started():
    with pytest.raises(StoreError):
        apply(None, TurnStarted(turn=1))
    with pytest.raises(StoreError):
        apply(setup(), started())
    with pytest.raises(ValueError):
        replay_events([])


def test_unknown_event_type_is_refused():
    class Stray(Event, tag="Stray", frozen=True):
        pass

    with pytest.raises(TypeError, match="Stray"):
        apply(setup(), Stray())
    with pytest.raises(TypeError, match="Stray"):
        replay_events([Stray()], setup())


def test_halt_resume_complete():
    s = in_turn()
    s = apply(s, RunHalted(turn=1, reason="human_input", detail="waiting", waiting_for=("a",)))
    assert (s.status, s.halt_reason, s.halt_detail, s.waiting_for) == (
        "halted",
        "human_input",
        "waiting",
        ("a",),
    )
    s = apply(s, RunResumed(turn=1, credit_limit_usd=9.0, turns=8))
    assert (s.status, s.halt_reason, s.halt_detail, s.waiting_for) == ("running", None, "", ())
    assert s.settings.credit_limit_usd == 9.0 and s.settings.turns == 8
    s = apply(s, TurnCompleted(turn=1))
    s = apply(s, RunCompleted(turn=1, turns_completed=1, total_cost_usd=0.0))
    assert s.status == "completed"
    assert apply(s, RunHalted(turn=1, reason="user")).status == "completed"  # final
    extended = apply(s, RunResumed(turn=1, turns=3))
    assert extended.status == "running" and extended.settings.turns == 3


def test_failed_is_final():
    s = apply(in_turn(), RunFailed(turn=1, error="boom", error_type="RuntimeError"))
    assert (s.status, s.halt_reason, s.halt_detail) == ("failed", "RuntimeError", "boom")
    assert apply(s, RunHalted(turn=1, reason="user")).status == "failed"
    resumed = apply(s, RunResumed(turn=1, turns=9))
    assert resumed.status == "failed" and resumed.settings.turns == 9


def test_fork_changes_seed_settings_controls_and_first_turn():
    s = fold(
        *whole_turn(1),
        state=setup(model_overrides={"a": "m1"}, variation={"x": 1}),
    )
    s = apply(s, RunHalted(turn=1, reason="user"))
    forked = apply(
        s,
        RunForked(
            turn=2,
            parent_run_id="parent",
            fork_turn=1,
            fork_seq=12,
            seed=99,
            model_overrides={"b": "m2"},
            control_changes={"a": "human"},
            forced_decisions={"b": "surrender"},
            injections=("earthquake",),
            turns=4,
            credit_limit_usd=1.5,
            batch_id="batch",
            variation={"y": 2},
        ),
    )
    assert forked.seed == 99
    assert (forked.parent_run_id, forked.fork_turn, forked.fork_seq) == ("parent", 1, 12)
    assert forked.settings.model_overrides == {"a": "m1", "b": "m2"}
    assert forked.settings.turns == 4 and forked.settings.credit_limit_usd == 1.5
    assert forked.settings.batch_id == "batch"
    assert forked.settings.variation == {"x": 1, "y": 2}
    assert forked.control_overrides == {"a": "human"}
    assert forked.pending_forced == {"b": "surrender"}
    assert forked.pending_injections == ("earthquake",)
    assert forked.status == "running" and forked.halt_reason is None
    assert forked.turn_open is False and forked.last_completed_turn == 1
    after_first = fold(*whole_turn(2), state=forked)
    assert after_first.pending_forced == {} and after_first.pending_injections == ()
    assert after_first.control_overrides == {"a": "human"}  # controls stay for the branch
    assert apply(forked, RunForked(turn=2, parent_run_id="p", fork_turn=1, fork_seq=3)).seed == 99


# -- turns and decisions ---------------------------------------------------------------


def test_turn_started_and_completed():
    s = in_turn(1)
    assert (s.turn, s.turn_open, s.last_completed_turn) == (1, True, 0)
    assert s.turn_progress.turn == 1
    s = apply(s, TurnCompleted(turn=1))
    assert (s.turn, s.turn_open, s.last_completed_turn) == (1, False, 1)
    s = apply(s, TurnStarted(turn=2))
    assert s.turn_progress.decisions == {} and s.turn_progress.world_updated is False


def test_decision_requested_and_made():
    s = apply(in_turn(), DecisionRequested(turn=1, actor="a", request_id="r1", model="m"))
    assert s.turn_progress.requested == {"a": "r1"}
    assert "a" not in s.turn_progress.decided
    s = apply(
        s,
        DecisionMade(
            turn=1,
            actor="a",
            request_id="r1",
            action="build a wall",
            action_name="build",
            reasoning="safety",
            long_term_goals=("survive",),
            short_term_priorities=("defend",),
            parse_method="json_schema",
        ),
    )
    tp = s.turn_progress
    assert "a" in tp.decided and tp.decisions["a"].action == "build a wall"
    d = s.actors["a"].recent[-1]
    assert (d.turn, d.action, d.action_name, d.reasoning, d.brain, d.parse_method) == (
        1,
        "build a wall",
        "build",
        "safety",
        "ai",
        "json_schema",
    )
    assert s.actors["a"].goals == ("survive",)
    assert s.actors["a"].priorities == ("defend",)
    assert s.actors["a"].decisions == 1


def test_actor_memory_is_bounded_by_the_window_and_keeps_goals():
    s = setup()
    for turn in range(1, 6):
        goals = ("g",) if turn == 1 else ()
        s = fold(
            TurnStarted(turn=turn),
            *decided(turn, "a", f"act {turn}", long_term_goals=goals),
            TurnCompleted(turn=turn),
            state=s,
        )
    actor = s.actors["a"]
    assert [d.turn for d in actor.recent] == [4, 5]  # window 2
    assert actor.decisions == 5
    assert actor.goals == ("g",)  # decisions without goals keep the last stated ones


def test_decision_failed_then_retried():
    s = apply(in_turn(), DecisionFailed(turn=1, actor="a", request_id="r", error="bad json"))
    assert s.turn_progress.failed == {"a": "bad json"}
    s = apply(s, DecisionMade(turn=1, actor="a", request_id="r2", action="x"))
    assert s.turn_progress.failed == {} and "a" in s.turn_progress.decided
    late = apply(s, DecisionFailed(turn=1, actor="a", request_id="r", error="late"))
    assert late is s


# -- humans ----------------------------------------------------------------------------


def test_human_decision_counts_as_the_actors_decision():
    s = apply(in_turn(), HumanInputRequested(turn=1, actor="h", request_id="q1"))
    assert s.turn_progress.human_requested == {"h": "q1"}
    assert [p.request_id for p in s.pending_human["h"]] == ["q1"]
    assert list(s.pending_human) == ["h"]
    s = apply(
        s,
        HumanDecisionSubmitted(
            turn=1,
            actor="h",
            request_id="q1",
            action="negotiate",
            reasoning="why not",
            long_term_goals=("peace",),
        ),
    )
    assert s.pending_human == {}
    assert s.turn_progress.human_submitted == {"h": "q1"}
    d = s.turn_progress.decisions["h"]
    assert (d.action, d.brain, d.parse_method) == ("negotiate", "human", "human")
    assert s.actors["h"].goals == ("peace",) and s.actors["h"].decisions == 1


def test_human_reply_requests_are_keyed_by_what_they_are_about():
    s = in_turn()
    s = fold(
        HumanInputRequested(turn=1, actor="h", request_id="q1", kind="reply", about="m1"),
        HumanInputRequested(turn=1, actor="h", request_id="q2", kind="coalition", about="m2"),
        state=s,
    )
    assert s.turn_progress.human_requested == {"h:m1": "q1", "h:m2": "q2"}
    assert [p.kind for p in s.pending_human["h"]] == ["reply", "coalition"]
    s = apply(s, HumanDecisionSubmitted(turn=1, actor="h", request_id="q1", kind="reply"))
    assert s.turn_progress.human_submitted == {"h:m1": "q1"}
    assert [p.request_id for p in s.pending_human["h"]] == ["q2"]
    assert "h" not in s.turn_progress.decided  # a reply is not the turn's decision
    s = apply(s, TurnCompleted(turn=1))
    assert s.pending_human == {}  # nobody can answer a finished turn's request


def test_a_submission_for_another_turn_does_not_count():
    s = apply(in_turn(2, setup()), HumanInputRequested(turn=2, actor="h", request_id="q"))
    stale = apply(s, HumanDecisionSubmitted(turn=1, actor="h", request_id="old", action="x"))
    assert stale is s
    closing = apply(s, HumanDecisionSubmitted(turn=1, actor="h", request_id="q", action="x"))
    assert closing.pending_human == {} and "h" not in closing.turn_progress.decided


# -- communication ---------------------------------------------------------------------


def msg(turn: int, mid: str, sender: str, to: tuple[str, ...], **kw: Any) -> MessageSent:
    channel = kw.pop("channel", "bilateral")
    visibility = {"bilateral": "private", "coalition": "group", "public": "public"}[channel]
    return MessageSent(
        turn=turn,
        message_id=mid,
        sender=sender,
        recipients=to,
        channel=channel,
        visibility=visibility,
        **kw,
    )


def test_messages_and_what_each_actor_sees():
    s = fold(
        msg(1, "m1", "a", ("b",), content="psst"),
        msg(1, "m2", "c", ("a", "b"), channel="public", kind="statement"),
        msg(1, "m3", "b", ("c",), channel="coalition"),
        state=in_turn(),
    )
    assert s.turn_progress.messages == ("m1", "m2", "m3")
    seen = {actor: [m.message_id for m in visible_messages(s, actor)] for actor in "abcd"}
    assert seen == {
        "a": ["m1", "m2"],
        "b": ["m1", "m2", "m3"],
        "c": ["m2", "m3"],
        "d": ["m2"],
    }
    m = s.messages.recent[0]
    assert (m.turn, m.sender, m.recipients, m.channel, m.content) == (
        1,
        "a",
        ("b",),
        "bilateral",
        "psst",
    )


def test_messages_older_than_the_window_leave_the_state():
    s = setup()
    for turn in range(1, 5):
        s = fold(
            TurnStarted(turn=turn),
            msg(turn, f"m{turn}", "a", ("b",)),
            TurnCompleted(turn=turn),
            state=s,
        )
    assert [m.turn for m in s.messages.recent] == [2, 3, 4]
    s = apply(s, TurnStarted(turn=5))
    assert [m.turn for m in s.messages.recent] == [3, 4]  # this turn and the last 2


def test_coalitions():
    s = fold(
        msg(1, "p1", "a", ("b", "c"), channel="coalition", kind="proposal", content="trade"),
        state=in_turn(),
    )
    c = s.messages.coalitions["p1"]
    assert (c.proposer, c.invited, c.purpose, c.members) == ("a", ("b", "c"), "trade", ("a",))
    assert coalitions_of(s, "a") == {}  # nobody accepted yet
    s = fold(
        msg(1, "p1-b", "b", ("a", "c"), channel="coalition", kind="accept", in_reply_to="p1"),
        msg(1, "p1-c", "c", ("a", "b"), channel="coalition", kind="reject", thread_id="p1"),
        msg(1, "p1-d", "d", ("a",), channel="coalition", kind="accept", in_reply_to="p1"),
        state=s,
    )
    c = s.messages.coalitions["p1"]
    assert (c.accepted, c.rejected, c.members) == (("b",), ("c",), ("a", "b"))
    assert coalitions_of(s, "b") == {"p1": ("a", "b")}
    assert coalitions_of(s, "c") == {}
    s = apply(s, msg(1, "p1-b2", "b", ("a",), channel="coalition", kind="reject", thread_id="p1"))
    c = s.messages.coalitions["p1"]
    assert (c.accepted, c.rejected) == ((), ("c", "b"))


# -- world, exogenous, metrics, validation, costs --------------------------------------


def test_world_update_history_and_digest():
    s = setup()
    s = fold(*whole_turn(1, key_changes=("border closed",), variables={"tension": 6.0}), state=s)
    assert s.world.narrative == "world after 1" and s.world.turn == 1
    assert s.world.variables == {"tension": 6.0, "trade": 2.5}  # merged over the initial
    assert s.turn_progress.world_updated
    long_text = "word " * 100
    s = fold(*whole_turn(2), state=s)
    s = apply(s, TurnStarted(turn=3))
    s = apply(s, WorldUpdated(turn=3, narrative=long_text, consequences=("c",), source="rules"))
    s = apply(s, TurnCompleted(turn=3))
    s = fold(*whole_turn(4), state=s)
    assert [h.turn for h in s.world.history] == [3, 4]
    assert list(s.world.digest) == [(1, "border closed"), (2, "world after 2")]
    s = fold(*whole_turn(5), state=s)
    assert s.world.digest[-1] == (3, " ".join(long_text.split())[:DIGEST_CHARS])
    assert s.world.consequences == () and s.world.source == "llm"


def test_exogenous_events():
    s = fold(
        ExogenousEventTriggered(
            turn=1, name="storm", description="a storm", kind="random", source_index=0
        ),
        ExogenousEventTriggered(turn=1, name="news", description="news", kind="injected"),
        state=in_turn(),
    )
    assert [e.name for e in s.exogenous.this_turn] == ["storm", "news"]
    assert s.exogenous.fired_counts == {0: 1}
    s = fold(
        TurnCompleted(turn=1),
        TurnStarted(turn=2),
        ExogenousEventTriggered(
            turn=2, name="storm", description="again", kind="random", source_index=0
        ),
        state=s,
    )
    assert [e.turn for e in s.exogenous.this_turn] == [2]
    assert [(e.turn, e.name, e.kind) for e in s.exogenous.fired] == [
        (1, "storm", "random"),
        (1, "news", "injected"),
        (2, "storm", "random"),
    ]
    assert s.exogenous.fired_counts == {0: 2}


def test_metrics_latest_history_and_failures():
    s = fold(
        MetricRecorded(turn=1, name="tension", value=5.0),
        MetricRecorded(turn=1, name="trust", value=2.0, actor="a"),
        state=in_turn(),
    )
    assert s.metrics.latest == {("tension", None): 5.0, ("trust", "a"): 2.0}
    assert s.turn_progress.metrics == (("tension", None), ("trust", "a"))
    s = fold(
        TurnCompleted(turn=1),
        TurnStarted(turn=2),
        MetricRecorded(turn=2, name="tension", error="unparsable", method="llm"),
        state=s,
    )
    assert s.metrics.latest[("tension", None)] == 5.0  # the last known value stays
    assert list(s.metrics.history[("tension", None)]) == [(1, 5.0), (2, None)]
    assert s.metrics.failed == 1
    assert s.turn_progress.metrics == (("tension", None),)


def test_validation_results_and_issue_counts():
    s = fold(
        ValidationRecorded(turn=1, check="consistency", passed=True),
        ValidationRecorded(turn=1, check="realism", passed=False, severity="high", issues=("x",)),
        state=in_turn(),
    )
    assert [v.check for v in s.validation.latest] == ["consistency", "realism"]
    assert s.turn_progress.validations == ("consistency", "realism")
    assert (s.validation.failed_total, s.validation.failed_since_resume) == (1, 1)
    s = fold(RunHalted(turn=1, reason="max_issues"), RunResumed(turn=1), state=s)
    assert (s.validation.failed_total, s.validation.failed_since_resume) == (1, 0)
    for turn in range(2, 5):
        s = fold(
            TurnCompleted(turn=turn - 1),
            TurnStarted(turn=turn),
            ValidationRecorded(turn=turn, check="realism", passed=False),
            state=s,
        )
    assert [v.turn for v in s.validation.latest] == [2, 3, 4]
    assert s.validation.failed_total == 4


def test_costs():
    s = fold(
        CostIncurred(turn=1, model="m1", purpose="decision", actor="a", cost_usd=0.5, input_tokens=10, output_tokens=2),
        CostIncurred(turn=1, model="m2", purpose="world_update", cost_usd=0.25, input_tokens=5),
        CostIncurred(turn=1, model="m1", purpose="communication", actor="b", cost_usd=0.125, request_id="plan:1:b"),
        TurnCompleted(turn=1),
        TurnStarted(turn=2),
        CostIncurred(turn=2, model="m1", purpose="decision", actor="a", cost_usd=1.0),
        state=in_turn(),
    )  # fmt: skip
    c = s.costs
    assert c.total_usd == 1.875 and c.calls == 4
    assert (c.input_tokens, c.output_tokens) == (15, 2)
    assert c.by_actor == {"a": 1.5, "b": 0.125}
    assert c.by_model == {"m1": 1.625, "m2": 0.25}
    assert c.by_purpose == {"decision": 1.5, "world_update": 0.25, "communication": 0.125}
    assert c.by_turn == {1: 0.875, 2: 1.0}
    assert c.by("turn") == {"1": 0.875, "2": 1.0}
    assert c.by("actor") == c.by_actor
    assert s.turn_progress.call_ids == ()  # a new turn
    mid = fold(
        CostIncurred(turn=1, model="m", purpose="communication", request_id="plan:1:a"),
        state=in_turn(),
    )
    assert mid.turn_progress.call_ids == ("plan:1:a",)
    # a talk whose answer could not be used is done too; twice is still once
    failed = fold(
        CallFailed(turn=1, purpose="communication", request_id="reply:1:m1", error_kind="x"),
        CostIncurred(turn=1, model="m", purpose="communication", request_id="reply:1:m1"),
        CallFailed(turn=1, purpose="metric", request_id="m1-x-"),
        state=mid,
    )
    assert failed.turn_progress.call_ids == ("plan:1:a", "reply:1:m1")


# -- values ----------------------------------------------------------------------------


def test_folding_further_leaves_earlier_states_unchanged():
    events = [started(), TurnCompleted(turn=0)]
    for turn in (1, 2, 3):
        events += whole_turn(turn, variables={"tension": float(turn)})
        events.insert(-1, MetricRecorded(turn=turn, name="tension", value=float(turn)))
        events.insert(-1, CostIncurred(turn=turn, model="m", purpose="decision", cost_usd=0.1))
        events.insert(-1, msg(turn, f"m{turn}", "a", ("b",)))
    states = []
    s = None
    for ev in events:
        s = apply(s, ev)
        states.append((s, encode_state(s)))
    for state, before in states:
        assert encode_state(state) == before


def test_state_encodes_and_decodes_to_an_equal_state():
    s = fold(*whole_turn(1, variables={"tension": 1.0}), state=setup())
    s = fold(
        TurnStarted(turn=2),
        HumanInputRequested(turn=2, actor="h", request_id="q", kind="reply", about="m"),
        MetricRecorded(turn=2, name="trust", value=1.0, actor="a"),
        CostIncurred(turn=2, model="m", purpose="decision", actor=None, cost_usd=0.5),
        state=s,
    )
    again = decode_state(encode_state(s))
    assert again == s
    assert again.scenario == SCENARIO


def test_to_builtins_is_json():
    s = setup()
    for turn in range(1, 5):
        s = fold(*whole_turn(turn, key_changes=(f"k{turn}",)), state=s)
    s = fold(
        TurnStarted(turn=5),
        MetricRecorded(turn=5, name="trust", value=1.0, actor="a"),
        MetricRecorded(turn=5, name="tension", value=2.0),
        CostIncurred(turn=5, model="m", purpose="decision", actor="a", cost_usd=0.5),
        CostIncurred(turn=5, model="m", purpose="world_update", cost_usd=0.25),
        ExogenousEventTriggered(turn=5, name="storm", description="s", kind="random"),
        state=s,
    )
    data = json.loads(json.dumps(to_builtins(s)))
    assert data["metrics"]["latest"] == {"trust/a": 1.0, "tension": 2.0}
    assert data["metrics"]["history"]["trust/a"] == [[5, 1.0]]
    assert data["turn_progress"]["metrics"] == ["trust/a", "tension"]
    assert data["world"]["digest"] == [[1, "k1"], [2, "k2"]]
    assert data["exogenous"]["fired"][0]["name"] == "storm"
    assert data["costs"]["by_actor"] == {"a": 0.5}
    assert data["costs"]["by_turn"] == {"5": 0.75}
    assert data["costs"]["total_usd"] == 0.75


def test_series():
    empty: Series[int] = Series()
    assert len(empty) == 0 and list(empty) == [] and empty.last is None
    items = list(range(Series.CHUNK * 2 + 5))
    s = empty
    for i in items:
        s = s.append(i)
    assert list(s) == items and len(s) == len(items)
    assert s == Series.of(items)  # the layout depends only on the items
    assert s[0] == 0 and s[Series.CHUNK] == Series.CHUNK and s[-1] == items[-1]
    assert s[3:6] == (3, 4, 5)
    with pytest.raises(IndexError):
        s[len(items)]
    full = Series.of(range(Series.CHUNK))
    assert full.tail == () and full.replace_last(-1)[-1] == -1
    assert list(full.replace_last(-1))[:-1] == list(range(Series.CHUNK - 1))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(s), type=Series[int]) == s
