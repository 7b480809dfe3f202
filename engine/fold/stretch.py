"""The fold's fast lane: a stretch of consecutive frequent events folded at once.

Most of a played turn is ``DecisionRequested``, ``DecisionMade``, ``CostIncurred``,
``MessageSent``, ``WorldUpdated`` and ``MetricRecorded`` events in a row. Folded one by
one, each builds a new ``RunState`` plus the containers it changes (~2.5 µs an event
here); a replay of a long run does that for every event. Here a stretch of them updates
private working copies of only those containers and builds the new state once at the
end, for the same result: the property test
``test_replay_events_equals_applying_one_by_one`` holds the two paths equal, and both
build an actor's memory, the messages and the world through ``fold_parts``.

Anything unusual in a stretch (a decision after a failure of the same actor) ends it,
and the one-event handler of ``fold.py`` takes that event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgspec.structs import replace

from engine.fold.parts import (
    EMPTY_ACTOR,
    NO_SERIES,
    actor_after,
    decision_of,
    messages_after,
    with_call_ids,
    world_after,
)
from engine.fold.state import ActorState, Costs, Decision, MetricKey, RunState, Series
from eventstore import (
    CostIncurred,
    DecisionMade,
    DecisionRequested,
    Event,
    MessageSent,
    MetricRecorded,
    WorldUpdated,
)

HOT: frozenset[type[Event]] = frozenset(
    {CostIncurred, DecisionMade, DecisionRequested, MessageSent, MetricRecorded, WorldUpdated}
)


def fold_stretch(s: RunState, events: Sequence[Event], i: int) -> tuple[RunState, int]:
    """Fold the frequent events from ``events[i]`` on; return the state and where it stopped.

    It stops at the first event it does not take, which may be ``events[i]`` itself.
    """
    n = len(events)
    tp = s.turn_progress
    failed = tp.failed
    window = s.window
    requested: dict[str, str] | None = None
    actors: dict[str, ActorState] | None = None
    decisions: dict[str, Decision] | None = None
    c = s.costs
    by_kind: dict[Any, float] | None = None
    total, tokens_in, tokens_out, calls = c.total_usd, c.input_tokens, c.output_tokens, c.calls
    cached, saving = c.cached_prompt_tokens, c.cache_saving_usd
    turn_usd, cost_turn, turn_total = c.turn_usd, c.turn, c.turn_total
    call_ids: list[str] = []
    m = s.metrics
    latest: dict[MetricKey, float] | None = None
    history: dict[MetricKey, Series[Any]] | None = None
    metrics_failed = m.failed
    tp_metrics = tp.metrics
    msgs = s.messages
    tp_messages = tp.messages
    world = s.world
    while i < n:
        e = events[i]
        # ``type(e) is X`` narrows for mypy; an isinstance assert per event cost ~5%
        if type(e) is CostIncurred:
            usd = e.cost_usd
            if usd is None:
                break  # a call of unknown cost: the one-event handler counts it apart
            if by_kind is None:
                by_kind = c.usd_by_kind.copy()
            kind = (e.actor, e.model, e.purpose)
            by_kind[kind] = by_kind.get(kind, 0.0) + usd
            if e.turn == cost_turn:
                turn_total += usd
            else:
                # the first cost of another turn closes the running total of the last
                if calls:
                    turn_usd = turn_usd.append((cost_turn, turn_total))
                cost_turn = e.turn
                turn_total = usd
            total += usd
            tokens_in += e.input_tokens
            tokens_out += e.output_tokens
            cached += e.cached_prompt_tokens or 0
            saving += e.cache_saving_usd or 0.0
            calls += 1
            if e.purpose == "communication" and e.request_id is not None:
                call_ids.append(e.request_id)
        elif type(e) is DecisionRequested:
            if requested is None:
                requested = tp.requested.copy()
            requested[e.actor] = e.request_id
        elif type(e) is DecisionMade:
            actor = e.actor
            if actor in failed:
                break  # a retry that succeeded: the one-event handler clears the failure
            if actors is None or decisions is None:
                actors = s.actors.copy()
                decisions = tp.decisions.copy()
            decision = decision_of(e)
            actors[actor] = actor_after(actors.get(actor, EMPTY_ACTOR), decision, window)
            decisions[actor] = decision
        elif type(e) is MetricRecorded:
            if history is None:
                history = m.history.copy()
            key = (e.name, e.actor)
            value = e.value
            ok = value is not None and e.error is None
            history[key] = history.get(key, NO_SERIES).append((e.turn, value if ok else None))
            if ok:
                if latest is None:
                    latest = m.latest.copy()
                latest[key] = value  # type: ignore[assignment]
            else:
                metrics_failed += 1
            if key not in tp_metrics:
                tp_metrics = (*tp_metrics, key)
        elif type(e) is MessageSent:
            msgs = messages_after(msgs, e)
            tp_messages = (*tp_messages, e.message_id)
        elif type(e) is WorldUpdated:
            world = world_after(world, e, window)
        else:
            break
        i += 1
    changes: dict[str, Any] = {}
    progress: dict[str, Any] = {}
    if requested is not None:
        progress["requested"] = requested
    if actors is not None:
        changes["actors"] = actors
        progress["decisions"] = decisions
    if by_kind is not None:
        changes["costs"] = Costs(
            total_usd=total,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            calls=calls,
            usd_by_kind=by_kind,
            turn_usd=turn_usd,
            turn=cost_turn,
            turn_total=turn_total,
            unpriced_calls=c.unpriced_calls,
            cached_prompt_tokens=cached,
            cache_saving_usd=saving,
        )
    if msgs is not s.messages:
        changes["messages"] = msgs
        progress["messages"] = tp_messages
    if world is not s.world:
        changes["world"] = world
        progress["world_updated"] = True
    if call_ids:
        progress["call_ids"] = with_call_ids(tp.call_ids, call_ids)
    if history is not None:
        changes["metrics"] = replace(
            m,
            latest=m.latest if latest is None else latest,
            history=history,
            failed=metrics_failed,
        )
        if tp_metrics is not tp.metrics:
            progress["metrics"] = tp_metrics
    if progress:
        changes["turn_progress"] = replace(tp, **progress)
    return (replace(s, **changes) if changes else s), i
