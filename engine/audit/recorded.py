"""The answers a recorded run got, served back to the engine by ``replay --check``.

A call is served only what the log recorded in the same session of play
(``sessions``): after a resume, the same request may be asked again (the process before
was killed with it in flight), and its answer belongs to the session that recorded it.

Where an answer is found:

- every answered call has a ``CostIncurred`` linking its request and raw answer (from
  version 2), served to the call at the same turn, request id and exact request;
- a call no model answered (the client gave up: down, or every structured answer cut
  off) is a ``DecisionFailed`` of ``llm_unavailable`` or a ``CallFailed`` holding no
  answer: the call fails again, with the same error and attempts;
- a call the log has no answer for at all was refused by the budget (the session ended
  in a budget halt), lost to a stopped process (the session was cut: see
  ``ordering.Unfinished``), or never made by the recorded engine: a divergence;
- logs recorded before costs linked their calls (``legacy``): the answers the events'
  ``ModelCall`` name, a talk's answer rebuilt from the messages it sent, and the failures
  an older engine recorded without a request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.audit import legacy
from engine.audit.sessions import Session
from engine.errors import BudgetExceeded, LLMUnavailable, NondeterminismError
from engine.llm import ChatRequest, ChatResponse, LLMCallFailed
from engine.play.calls import request_blob
from engine.play.ordering import Unfinished
from eventstore import (
    Attempt,
    CallFailed,
    CostIncurred,
    DecisionFailed,
    Event,
    EventStore,
    ModelCall,
    blob_hash,
)


@dataclass(frozen=True)
class CallSite:
    """Where the engine makes a model call: what it is served by, and reported with."""

    turn: int
    actor: str | None
    request_id: str


@dataclass(frozen=True)
class Served:
    """A recorded answer: the response as the client gave it, and what it cost."""

    response: ChatResponse
    cost_usd: float | None  # None: recorded with no known price
    cache_saving_usd: float | None = None  # as recorded (None: unknown)


@dataclass(frozen=True)
class _Answer:
    """An answered call of the log, its text still in its blob."""

    model: str
    response_hash: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    finish_reason: str
    call: ModelCall | None  # the event's record of it, if one holds it (latency, attempts)
    cached_prompt_tokens: int | None = None
    cache_saving_usd: float | None = None


class RecordedOutage(LLMCallFailed):
    """A call no model answered, failing again as the log says it failed."""

    def __init__(self, error: str, model: str, attempts: tuple[Attempt, ...]):
        super().__init__(error, model=model, endpoint="(recorded)", attempts=attempts)

    def one_line(self, names: Mapping[str, str] | None = None) -> str:
        return self.message  # the recorded text already is the one line


class RecordedUnavailable(LLMUnavailable):
    """A call no client could make (no model configured), failing again as recorded."""

    def one_line(self, names: Mapping[str, str] | None = None) -> str:
        return self.message


class RecordedRefusal(BudgetExceeded):
    """A call the budget refused, refused again with the recorded halt's words."""

    def one_line(self, names: Mapping[str, str] | None = None) -> str:
        return self.message


def _outage(error: str, call: ModelCall | None) -> LLMUnavailable:
    if call is None:
        return RecordedUnavailable(error)
    return RecordedOutage(error, call.model, call.attempts)


Key = tuple[int, str, str | None]  # (turn, request id, request hash)


