"""Human seats: what a human is asked, and recording what they answer.

The run halts while it waits; any process may submit (the CLI's ``decide``), and
``resume`` goes on. A decision is a ``HumanDecisionSubmitted``; a reply to a private
talk or an answer to a coalition invitation is that event plus the ``MessageSent`` it
produces, appended together so the talk is answered exactly once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.fold.state import RunState
from engine.play.talks import answer_event, reply_event
from engine.replay import replay
from eventstore import (
    ConcurrencyConflict,
    Event,
    EventStore,
    HumanDecisionSubmitted,
    HumanInputRequested,
    InvalidRequest,
    NotFound,
    SeatNotWaiting,
    UsageError,
)


@dataclass(frozen=True)
class PendingInput:
    actor: str
    turn: int
    kind: str  # decision, reply, coalition
    request_id: str
    about: str | None
    prompt: list[dict[str, str]]


def pending_inputs(store: EventStore, run_id: str) -> list[PendingInput]:
    """What the run waits for from humans in its open turn."""
    state = replay(store, run_id)
    if not state.turn_open:
        return []
    answered = {(m.sender, m.in_reply_to) for m in state.messages.recent if m.turn == state.turn}
    requests: dict[str, HumanInputRequested] = {}
    for rec in store.iter_events(run_id, after_seq=0):
        if rec.turn == state.turn and isinstance(rec.event, HumanInputRequested):
            requests[rec.event.request_id] = rec.event
    out = []
    for req in requests.values():
        if req.kind == "decision" and req.actor in state.turn_progress.decided:
            continue
        if req.kind != "decision" and (req.actor, req.about) in answered:
            continue
        prompt: list[dict[str, str]] = []
        if req.prompt_hash:
            prompt = json.loads(store.get_blob(req.prompt_hash)).get("messages", [])
        out.append(PendingInput(req.actor, req.turn, req.kind, req.request_id, req.about, prompt))
    return out


def submit(
    store: EventStore,
    run_id: str,
    actor: str,
    *,
    action: str | None = None,
    reasoning: str = "",
    goals: tuple[str, ...] = (),
    reply: str | None = None,
    accept: bool | None = None,
    submitted_by: str = "",
    via: str = "cli",
    action_name: str | None = None,
    request_id: str | None = None,
) -> HumanDecisionSubmitted:
    """Record a human's answer to what the run waits for; refuses a second answer.

    An actor that declares actions (a rule-driven world) must choose one by
    ``action_name``: its effects are what moves the world's variables. ``request_id``:
    only as the answer to that question (another one open is refused).
    """
    # the answer is appended after the seq the state was read at: an answer that landed
    # meanwhile makes this one a conflict, never a second answer to the same question
    seen = store.last_seq(run_id)
    state = replay(store, run_id)
    check_actor(state, run_id, actor)
    actors = state.scenario.get("actors", {})
    control = state.control_overrides.get(actor) or actors[actor].get("control", "ai")
    if control != "human":
        raise SeatNotWaiting(
            "{actor!r} is not a human seat in run {run}: its control is {control}",
            hint="fork the run with {humans} {actor} to take that seat",
            run_id=run_id,
            values={"actor": actor, "run": run_id, "control": control},
        )
    pending = [p for p in pending_inputs(store, run_id) if p.actor == actor]
    if not pending:
        if state.turn_open and actor in state.turn_progress.decided:
            raise SeatNotWaiting(
                f"{actor} already decided turn {state.turn} of run {run_id}",
                hint="a decision is recorded once; fork the run to try another",
                run_id=run_id,
            )
        waiting = sorted({p.actor for p in pending_inputs(store, run_id)})
        raise SeatNotWaiting(
            f"run {run_id} is not waiting for input from {actor!r}",
            hint=f"it waits for: {', '.join(waiting)}" if waiting else "no human input is pending",
            run_id=run_id,
        )
    want = pending[0]
    if request_id is not None and want.request_id != request_id:
        raise SeatNotWaiting(
            f"question {request_id} of {actor!r} is not open (answered already?)",
            run_id=run_id,
        )
    events: list[Event] = []
    # text that is only blanks says nothing: it is asked for again, not recorded
    action = action.strip() if action else None
    reply = reply.strip() if reply else None
    if want.kind == "decision":
        declared = declared_actions(state, actor)
        action_name = _check_action_name(run_id, actor, list(declared), action_name)
        if not action and action_name is not None:
            action = declared[action_name]
        if not action:
            raise InvalidRequest(
                f"{actor} must decide turn {want.turn}",
                hint="pass {action} TEXT",
                run_id=run_id,
                field="action",
                values={},
            )
        event = HumanDecisionSubmitted(
            turn=want.turn,
            actor=actor,
            request_id=want.request_id,
            kind="decision",
            long_term_goals=goals,
            reasoning=reasoning,
            action=action,
            action_name=action_name,
            submitted_by=submitted_by,
            submitted_via=via,
        )
        events.append(event)
    else:
        message = find_message(state, want.about)
        if want.kind == "reply":
            if not reply:
                raise InvalidRequest(
                    f"{actor} is asked to reply to a private talk",
                    hint="pass {reply} TEXT",
                    run_id=run_id,
                    field="reply",
                    values={},
                )
            event = HumanDecisionSubmitted(
                turn=want.turn,
                actor=actor,
                request_id=want.request_id,
                kind="reply",
                action=reply,
                submitted_by=submitted_by,
                submitted_via=via,
            )
            events += [event, reply_event(want.turn, message, actor, reply)]
        else:
            if accept is None:
                raise InvalidRequest(
                    f"{actor} is invited to a coalition",
                    hint="pass {accept} or {reject} (with {reasoning})",
                    run_id=run_id,
                    field="accept",
                    values={},
                )
            event = HumanDecisionSubmitted(
                turn=want.turn,
                actor=actor,
                request_id=want.request_id,
                kind="coalition",
                action="accept" if accept else "reject",
                reasoning=reasoning,
                accept=accept,
                submitted_by=submitted_by,
                submitted_via=via,
            )
            events += [event, answer_event(want.turn, message, actor, accept, reasoning or "")]
    try:
        store.append(run_id, events, expected_seq=seen)
    except ConcurrencyConflict as e:
        raise UsageError(
            f"run {run_id} changed while submitting",
            hint="run the command again",
            run_id=run_id,
        ) from e
    return event


def check_actor(state: RunState, run_id: str, actor: str) -> None:
    """Refuse an actor the run does not have (a filter on it would match nothing, an
    answer for it could not be recorded)."""
    actors = state.scenario.get("actors", {})
    if actor not in actors:
        raise NotFound(
            f"run {run_id} has no actor {actor!r}",
            hint=f"actors: {', '.join(actors)}",
            run_id=run_id,
            field="actor",
        )


def find_message(state: Any, message_id: str | None) -> Any:
    """The message of the open turn a human is asked to answer (a talk, an invitation)."""
    for m in state.messages.recent:
        if m.message_id == message_id:
            return m
    raise UsageError(f"message {message_id} is not in the open turn")


def declared_actions(state: RunState, actor: str) -> dict[str, str]:
    """The actions ``actor`` declares in the run's scenario: name -> what it does.

    Only a world with variables has rules to apply their effects (as for AI actors).
    """
    if not state.scenario.get("variables"):
        return {}
    spec = state.scenario.get("actors", {}).get(actor) or {}
    return {a["name"]: a.get("description") or a["name"] for a in spec.get("actions") or ()}


def _check_action_name(
    run_id: str, actor: str, declared: list[str], action_name: str | None
) -> str | None:
    if not declared:
        if action_name is not None:
            raise InvalidRequest(
                "{actor} declares no actions in run {run}, so {action_name} has no effect",
                hint="describe the decision with {action} TEXT alone",
                run_id=run_id,
                field="action_name",
                values={"actor": actor, "run": run_id},
            )
        return None
    if action_name is None:
        raise InvalidRequest(
            "{actor} must choose one of its declared actions (their effects move the world)",
            hint="pass {action_name} with one of: {actions}",
            run_id=run_id,
            field="action_name",
            values={"actor": actor, "actions": ", ".join(declared)},
        )
    if action_name not in declared:
        raise InvalidRequest(
            f"{action_name!r} is not one of {actor}'s actions",
            hint=f"choose one of: {', '.join(declared)}",
            run_id=run_id,
            field="action_name",
        )
    return action_name
