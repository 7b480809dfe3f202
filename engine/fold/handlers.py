"""The fold: ``apply(state, event) -> state``, pure over the frozen values of ``state.py``.

No I/O, clock or randomness: the same events always give the same state. A handler is
found by event class in a dict; each returns a new ``RunState`` made with
``msgspec.structs.replace`` and copies any dict or tuple it changes, so every earlier
state stays as it was.

Cost matters here: replaying a long run folds every event, so the frequent events
(``DecisionRequested``, ``CostIncurred``) touch as little as they can, and whatever
grows with the run's length (histories, digests) grows through ``Series`` or is bounded
by the context window, never by copying everything before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from msgspec.structs import replace

from engine.fold.parts import (
    EMPTY_ACTOR,
    NO_SERIES,
    actor_after,
    decision_of,
    messages_after,
    with_call_ids,
    with_item,
    world_after,
)
from engine.fold.state import (
    DEFAULT_WINDOW,
    Costs,
    Decision,
    FiredEvent,
    PendingHuman,
    RunState,
    TurnProgress,
    ValidationResult,
    WorldState,
)
from engine.fold.stretch import HOT, fold_stretch
from eventstore import (
    ActorInterviewed,
    CallFailed,
    CostIncurred,
    DecisionFailed,
    DecisionMade,
    DecisionRequested,
    Event,
    ExogenousEventTriggered,
    HumanDecisionSubmitted,
    HumanInputRequested,
    InjectQueued,
    MessageSent,
    MetricRecorded,
    RunCompleted,
    RunFailed,
    RunForked,
    RunHalted,
    RunResumed,
    RunStarted,
    StoreError,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
    WorldUpdateProposed,
    WorldUpdateReviewed,
)

# Shared empty values: a dict in them is never changed in place, so sharing is safe and
# spares building fresh empty dicts for every turn.
_EMPTY_PROGRESS = TurnProgress()


def _without(d: dict[Any, Any], key: Any) -> dict[Any, Any]:
    out = d.copy()
    del out[key]
    return out


# -- the run's lifecycle ---------------------------------------------------------------


def _window(settings_window: int | None, scenario: Mapping[str, Any]) -> int:
    window = settings_window or scenario.get("context_window_size")
    return window if isinstance(window, int) and window > 0 else DEFAULT_WINDOW


def _initial_variables(scenario: Mapping[str, Any]) -> dict[str, float]:
    """Rule variables at turn 0: ``scenario["variables"][name]["initial"]``."""
    specs = scenario.get("variables")
    if not isinstance(specs, Mapping):
        return {}
    out: dict[str, float] = {}
    for name, spec in specs.items():
        if isinstance(spec, Mapping) and isinstance(spec.get("initial"), int | float):
            out[name] = float(spec["initial"])
    return out


def _start(e: RunStarted) -> RunState:
    return RunState(
        scenario_name=e.scenario_name,
        scenario=e.scenario,
        scenario_sha256=e.scenario_sha256,
        seed=e.seed,
        settings=e.settings,
        tool_version=e.tool_version,
        window=_window(e.settings.context_window, e.scenario),
        turn=e.turn,
        turn_progress=TurnProgress(turn=e.turn),
        world=WorldState(variables=_initial_variables(e.scenario)),
    )


def _run_started(s: RunState, e: RunStarted) -> RunState:
    raise StoreError(
        "a run's timeline holds a second RunStarted",
        hint="check the log with `scenario-lab verify`",
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
        fork_seq=e.fork_seq,
        control_overrides={**s.control_overrides, **e.control_changes}
        if e.control_changes
        else s.control_overrides,
        pending_forced=dict(e.forced_decisions),
        pending_injections=tuple(e.injections),
        # a branch starts playable, whatever its parent did after the fork point
        status="running",
        halt_reason=None,
        halt_detail="",
        waiting_for=(),
    )


def _run_halted(s: RunState, e: RunHalted) -> RunState:
    if s.status in ("completed", "failed"):
        return s  # those are final; a late halt changes nothing
    return replace(
        s, status="halted", halt_reason=e.reason, halt_detail=e.detail, waiting_for=e.waiting_for
    )


def _run_resumed(s: RunState, e: RunResumed) -> RunState:
    changes: dict[str, Any] = {}
    if e.turns is not None:
        changes["turns"] = e.turns
    if e.credit_limit_usd is not None:
        changes["credit_limit_usd"] = e.credit_limit_usd
    settings = replace(s.settings, **changes) if changes else s.settings
    if s.status == "failed":
        return replace(s, settings=settings)  # a failed run stays failed: fork it instead
    return replace(
        s,
        settings=settings,
        status="running",  # also extends a completed run by more turns
        halt_reason=None,
        halt_detail="",
        waiting_for=(),
        validation=replace(s.validation, failed_since_resume=0),
    )


def _run_completed(s: RunState, e: RunCompleted) -> RunState:
    return replace(s, status="completed", halt_reason=None, halt_detail="", waiting_for=())


def _run_failed(s: RunState, e: RunFailed) -> RunState:
    return replace(
        s, status="failed", halt_reason=e.error_type or "error", halt_detail=e.error, waiting_for=()
    )


# -- turns -----------------------------------------------------------------------------


def _first_at(items: tuple[Any, ...], turn: int) -> int:
    """The index of the first item of ``turn`` or later (items are in turn order)."""
    i = 0
    n = len(items)
    while i < n and items[i].turn < turn:
        i += 1
    return i


def _turn_started(s: RunState, e: TurnStarted) -> RunState:
    turn = e.turn
    oldest = turn - s.window  # messages and checks of older turns leave the state
    msgs = s.messages
    recent = msgs.recent
    if recent and recent[0].turn < oldest:
        msgs = replace(msgs, recent=recent[_first_at(recent, oldest) :])
    validation = s.validation
    latest = validation.latest
    if latest and latest[0].turn < oldest:
        validation = replace(validation, latest=latest[_first_at(latest, oldest) :])
    exo = s.exogenous
    if exo.this_turn:
        exo = replace(exo, this_turn=())
    return replace(
        s,
        turn=turn,
        turn_open=True,
        turn_progress=replace(_EMPTY_PROGRESS, turn=turn),
        messages=msgs,
        validation=validation,
        exogenous=exo,
    )


def _turn_completed(s: RunState, e: TurnCompleted) -> RunState:
    turn = e.turn
    changes: dict[str, Any] = {}
    if (
        s.fork_turn is not None
        and turn > s.fork_turn
        and (s.pending_forced or s.pending_injections)
    ):
        # a branch's forced decisions and injections belong to its first turn only
        changes["pending_forced"] = {}
        changes["pending_injections"] = ()
    if s.pending_human:
        # a request belongs to its turn: once the turn is over nobody can answer it
        pending = {}
        for actor, requests in s.pending_human.items():
            left = tuple(r for r in requests if r.turn > turn)
            if left:
                pending[actor] = left
        changes["pending_human"] = pending
    if changes:
        return replace(s, turn=turn, turn_open=False, last_completed_turn=turn, **changes)
    return replace(s, turn=turn, turn_open=False, last_completed_turn=turn)


def _exogenous(s: RunState, e: ExogenousEventTriggered) -> RunState:
    exo = s.exogenous
    fired = FiredEvent(
        turn=e.turn,
        name=e.name,
        kind=e.kind,
        description=e.description,
        source_index=e.source_index,
        effects=e.effects,
        visible_to=e.visible_to,
    )
    counts = exo.fired_counts
    if e.source_index is not None:
        counts = with_item(counts, e.source_index, counts.get(e.source_index, 0) + 1)
    pending = s.pending_injects
    if e.inject_id is not None:
        pending = tuple(q for q in pending if q.inject_id != e.inject_id)
    return replace(
        s,
        exogenous=replace(
            exo,
            fired=exo.fired.append(fired),
            fired_counts=counts,
            this_turn=(*exo.this_turn, fired),
        ),
        pending_injects=pending,
    )


def _inject_queued(s: RunState, e: InjectQueued) -> RunState:
    return replace(s, pending_injects=(*s.pending_injects, e))


def _world_proposed(s: RunState, e: WorldUpdateProposed) -> RunState:
    return replace(s, world_proposal=e, world_review=None)


def _world_reviewed(s: RunState, e: WorldUpdateReviewed) -> RunState:
    return replace(s, world_review=e)


# -- communication ---------------------------------------------------------------------


def _message(s: RunState, e: MessageSent) -> RunState:
    tp = s.turn_progress
    return replace(
        s,
        messages=messages_after(s.messages, e),
        turn_progress=replace(tp, messages=(*tp.messages, e.message_id)),
    )


# -- decisions -------------------------------------------------------------------------


def _requested(s: RunState, e: DecisionRequested) -> RunState:
    tp = s.turn_progress
    requested = tp.requested.copy()
    requested[e.actor] = e.request_id
    return replace(s, turn_progress=replace(tp, requested=requested))


def _record_decision(s: RunState, decision: Decision, submitted: dict[str, str] | None) -> RunState:
    actor = decision.actor
    actors = s.actors.copy()
    actors[actor] = actor_after(s.actors.get(actor, EMPTY_ACTOR), decision, s.window)
    tp = s.turn_progress
    decisions = tp.decisions.copy()
    decisions[actor] = decision
    if submitted is None and actor not in tp.failed:
        tp = replace(tp, decisions=decisions)
    else:
        tp = replace(
            tp,
            decisions=decisions,
            # a decision after a failure is a retry that succeeded
            failed=_without(tp.failed, actor) if actor in tp.failed else tp.failed,
            human_submitted=tp.human_submitted if submitted is None else submitted,
        )
    return replace(s, actors=actors, turn_progress=tp)


def _decision_made(s: RunState, e: DecisionMade) -> RunState:
    return _record_decision(s, decision_of(e), None)


def _decision_failed(s: RunState, e: DecisionFailed) -> RunState:
    tp = s.turn_progress
    if e.actor in tp.decisions:
        return s  # a late failure of a call whose retry already decided
    if e.error_kind == "llm_unavailable":
        # no model answered: the run halts on it and a resume asks again, so the actor
        # is still to decide (an unreadable answer, by contrast, is the actor's turn)
        return s
    return replace(s, turn_progress=replace(tp, failed=with_item(tp.failed, e.actor, e.error)))


def _human_key(actor: str, kind: str, about: str | None) -> str:
    return actor if kind == "decision" else f"{actor}:{about}"


def _human_requested(s: RunState, e: HumanInputRequested) -> RunState:
    tp = s.turn_progress
    request = PendingHuman(
        actor=e.actor, request_id=e.request_id, kind=e.kind, turn=e.turn, about=e.about
    )
    pending = s.pending_human
    return replace(
        s,
        turn_progress=replace(
            tp,
            human_requested=with_item(
                tp.human_requested, _human_key(e.actor, e.kind, e.about), e.request_id
            ),
        ),
        pending_human=with_item(pending, e.actor, (*pending.get(e.actor, ()), request)),
    )


def _human_submitted(s: RunState, e: HumanDecisionSubmitted) -> RunState:
    actor = e.actor
    requests = s.pending_human.get(actor, ())
    answered = next((r for r in requests if r.request_id == e.request_id), None)
    pending = s.pending_human
    if answered is not None:
        left = tuple(r for r in requests if r is not answered)
        pending = with_item(pending, actor, left) if left else _without(pending, actor)
    tp = s.turn_progress
    if e.turn != tp.turn:
        # submitted for a turn that is not the current one: too late to count
        return replace(s, pending_human=pending) if pending is not s.pending_human else s
    about = answered.about if answered is not None else None
    submitted = with_item(tp.human_submitted, _human_key(actor, e.kind, about), e.request_id)
    s = replace(s, pending_human=pending)
    if e.kind != "decision":
        # replies and coalition answers take effect through the MessageSent the engine
        # records with them; here they only close the request
        return replace(s, turn_progress=replace(tp, human_submitted=submitted))
    decision = Decision(
        turn=e.turn,
        actor=actor,
        request_id=e.request_id,
        action=e.action,
        action_name=e.action_name,
        reasoning=e.reasoning,
        brain="human",
        parse_method="human",
        long_term_goals=e.long_term_goals,
        short_term_priorities=e.short_term_priorities,
    )
    return _record_decision(s, decision, submitted)


# -- the world, metrics, checks, costs -------------------------------------------------


def _world_updated(s: RunState, e: WorldUpdated) -> RunState:
    return replace(
        s,
        world=world_after(s.world, e, s.window),
        turn_progress=replace(s.turn_progress, world_updated=True),
    )


def _metric(s: RunState, e: MetricRecorded) -> RunState:
    m = s.metrics
    key = (e.name, e.actor)
    value = e.value
    ok = value is not None and e.error is None
    history = m.history.copy()
    history[key] = history.get(key, NO_SERIES).append((e.turn, value if ok else None))
    if ok:
        latest = m.latest.copy()
        latest[key] = value  # type: ignore[assignment]
        metrics = replace(m, latest=latest, history=history)
    else:
        metrics = replace(m, history=history, failed=m.failed + 1)
    tp = s.turn_progress
    if key in tp.metrics:
        return replace(s, metrics=metrics)
    return replace(s, metrics=metrics, turn_progress=replace(tp, metrics=(*tp.metrics, key)))


def _validation(s: RunState, e: ValidationRecorded) -> RunState:
    v = s.validation
    result = ValidationResult(
        turn=e.turn,
        check=e.check,
        passed=e.passed,
        severity=e.severity,
        issues=e.issues,
        explanation=e.explanation,
    )
    failed = 0 if e.passed else 1
    validation = replace(
        v,
        latest=(*v.latest, result),
        failed_total=v.failed_total + failed,
        failed_since_resume=v.failed_since_resume + failed,
    )
    tp = s.turn_progress
    if e.check in tp.validations:
        return replace(s, validation=validation)
    return replace(
        s, validation=validation, turn_progress=replace(tp, validations=(*tp.validations, e.check))
    )


def _cost(s: RunState, e: CostIncurred) -> RunState:
    c = s.costs
    usd = e.cost_usd if e.cost_usd is not None else 0.0  # unknown: counted apart
    kind = (e.actor, e.model, e.purpose)
    by_kind = c.usd_by_kind.copy()
    by_kind[kind] = by_kind.get(kind, 0.0) + usd
    turn = e.turn
    if turn == c.turn:
        turn_usd = c.turn_usd
        turn_total = c.turn_total + usd
    else:
        # the first cost of another turn closes the running total of the previous one
        turn_usd = c.turn_usd.append((c.turn, c.turn_total)) if c.calls else c.turn_usd
        turn_total = usd
    costs = Costs(
        total_usd=c.total_usd + usd,
        input_tokens=c.input_tokens + e.input_tokens,
        output_tokens=c.output_tokens + e.output_tokens,
        calls=c.calls + 1,
        usd_by_kind=by_kind,
        turn_usd=turn_usd,
        turn=turn,
        turn_total=turn_total,
        unpriced_calls=c.unpriced_calls + (e.cost_usd is None),
        cached_prompt_tokens=c.cached_prompt_tokens + (e.cached_prompt_tokens or 0),
        cache_saving_usd=c.cache_saving_usd + (e.cache_saving_usd or 0.0),
    )
    if e.purpose == "communication" and e.request_id is not None:
        tp = s.turn_progress
        return replace(
            s,
            costs=costs,
            turn_progress=replace(tp, call_ids=with_call_ids(tp.call_ids, (e.request_id,))),
        )
    return replace(s, costs=costs)


def _call_failed(s: RunState, e: CallFailed) -> RunState:
    # A talk whose answer could not be used is done all the same: a resume must not ask
    # again (an unreachable model records no cost, so the failure is what says so). The
    # other phases record their own outcome beside it (a metric without a value, a
    # failed check) or halt (the world update), and that is what their resume reads.
    if e.purpose != "communication":
        return s
    tp = s.turn_progress
    ids = with_call_ids(tp.call_ids, (e.request_id,))
    return s if ids is tp.call_ids else replace(s, turn_progress=replace(tp, call_ids=ids))


def _interviewed(s: RunState, e: ActorInterviewed) -> RunState:
    # an interview is asked outside the exercise: the actor's memory stays as it was
    # (its cost, a CostIncurred of its own, is counted like any other call's)
    return s


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
    InjectQueued: _inject_queued,
    WorldUpdateProposed: _world_proposed,
    WorldUpdateReviewed: _world_reviewed,
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
    CallFailed: _call_failed,
    ActorInterviewed: _interviewed,
}


def apply(state: RunState | None, event: Event) -> RunState:
    """The state after ``event``; ``state`` itself is left unchanged.

    ``state`` is None only before a run's first event, which must be ``RunStarted``.
    """
    if state is None:
        if type(event) is RunStarted:
            return _start(event)
        raise StoreError(
            f"a run's timeline starts with {type(event).__name__}, not RunStarted",
            hint="check the log with `scenario-lab verify`",
        )
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"the fold has no handler for {type(event).__name__}")
    return handler(state, event)


def replay_events(events: Iterable[Event], state: RunState | None = None) -> RunState:
    """Fold ``events`` in order, starting from ``state`` (None: before the first event).

    Stretches of the frequent events go through ``fold_stretch`` (same result, less
    copying). Raises ``ValueError`` for an empty sequence with no starting state.
    """
    seq = events if isinstance(events, list | tuple) else list(events)
    s = state
    i = 0
    if s is None:
        if not seq:
            raise ValueError("no events to fold and no state to start from")
        s = apply(None, seq[0])
        i = 1
    handlers = HANDLERS
    hot = HOT
    n = len(seq)
    while i < n:
        event = seq[i]
        kind = type(event)
        if kind in hot:
            s, stop = fold_stretch(s, seq, i)
            if stop > i:
                i = stop
                continue
        try:
            handler = handlers[kind]
        except KeyError:
            raise TypeError(f"the fold has no handler for {kind.__name__}") from None
        s = handler(s, event)
        i += 1
    return s
