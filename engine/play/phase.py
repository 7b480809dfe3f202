"""What the phases of a turn share: their view of the player, halts, requests, contexts.

A phase (talks, decisions, world update, metrics, validation) reads the folded state
and the scenario, asks models through the player's caller and appends events through
the player, which orders them, writes them and folds them. That is all it gets of the
player (:class:`Play`): a phase cannot write the store, take the lease or keep anything
between turns, so it decides from the log alone and a resume finds its work half done
exactly as the log says.

A phase must read the state it decides from before its first ``await``: once its calls
are in flight, other tasks' events may be folded into ``state`` under it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from engine.errors import BudgetExceeded, LLMUnavailable
from engine.fold.state import RunState, visible_messages
from engine.llm import ChatRequest, json_schema_for
from engine.play.answers import MAX_ASKS, Unusable, read_structured, reask, with_method
from engine.play.calls import ModelCaller, failed_call
from engine.play.prompts import DecisionContext, PastDecision, SeenMessage, declared_actions
from engine.rng import llm_seed
from engine.scenario.load import simulated_date
from engine.scenario.model import Scenario
from eventstore import CallFailed, CostIncurred, Event, HaltReason, ModelCall

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Play(Protocol):
    """The player as a phase sees it."""

    @property
    def state(self) -> RunState:
        """The run folded up to the last event written (not the ones still held)."""
        ...

    @property
    def scenario(self) -> Scenario: ...

    def append(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        """Append events (with the blobs they refer to) in the run's order."""
        ...

    def caller(self) -> ModelCaller:
        """The run's model caller: its concurrency cap, credit limit and prices."""
        ...

    async def in_order(self, items: Sequence[T], work: Callable[[T], Awaitable[None]]) -> None:
        """``work(item)`` for every item concurrently, their events landing in item order."""
        ...

    def control(self, actor_id: str) -> str:
        """Who decides for the actor now: ai, human, rules or scripted."""
        ...

    def model_for(self, actor_id: str) -> str:
        """The actor's model, after the run's overrides."""
        ...

    def world_model(self) -> str | None:
        """The adjudicator's model, or None when the rules adjudicate."""
        ...


class Halt(Exception):
    """The run stops here (recorded as ``RunHalted``); a resume goes on from this step."""

    def __init__(self, reason: HaltReason, detail: str, waiting_for: Sequence[str] = ()):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.waiting_for = tuple(waiting_for)


def budget_halt(e: BudgetExceeded) -> Halt:
    """The halt for a call the budget refused: a batch's budget or the run's own limit.

    The two are resumed differently (a raised batch budget resumes its runs by itself),
    so the reason tells them apart.
    """
    return Halt("budget" if "batch" in e.message else "credit_limit", e.one_line())


@dataclass
class Answer(Generic[M]):
    """A model's structured answer, or the failure to record instead of it.

    ``costs`` and ``blobs`` are every call's (re-asks included): whatever the phase
    records, it records them with it, through :meth:`record`.
    """

    parsed: M | None = None
    method: str = ""  # how it was parsed (see ``parse_structured``), "reask:..." after one
    call: ModelCall | None = None  # the last answered call (parse method not set)
    failure: CallFailed | None = None  # when ``parsed`` is None: what went wrong, recorded
    costs: list[CostIncurred] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    refused: Halt | None = None  # a re-ask the budget refused: the run halts once recorded

    def record(self, p: Play, events: Sequence[Event]) -> None:
        """Append ``events`` with every call's cost in one append; then halt if the
        budget refused a re-ask (what was paid for is in the log first)."""
        p.append([*events, *self.costs], self.blobs or None)
        if self.refused is not None:
            raise self.refused

    def record_failure(self, p: Play, *beside: Event) -> None:
        """Record the ``CallFailed`` (and what the phase records beside it) with the costs."""
        assert self.failure is not None, "record_failure of an answer that was used"
        self.record(p, [self.failure, *beside])


