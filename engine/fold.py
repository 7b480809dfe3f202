"""The fold: ``apply(state, event) -> state``, pure over frozen values.

No I/O, clock or randomness: the same events always give the same state. Handlers are
found by event class in a dict; each returns a new ``RunState`` built with
``msgspec.structs.replace`` and copies any dict it changes (copy-on-write), so every
earlier state stays valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from msgspec.structs import replace

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
    RunForked,
    RunHalted,
    RunResumed,
    RunStarted,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
)

from .state import (
    ActorView,
    Coalition,
    Costs,
    DecisionView,
    ExoView,
    MessageView,
    RunState,
    TurnProgress,
    ValidationView,
    metric_key,
)

DIGEST_CHARS = 200


def _with(d: dict[Any, Any], key: Any, value: Any) -> dict[Any, Any]:
    out = dict(d)
    out[key] = value
    return out


def _run_started(s: RunState, e: RunStarted) -> RunState:
    variables = {
        name: float(spec.get("initial", 0.0))
        for name, spec in (e.scenario.get("variables") or {}).items()
        if isinstance(spec, dict)
    }
    return replace(
        s,
        scenario_name=e.scenario_name,
        scenario=e.scenario,
        scenario_sha256=e.scenario_sha256,
        seed=e.seed,
        settings=e.settings,
        tool_version=e.tool_version,
        world=replace(
            s.world, narrative=str(e.scenario.get("initial_world_state") or ""), variables=variables
        ),
        status="running",
    )


def _run_forked(s: RunState, e: RunForked) -> RunState:
    settings = s.settings
    changes: dict[str, Any] = {}
    if e.turns is not None:
        changes["turns"] = e.turns
    if e.credit_limit_usd is not None:
        changes["credit_limit_usd"] = e.credit_limit_usd
    if e.model_overrides:
        changes["model_overrides"] = {**settings.model_overrides, **e.model_overrides}
    if e.batch_id is not None:
        changes["batch_id"] = e.batch_id
    if e.variation:
        changes["variation"] = {**settings.variation, **e.variation}
    return replace(
        s,
        settings=replace(settings, **changes) if changes else settings,
        seed=e.seed if e.seed is not None else s.seed,
        parent_run_id=e.parent_run_id,
        fork_turn=e.fork_turn,
        control_overrides={**s.control_overrides, **e.control_changes},
        pending_forced=dict(e.forced_decisions),
        pending_injections=tuple(e.injections),
        status="running",
        halt_reason=None,
        halt_detail="",
    )


def _run_halted(s: RunState, e: RunHalted) -> RunState:
    return replace(
        s,
        status="halted",
        halt_reason=e.reason,
        halt_detail=e.detail,
        pending_human=tuple(e.waiting_for),
    )


def _run_resumed(s: RunState, e: RunResumed) -> RunState:
    changes: dict[str, Any] = {}
    if e.turns is not None:
        changes["turns"] = e.turns
    if e.credit_limit_usd is not None:
        changes["credit_limit_usd"] = e.credit_limit_usd
    return replace(
        s,
        status="running",
        halt_reason=None,
        halt_detail="",
        settings=replace(s.settings, **changes) if changes else s.settings,
    )


def _run_completed(s: RunState, e: RunCompleted) -> RunState:
    return replace(s, status="completed")


def _run_failed(s: RunState, e: RunFailed) -> RunState:
    return replace(s, status="failed", halt_detail=e.error)


def _turn_started(s: RunState, e: TurnStarted) -> RunState:
    window = s.window
    recent = tuple(m for m in s.messages.recent if m.turn > e.turn - 1 - window)
    return replace(
        s,
        turn=e.turn,
        turn_open=True,
        turn_progress=TurnProgress(),
        pending_human=(),
        messages=replace(s.messages, recent=recent)
        if len(recent) != len(s.messages.recent)
        else s.messages,
        exogenous=replace(s.exogenous, this_turn=()),
    )


def _turn_completed(s: RunState, e: TurnCompleted) -> RunState:
    return replace(
        s,
        turn=e.turn,
        turn_open=False,
        last_completed_turn=e.turn,
        # a fork's counterfactual changes apply to its first turn only
        pending_forced={} if s.fork_turn is not None and e.turn > s.fork_turn else s.pending_forced,
        pending_injections=()
        if s.fork_turn is not None and e.turn > s.fork_turn
        else s.pending_injections,
    )


def _exogenous(s: RunState, e: ExogenousEventTriggered) -> RunState:
    exo = s.exogenous
    counts = exo.fired_counts
    if e.source_index is not None:
        counts = _with(counts, e.source_index, counts.get(e.source_index, 0) + 1)
    view = ExoView(
        turn=e.turn,
        name=e.name,
        description=e.description,
        kind=e.kind,
        source_index=e.source_index,
        effects=e.effects,
    )
    return replace(
        s,
        exogenous=replace(
            exo,
            fired_counts=counts,
            fired=(*exo.fired, (e.turn, e.name, e.kind)),
            this_turn=(*exo.this_turn, view),
        ),
    )


def _message(s: RunState, e: MessageSent) -> RunState:
    view = MessageView(
        message_id=e.message_id,
        turn=e.turn,
        sender=e.sender,
        recipients=e.recipients,
        channel=e.channel,
        visibility=e.visibility,
        kind=e.kind,
        content=e.content,
        thread_id=e.thread_id,
        in_reply_to=e.in_reply_to,
    )
    msgs = s.messages
    coalitions = msgs.coalitions
    if e.kind == "proposal":
        coalitions = (
            *coalitions,
            Coalition(
                proposal_id=e.message_id,
                turn=e.turn,
                proposer=e.sender,
                invited=e.recipients,
                purpose=e.content,
            ),
        )
    elif e.kind in ("accept", "reject") and e.in_reply_to is not None:
        coalitions = tuple(
            replace(
                c,
                accepted=(*c.accepted, e.sender) if e.kind == "accept" else c.accepted,
                rejected=(*c.rejected, e.sender) if e.kind == "reject" else c.rejected,
            )
            if c.proposal_id == e.in_reply_to
            else c
            for c in coalitions
        )
    return replace(s, messages=replace(msgs, recent=(*msgs.recent, view), coalitions=coalitions))


def _requested(s: RunState, e: DecisionRequested) -> RunState:
    tp = s.turn_progress
    return replace(
        s, turn_progress=replace(tp, requested=_with(tp.requested, e.actor, e.request_id))
    )


def _record_decision(
    s: RunState, actor: str, view: DecisionView, goals: tuple[str, ...], priorities: tuple[str, ...]
) -> RunState:
    tp = s.turn_progress
    old = s.actors.get(actor) or ActorView()
    recent = (*old.recent, view)
    if len(recent) > s.window:
        recent = recent[-s.window :]
    actor_view = ActorView(
        goals=goals or old.goals,
        priorities=priorities or old.priorities,
        recent=recent,
        decisions=old.decisions + 1,
    )
    return replace(
        s,
        actors=_with(s.actors, actor, actor_view),
        turn_progress=replace(
            tp, decisions=_with(tp.decisions, actor, view), decided=tp.decided | {actor}
        ),
    )


def _decision_made(s: RunState, e: DecisionMade) -> RunState:
    view = DecisionView(
        turn=e.turn,
        action=e.action,
        reasoning=e.reasoning,
        action_name=e.action_name,
        brain=e.brain,
        parse_method=e.parse_method,
    )
    return _record_decision(s, e.actor, view, e.long_term_goals, e.short_term_priorities)


def _decision_failed(s: RunState, e: DecisionFailed) -> RunState:
    tp = s.turn_progress
    return replace(s, turn_progress=replace(tp, failed=tp.failed | {e.actor}))


def _human_requested(s: RunState, e: HumanInputRequested) -> RunState:
    tp = s.turn_progress
    key = e.actor if e.kind == "decision" else f"{e.actor}:{e.about}"
    return replace(
        s,
        turn_progress=replace(
            tp,
            human_requested=_with(tp.human_requested, key, e.request_id),
            human_kinds=_with(tp.human_kinds, e.request_id, e.kind),
        ),
    )


def _human_submitted(s: RunState, e: HumanDecisionSubmitted) -> RunState:
    if e.kind != "decision":
        return s  # replies and coalition answers arrive as MessageSent from the engine
    view = DecisionView(
        turn=e.turn, action=e.action, reasoning=e.reasoning, brain="human", parse_method="human"
    )
    s = _record_decision(s, e.actor, view, e.long_term_goals, e.short_term_priorities)
    return replace(s, pending_human=tuple(a for a in s.pending_human if a != e.actor))


def _world_updated(s: RunState, e: WorldUpdated) -> RunState:
    w = s.world
    history = (*w.history, (e.turn, e.narrative))
    digest = w.digest
    if len(history) > s.window:
        old_turn, old_text = history[0]
        line = " ".join(old_text.split())[:DIGEST_CHARS]
        digest = (*digest, (old_turn, line))
        history = history[1:]
    variables = {**w.variables, **e.variables} if e.variables else w.variables
    return replace(
        s,
        world=replace(
            w,
            narrative=e.narrative,
            key_changes=e.key_changes,
            consequences=e.consequences,
            variables=variables,
            history=history,
            digest=digest,
        ),
        turn_progress=replace(s.turn_progress, world_updated=True),
    )


def _metric(s: RunState, e: MetricRecorded) -> RunState:
    m = s.metrics
    key = metric_key(e.name, e.actor)
    history = m.history
    if e.value is not None:
        history = _with(history, key, (*history.get(key, ()), (e.turn, e.value)))
    metrics = replace(
        m,
        latest=_with(m.latest, key, e.value)
        if e.value is not None or key not in m.latest
        else m.latest,
        history=history,
        failures=m.failures + (1 if e.error else 0),
    )
    tp = s.turn_progress
    return replace(
        s, metrics=metrics, turn_progress=replace(tp, metrics=tp.metrics | {(e.name, e.actor)})
    )


def _validation(s: RunState, e: ValidationRecorded) -> RunState:
    v = s.validation
    view = ValidationView(
        turn=e.turn, check=e.check, passed=e.passed, severity=e.severity, issues=e.issues
    )
    latest = (*(x for x in v.latest if x.turn >= e.turn - 1), view)
    tp = s.turn_progress
    return replace(
        s,
        validation=replace(v, latest=latest, failed_total=v.failed_total + (0 if e.passed else 1)),
        turn_progress=replace(tp, validations=tp.validations | {e.check}),
    )


def _cost(s: RunState, e: CostIncurred) -> RunState:
    c = s.costs
    amount = e.cost_usd
    breakdown = dict(c.breakdown)
    for key in (
        f"actor:{e.actor or '(world)'}",
        f"model:{e.model}",
        f"turn:{e.turn}",
        f"purpose:{e.purpose}",
    ):
        breakdown[key] = breakdown.get(key, 0.0) + amount
    costs = Costs(
        total_usd=c.total_usd + amount,
        input_tokens=c.input_tokens + e.input_tokens,
        output_tokens=c.output_tokens + e.output_tokens,
        calls=c.calls + 1,
        breakdown=breakdown,
    )
    if e.purpose == "communication" and e.request_id is not None:
        # the communication rounds resume by these ids; other calls resume by their events
        tp = s.turn_progress
        return replace(
            s, costs=costs, turn_progress=replace(tp, call_ids=tp.call_ids | {e.request_id})
        )
    return replace(s, costs=costs)


HANDLERS: dict[type[Event], Callable[[RunState, Any], RunState]] = {
    RunStarted: _run_started,
    RunForked: _run_forked,
    RunHalted: _run_halted,
    RunResumed: _run_resumed,
    RunCompleted: _run_completed,
    RunFailed: _run_failed,
    TurnStarted: _turn_started,
    TurnCompleted: _turn_completed,
    ExogenousEventTriggered: _exogenous,
    MessageSent: _message,
    DecisionRequested: _requested,
    DecisionMade: _decision_made,
    DecisionFailed: _decision_failed,
    HumanInputRequested: _human_requested,
    HumanDecisionSubmitted: _human_submitted,
    WorldUpdated: _world_updated,
    MetricRecorded: _metric,
    ValidationRecorded: _validation,
    CostIncurred: _cost,
}


def apply(state: RunState | None, event: Event) -> RunState:
    """The state after ``event``; ``state`` is left unchanged."""
    return HANDLERS[type(event)](state if state is not None else RunState(), event)


def replay_events(events: Iterable[Event], state: RunState | None = None) -> RunState:
    """Fold a sequence of events, starting from ``state`` (or the empty state)."""
    s = state if state is not None else RunState()
    handlers = HANDLERS
    for event in events:
        s = handlers[type(event)](s, event)
    return s
