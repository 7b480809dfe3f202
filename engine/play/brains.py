"""Actor brains: how one actor's decision of a turn is produced, as events.

Every brain ends in the same ``DecisionMade`` event (or ``DecisionFailed``), so replay,
forks, projections and reports treat LLM, rule, scripted and counterfactual decisions
alike. An LLM answer that cannot be used (unreadable, or cut off at the token limit)
gets a re-ask (``answers``), then ``DecisionFailed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import BudgetExceeded, LLMUnavailable
from engine.llm import ChatRequest, DecisionOut, LLMCallFailed, json_schema_for
from engine.play.answers import MAX_ASKS, Unusable, read_decision, reask, with_method
from engine.play.calls import ModelCaller
from eventstore import DecisionFailed, DecisionMade, Event, ModelCall

# What a re-ask names as the answer's keys.
DECISION_KEYS = "long_term_goals, short_term_priorities, reasoning, action, action_name"


@dataclass
class Outcome:
    """What a brain produced: events to append atomically, and blobs they reference."""

    events: list[Event] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    refused: BudgetExceeded | None = None  # a re-ask the budget refused: halt once recorded


def _script_entry(actor: Any, turn: int) -> Any:
    script = list(actor.script or [])
    # a script shorter than the run repeats its last entry (documented in the scenario format)
    return script[min(turn, len(script)) - 1]


def scripted(actor: Any, turn: int, request_id: str) -> DecisionMade:
    entry = _script_entry(actor, turn)
    if isinstance(entry, str):
        action, reasoning, goals, name = entry, "scripted", (), None
    else:
        action = entry.action
        reasoning = entry.reasoning or "scripted"
        goals = tuple(entry.goals or ())
        name = entry.action_name
    return DecisionMade(
        turn=turn,
        actor=actor.short_name,
        request_id=request_id,
        long_term_goals=goals or tuple(actor.goals or ()),
        reasoning=reasoning,
        action=action,
        action_name=name,
        brain="scripted",
        parse_method="scripted",
    )


def forced(
    actor: Any, turn: int, request_id: str, action: str, *, rules: bool = False
) -> DecisionMade:
    """A counterfactual fork's decision: recorded as given, no model consulted.

    In a rule-driven world (``rules``) a decision that is one of the actor's declared
    action names is that action: its effects apply, as when the actor chose it.
    """
    declared = {a.name: a for a in actor.actions} if rules else {}
    chosen = declared.get(action.strip())
    return DecisionMade(
        turn=turn,
        actor=actor.short_name,
        request_id=request_id,
        long_term_goals=tuple(actor.goals or ()),
        reasoning="counterfactual: decision set by the fork",
        action=(chosen.description or chosen.name) if chosen else action,
        action_name=chosen.name if chosen else None,
        brain="counterfactual",
        parse_method="forced",
    )


def decision_request(
    model: str,
    messages: list[dict[str, str]],
    *,
    temperature: float,
    seed: int,
    json_mode: bool,
    action_names: list[str],
    cache_prefix_chars: int | None = None,
) -> ChatRequest:
    schema = None
    if json_mode:
        schema = json_schema_for(DecisionOut)
        if action_names:
            props = dict(schema["properties"])
            props["action_name"] = {"type": "string", "enum": action_names}
            schema = {**schema, "properties": props}
    return ChatRequest(
        model=model,
        messages=messages,
        temperature=temperature,
        seed=seed,
        max_tokens=1200,
        json_schema=schema,
        schema_name="decision" if schema else None,
        purpose="decision",
        cache_prefix_chars=cache_prefix_chars,
    )


async def ai_decision(
    caller: ModelCaller,
    request: ChatRequest,
    *,
    actor: str,
    turn: int,
    request_id: str,
    action_names: list[str],
) -> Outcome:
    """Ask the model; re-ask while the answer cannot be used (``answers.MAX_ASKS``).

    Raises ``BudgetExceeded`` when the first call does not fit; a re-ask that does not
    fit leaves ``Outcome.refused`` set, so what was paid for is recorded before the run
    halts.
    """
    out = Outcome()
    current = request
    for asks in range(1, MAX_ASKS + 1):
        try:
            result = await caller.call(current, turn=turn, actor=actor, request_id=request_id)
        except LLMUnavailable as e:
            out.events.append(
                DecisionFailed(
                    turn=turn,
                    actor=actor,
                    request_id=request_id,
                    error=e.one_line(),
                    error_kind="llm_unavailable",
                    # the failed HTTP attempts belong in the audit trail
                    call=ModelCall(model=current.model, attempts=tuple(e.attempts))
                    if isinstance(e, LLMCallFailed)
                    else None,
                )
            )
            return out
        except BudgetExceeded as e:
            if asks == 1:
                raise
            out.refused = e
            return out
        out.events.append(result.cost)
        out.blobs.update(result.blobs)
        try:
            parsed, method = read_decision(result.response, action_names)
        except Unusable as problem:
            if asks < MAX_ASKS:
                current = reask(request, result.response.text, problem, DECISION_KEYS)
                continue
            out.events.append(
                DecisionFailed(
                    turn=turn,
                    actor=actor,
                    request_id=request_id,
                    error=f"{problem.kind} after a re-ask: {problem.message}",
                    error_kind=problem.kind,
                    call=with_method(result.call, problem.kind),
                )
            )
            return out
        if result.response.schema_enforced and method == "json":
            method = "json_schema"
        if asks > 1:
            method = f"reask:{method}"
        out.events.append(
            DecisionMade(
                turn=turn,
                actor=actor,
                request_id=request_id,
                long_term_goals=tuple(parsed.long_term_goals),
                short_term_priorities=tuple(parsed.short_term_priorities),
                reasoning=parsed.reasoning,
                action=parsed.action,
                # with no actions offered, a name is the model's invention: it would read
                # as a declared action in the audit and the report
                action_name=parsed.action_name if action_names else None,
                brain="ai",
                parse_method=method,
                call=with_method(result.call, method),
            )
        )
        return out
    raise AssertionError("unreachable: the last ask returns")  # pragma: no cover