async def ask_structured(
    p: Play,
    schema: type[M],
    model: str,
    messages: list[dict[str, str]],
    *,
    purpose: str,
    turn: int,
    actor: str | None,
    request_id: str,
    max_tokens: int,
    seed_key: str | None = None,
    schema_name: str | None = None,
    temperature: float | None = None,
    cache_prefix_chars: int | None = None,
) -> Answer[M]:
    """Ask a model for an answer of ``schema``'s shape, and read it.

    The one way the phases other than decisions ask a model, so how an answer is asked
    for, read and given up on is decided here for all of them: an answer that cannot be
    used (unreadable, or cut off at the token limit) is asked for again
    (``answers.MAX_ASKS`` calls in all); after that, or when no model answers, the
    answer carries a ``CallFailed`` for the phase to record in its place. A refused
    budget halts the run before the first call.
    """
    request = _request(
        p.state,
        model,
        messages,
        schema,
        purpose=purpose,
        turn=turn,
        seed_key=seed_key or request_id,
        max_tokens=max_tokens,
        schema_name=schema_name,
        temperature=temperature,
        cache_prefix_chars=cache_prefix_chars,
    )
    answer: Answer[M] = Answer()

    def failed(error: str, kind: str, asks: int, call: ModelCall | None) -> CallFailed:
        return CallFailed(
            turn=turn,
            purpose=purpose,
            request_id=request_id,
            actor=actor,
            error=error,
            error_kind=kind,
            asks=asks,
            call=call,
        )

    keys = ", ".join(schema.model_fields)
    current = request
    problem: Unusable | None = None
    for asks in range(1, MAX_ASKS + 1):
        try:
            result = await p.caller().call(current, turn=turn, actor=actor, request_id=request_id)
        except BudgetExceeded as e:
            if problem is None:
                raise budget_halt(e) from None
            answer.refused = budget_halt(e)
            reason = f"{problem.kind}, and the credit limit refused a re-ask: {problem.message}"
            answer.failure = failed(reason, problem.kind, asks - 1, answer.call)
            return answer
        except LLMUnavailable as e:
            attempts = tuple(getattr(e, "attempts", ()))
            call, blobs = failed_call(current, attempts)
            answer.blobs.update(blobs)
            # the client retries a structured answer cut at the token limit itself
            cut = bool(attempts) and attempts[-1].outcome == "truncated"
            answer.failure = failed(
                e.one_line(), "truncated" if cut else "llm_unavailable", asks, call
            )
            return answer
        answer.costs.append(result.cost)
        answer.blobs.update(result.blobs)
        answer.call = result.call
        try:
            parsed, method = read_structured(result.response, schema)
        except Unusable as unusable:
            problem = unusable
            if asks < MAX_ASKS:
                current = reask(request, result.response.text, problem, keys)
                continue
            error = f"{problem.kind} after {asks} asks: {problem.message}"
            answer.failure = failed(
                error, problem.kind, asks, with_method(result.call, problem.kind)
            )
            return answer
        answer.parsed = parsed
        answer.method = f"reask:{method}" if asks > 1 else method
        return answer
    raise AssertionError("unreachable: the last ask returns")  # pragma: no cover


def _request(
    state: RunState,
    model: str,
    messages: list[dict[str, str]],
    schema: Any,
    *,
    purpose: str,
    turn: int,
    seed_key: str,
    max_tokens: int,
    schema_name: str | None = None,
    temperature: float | None = None,
    cache_prefix_chars: int | None = None,
) -> ChatRequest:
    """A request for a structured answer; the schema is sent only in JSON mode.

    The seed derives from (run seed, turn, ``seed_key``), so a replay sends the same
    request byte for byte and a recorded answer is found again.
    """
    json_mode = state.settings.json_mode
    return ChatRequest(
        model=model,
        messages=messages,
        temperature=state.settings.temperature if temperature is None else temperature,
        seed=llm_seed(state.seed, turn, seed_key),
        max_tokens=max_tokens,
        json_schema=json_schema_for(schema) if json_mode else None,
        schema_name=(schema_name or purpose) if json_mode else None,
        purpose=purpose,
        cache_prefix_chars=cache_prefix_chars,
    )


def turn_decisions(state: RunState, scenario: Scenario) -> list[tuple[str, str]]:
    """(actor name, action) of every decision recorded in the turn, in scenario order."""
    out = []
    for actor_id, actor in scenario.actors.items():
        d = state.turn_progress.decisions.get(actor_id)
        if d is not None:
            out.append((actor.name, d.action))
    return out


def decision_context(
    state: RunState, scenario: Scenario, actor_id: str, turn: int
) -> DecisionContext:
    """What ``actor_id`` is shown in ``turn``: the shared world, its own past decisions,
    the messages it took part in or heard, and the turn's events; no one else's secrets."""
    actor = scenario.actors[actor_id]
    own = state.actors.get(actor_id)
    recent = [
        PastDecision(turn=d.turn, action=d.action, reasoning=d.reasoning)
        for d in (own.recent if own else ())
        if d.turn < turn
    ]
    seen = [
        SeenMessage(
            turn=m.turn,
            sender=m.sender,
            recipients=tuple(m.recipients),
            channel=m.channel,
            kind=m.kind,
            content=m.content,
        )
        for m in visible_messages(state, actor_id)
    ]
    actions = declared_actions(scenario, actor)
    return DecisionContext(
        turn=turn,
        total_turns=state.settings.turns,
        simulated_date=simulated_date(scenario, turn),
        world_state=state.world.narrative,
        own_recent=recent,
        older_digest=[f"turn {t}: {text}" for t, text in state.world.digest],
        messages=seen,
        exogenous=[
            (e.name, e.description)
            for e in state.exogenous.this_turn
            if e.turn == turn and e.seen_by(actor_id)
        ],
        variables=dict(state.world.variables),
        actions=actions,
        json_mode=state.settings.json_mode,
    )