class SessionAnswers:
    """What one session of a recorded run answered, for its calls to be served again."""

    def __init__(self, store: EventStore, run_id: str, events: Sequence[Event], session: Session):
        self.store = store
        self.run_id = run_id
        self.session = session
        mine = events[session.start : session.end]
        self.answers: dict[Key, deque[_Answer]] = {}
        self.outages: dict[tuple[int, str], deque[LLMUnavailable]] = {}
        records = _records_by_answer(mine)
        for e in mine:
            if isinstance(e, CostIncurred) and e.prompt_hash is not None and e.request_id:
                held = records.get((e.prompt_hash, e.response_hash))
                answer = _Answer(
                    model=e.model,
                    response_hash=e.response_hash,
                    input_tokens=e.input_tokens,
                    output_tokens=e.output_tokens,
                    cost_usd=e.cost_usd,
                    finish_reason=e.finish_reason or "stop",
                    call=held.popleft() if held else None,
                    cached_prompt_tokens=e.cached_prompt_tokens,
                    cache_saving_usd=e.cache_saving_usd,
                )
                self.answers.setdefault((e.turn, e.request_id, e.prompt_hash), deque()).append(
                    answer
                )
            elif _unanswered(e):
                assert isinstance(e, DecisionFailed | CallFailed)
                self._fails(e.turn, e.request_id, _outage(e.error, e.call))
        for turn, request_id, error in legacy.outages(mine):
            self._fails(turn, request_id, RecordedUnavailable(error))
        # what no linked cost claimed is an older log's: served by its request alone
        self.legacy = legacy.LegacyAnswers(store, mine, records)

    def _fails(self, turn: int, request_id: str, error: LLMUnavailable) -> None:
        self.outages.setdefault((turn, request_id), deque()).append(error)

    def serve(self, request: ChatRequest, site: CallSite) -> Served:
        """The recorded answer to ``request`` made at ``site``; raises what the recorded
        call met instead (an outage, the budget's refusal), ``Unfinished`` for a call the
        stopped process never got answered, or ``NondeterminismError``."""
        sha = blob_hash(request_blob(request))
        queue = self.answers.get((site.turn, site.request_id, sha))
        if queue:
            return self._served(queue.popleft(), request, site)
        outages = self.outages.get((site.turn, site.request_id))
        if outages:
            raise outages.popleft()
        found = self.legacy.serve(request, sha, site.turn, site.request_id)
        if found is not None:
            return Served(found[0], found[1])
        s = self.session
        if s.refusal is not None:
            raise RecordedRefusal(s.refusal.detail)
        if s.outage is not None:  # an older log's halt that recorded no failed call
            raise RecordedUnavailable(s.outage.detail)
        error = NondeterminismError(
            f"run {self.run_id}: in turn {site.turn} the engine made a {request.purpose} "
            f"request" + (f" for {site.actor}" if site.actor else "") + f" to {request.model}"
            f" ({site.request_id}) that the log does not contain",
            run_id=self.run_id,
            turn=site.turn,
            actor=site.actor,
            step=request.purpose,
        )
        if s.cut:
            raise Unfinished(error)
        raise error

    def _served(self, a: _Answer, request: ChatRequest, site: CallSite) -> Served:
        raw = self.store.get_blob(a.response_hash) if a.response_hash else b""
        if a.response_hash and blob_hash(raw) != a.response_hash:
            raise NondeterminismError(
                f"run {self.run_id}: in turn {site.turn} the recorded answer to the "
                f"{request.purpose} request"
                + (f" for {site.actor}" if site.actor else "")
                + f" ({site.request_id}) was changed: its blob no longer has its hash",
                run_id=self.run_id,
                turn=site.turn,
                actor=site.actor,
                step=request.purpose,
            )
        text = raw.decode()
        call = a.call
        return Served(
            ChatResponse(
                text=text,
                model=a.model,
                input_tokens=a.input_tokens,
                output_tokens=a.output_tokens,
                latency_ms=call.latency_ms if call else 0.0,
                attempts=call.attempts if call else (),
                finish_reason=a.finish_reason,
                schema_enforced=call is not None and "json_schema" in call.parse_method,
                cached_prompt_tokens=a.cached_prompt_tokens,
            ),
            a.cost_usd,
            a.cache_saving_usd,
        )


def _unanswered(e: Event) -> bool:
    """Whether ``e`` records a call that got no answer (the client gave up on it)."""
    if isinstance(e, DecisionFailed):
        return e.error_kind == "llm_unavailable"
    return isinstance(e, CallFailed) and (e.call is None or e.call.response_hash is None)


def _records_by_answer(
    events: Sequence[Event],
) -> dict[tuple[str | None, str | None], deque[ModelCall]]:
    """The ``ModelCall`` of every event that holds one, by (request, answer) blob."""
    out: dict[tuple[str | None, str | None], deque[ModelCall]] = {}
    for e in events:
        call = getattr(e, "call", None)
        if isinstance(call, ModelCall) and call.response_hash is not None:
            out.setdefault((call.prompt_hash, call.response_hash), deque()).append(call)
    return out
