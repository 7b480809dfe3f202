"""Serving the answers of logs recorded before every call was linked from its cost.

Before version 2 of ``CostIncurred``, a call's request and answer were named only by
the ``ModelCall`` of the event that used the answer (a decision, the world update, a
metric, a check), and a talk's call by nothing at all: its effect on the run was the
messages appended with its cost. Such a session is served:

- by request: the answer a ``ModelCall`` with that exact request names;
- a talk: an answer rebuilt from the messages the call sent (``talk_answer``), once its
  exact request is found among the stored blobs;
- a failure an older engine recorded without a request (a metric or check whose model
  did not answer) fails again with its recorded text.

A session the current engine played (it links every answered call, and records every
failed one) is never served this way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from engine.llm import ChatRequest, ChatResponse
from engine.play import talks
from engine.play.phase_metrics import metric_request_id
from engine.play.phase_validation import check_request_id
from eventstore import (
    CallFailed,
    CostIncurred,
    Event,
    EventStore,
    MessageSent,
    MetricRecorded,
    ModelCall,
    StoreError,
    ValidationRecorded,
)


def is_legacy(events: Sequence[Event]) -> bool:
    """Whether an older engine recorded ``events`` (no call linked, none failed)."""
    return not any(
        (isinstance(e, CostIncurred) and e.prompt_hash is not None) or isinstance(e, CallFailed)
        for e in events
    )


def outages(events: Sequence[Event]) -> list[tuple[int, str, str]]:
    """(turn, request id, error) of each metric or check an older engine recorded as
    failed because no model answered (it recorded no call for them)."""
    if not is_legacy(events):
        return []
    out = []
    for e in events:
        if isinstance(e, MetricRecorded) and e.method == "llm" and e.error and e.call is None:
            out.append((e.turn, metric_request_id(e.turn, e.name, e.actor), e.error))
        elif (
            isinstance(e, ValidationRecorded)
            and e.call is None
            and e.issues == ("check could not run",)
        ):
            out.append((e.turn, check_request_id(e.turn, e.check), e.explanation))
    return out


@dataclass(frozen=True)
class _TalkCall:
    """A recorded communication call: its cost and the messages it appended."""

    cost: CostIncurred
    messages: tuple[MessageSent, ...]


class LegacyAnswers:
    """The answers of an older session (empty for a session the current engine played)."""

    def __init__(
        self,
        store: EventStore,
        events: Sequence[Event],
        records: dict[tuple[str | None, str | None], deque[ModelCall]],
    ):
        self.store = store
        self.by_request: dict[str, deque[ModelCall]] = {}
        self.talks: dict[tuple[int, str], deque[_TalkCall]] = {}
        if not is_legacy(events):
            return
        for (prompt_hash, _answer), calls in records.items():
            if prompt_hash is not None:
                self.by_request.setdefault(prompt_hash, deque()).extend(calls)
        self.talks = _talk_calls(events)

    def serve(
        self, request: ChatRequest, sha: str, turn: int, request_id: str
    ) -> tuple[ChatResponse, float | None] | None:
        """(response, cost) for ``request`` (whose stored form hashes to ``sha``), or None."""
        queue = self.by_request.get(sha)
        if queue:
            call = queue.popleft()
            text = self.store.get_blob(call.response_hash).decode() if call.response_hash else ""
            response = ChatResponse(
                text=text,
                model=call.model,
                input_tokens=call.input_tokens,
                output_tokens=call.output_tokens,
                latency_ms=call.latency_ms,
                attempts=call.attempts,
                finish_reason="stop",
                schema_enforced="json_schema" in call.parse_method,
            )
            return response, call.cost_usd
        recorded = self.talks.get((turn, request_id))
        if request.purpose != "communication" or not recorded or not self._stored(sha):
            return None
        talk = recorded.popleft()
        response = ChatResponse(
            text=talk_answer(turn, request_id, talk.messages),
            model=talk.cost.model,
            input_tokens=talk.cost.input_tokens,
            output_tokens=talk.cost.output_tokens,
            latency_ms=0.0,  # not recorded for these calls, and no event holds it
            attempts=(),
            finish_reason="stop",
            schema_enforced=request.json_schema is not None,
        )
        return response, talk.cost.cost_usd

    def _stored(self, sha: str) -> bool:
        try:
            self.store.get_blob(sha)
        except StoreError:
            return False
        return True


def _talk_calls(events: Sequence[Event]) -> dict[tuple[int, str], deque[_TalkCall]]:
    """The communication calls of a timeline, by (turn, request id), in log order.

    The engine appended a call's messages and then its ``CostIncurred`` in one batch
    (``[*messages, cost]``), so a call's messages are the ``MessageSent`` events of its
    actor right before its cost.
    """
    out: dict[tuple[int, str], deque[_TalkCall]] = {}
    for index, event in enumerate(events):
        if not (
            isinstance(event, CostIncurred)
            and event.purpose == "communication"
            and event.request_id is not None
        ):
            continue
        start = index
        while start > 0:
            before = events[start - 1]
            if not (
                isinstance(before, MessageSent)
                and before.sender == event.actor
                and before.turn == event.turn
            ):
                break
            start -= 1
        messages = tuple(e for e in events[start:index] if isinstance(e, MessageSent))
        out.setdefault((event.turn, event.request_id), deque()).append(_TalkCall(event, messages))
    return out


def talk_answer(turn: int, request_id: str, messages: Sequence[MessageSent]) -> str:
    """An answer from which the engine derives ``messages`` again (see ``engine.play.talks``).

    A plan lists its talks (to an actor, or to a coalition by its id), its coalition
    proposal and its public statement; a reply and a coalition answer are their one
    message. A call that appended nothing gets an answer that says nothing.
    """
    if request_id.startswith(talks.plan_id(turn, "")):
        plan = talks.TalkPlan(
            messages=[], coalition_members=[], coalition_purpose="", public_statement=""
        )
        for m in messages:
            if m.kind == "talk":
                to = m.thread_id if m.channel == "coalition" and m.thread_id else m.recipients[0]
                plan.messages.append(talks.OutgoingMessage(to=to, content=m.content))
            elif m.kind == "proposal":
                plan.coalition_members = list(m.recipients)
                plan.coalition_purpose = m.content
            elif m.kind == "statement":
                plan.public_statement = m.content
        return plan.model_dump_json()
    if request_id.startswith(talks.reply_id(turn, "")):
        return talks.Reply(reply=messages[0].content if messages else "").model_dump_json()
    answer = messages[0] if messages else None
    return talks.CoalitionAnswer(
        accept=answer is not None and answer.kind == "accept",
        reason=answer.content if answer is not None else "",
    ).model_dump_json()
