"""``replay --check``: re-execute the engine over a recorded run and compare.

The engine runs again, into a scratch log, with a model client that serves the
responses recorded in the original log (no network). Every request it makes must be
one the log recorded (same prompt, byte for byte), and every event it appends must
equal the original event at the same place. Events that came from outside the engine
(a human's submission, a resume, a fork's changes) are copied across when the engine
stops for them. The first difference raises ``NondeterminismError`` naming run, turn,
actor and step.

Calls of the communication phase are recorded differently from the others: their
events (``MessageSent`` and ``CostIncurred``) carry no ``ModelCall``, so no event names
their request or response blobs. The request is still stored (a blob under the hash of
the exact request), and the answer's whole effect on the run is the messages appended
with the call's ``CostIncurred``. Such a request must therefore be a stored blob and
have a ``CostIncurred`` with its request id; it is answered with the messages recorded
for that call, put back in the answer's shape (see ``_talk_answer``). The engine must
then derive exactly those messages again, and every later prompt that quotes them (a
reply, a decision) is still compared byte for byte.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec

from engine.errors import NondeterminismError
from engine.llm import ChatRequest, ChatResponse, PriceTable
from engine.play import talks
from engine.play.calls import CallResult, ModelCaller, request_blob
from engine.play.player import RunPlayer
from eventstore import (
    CostIncurred,
    Event,
    EventStore,
    HumanDecisionSubmitted,
    MessageSent,
    ModelCall,
    RunForked,
    RunHalted,
    RunResumed,
    StoreError,
    blob_hash,
    event_actor,
    event_type,
)

# Events that people (or other processes) add to a run; the engine never produces them.
EXTERNAL = (RunResumed, RunForked, HumanDecisionSubmitted)


def _calls(event: Event) -> list[ModelCall]:
    call = getattr(event, "call", None)
    return [call] if isinstance(call, ModelCall) else []


@dataclass(frozen=True)
class _CallSite:
    """Where the engine makes a model call: what an unknown request is reported with."""

    turn: int
    actor: str | None
    request_id: str


# Set by ``_CheckingCaller`` around each call, task-locally (concurrent calls each see
# their own), and read by ``RecordedClient.complete``, which gets only the request.
_CALL_SITE: ContextVar[_CallSite | None] = ContextVar("replay_check_call_site", default=None)


@dataclass(frozen=True)
class _TalkCall:
    """A recorded communication call: its cost and the messages it appended."""

    cost: CostIncurred
    messages: tuple[MessageSent, ...]


def _talk_calls(events: Sequence[Event]) -> dict[tuple[int, str], list[_TalkCall]]:
    """The communication calls of a timeline, by (turn, request id), in log order.

    The engine appends a call's messages and then its ``CostIncurred`` in one batch
    (``[*messages, cost]``), so a call's messages are the ``MessageSent`` events of its
    actor right before its cost.
    """
    out: dict[tuple[int, str], list[_TalkCall]] = {}
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
        out.setdefault((event.turn, event.request_id), []).append(_TalkCall(event, messages))
    return out


def _talk_answer(site: _CallSite, messages: Sequence[MessageSent]) -> str:
    """An answer from which the engine derives ``messages`` again (see ``engine.play.talks``).

    A plan lists its talks (to an actor, or to a coalition by its id), its coalition
    proposal and its public statement; a reply and a coalition answer are their one
    message. A call that appended nothing gets an answer that says nothing.
    """
    if site.request_id == talks.plan_id(site.turn, site.actor or ""):
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
    if site.request_id.startswith(talks.reply_id(site.turn, "")):
        return talks.Reply(reply=messages[0].content if messages else "").model_dump_json()
    answer = messages[0] if messages else None
    return talks.CoalitionAnswer(
        accept=answer is not None and answer.kind == "accept",
        reason=answer.content if answer is not None else "",
    ).model_dump_json()


class RecordedClient:
    """Serves the responses a run recorded, keyed by the exact request sent.

    A communication request, which no ``ModelCall`` records, is answered from the
    messages its call appended, once its exact request is found among the stored blobs.
    """

    def __init__(self, store: EventStore, events: Sequence[Event], run_id: str):
        self.run_id = run_id
        self.store = store
        self.load(events)
        self.turn = 0  # the turn reported for a call made outside ``_CheckingCaller``

    def load(self, events: Sequence[Event]) -> None:
        """Serve the responses ``events`` recorded (the part of the log still to check:
        a call answered for a step a halt by request cut short is served again)."""
        self.responses: dict[str, list[ModelCall]] = {}
        for event in events:
            for call in _calls(event):
                if call.prompt_hash:
                    self.responses.setdefault(call.prompt_hash, []).append(call)
        self.talks = _talk_calls(events)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        key = blob_hash(request_blob(request))
        site = _CALL_SITE.get()
        queue = self.responses.get(key)
        if queue:
            call = queue.pop(0)
            text = self.store.get_blob(call.response_hash).decode() if call.response_hash else ""
            return ChatResponse(
                text=text,
                model=call.model,
                input_tokens=call.input_tokens,
                output_tokens=call.output_tokens,
                latency_ms=call.latency_ms,
                attempts=call.attempts,
                finish_reason="stop",
                schema_enforced=call.parse_method.startswith("json_schema"),
            )
        if request.purpose == "communication" and site is not None and self._stored(key):
            recorded = self.talks.get((site.turn, site.request_id))
            if recorded:
                talk = recorded.pop(0)
                return ChatResponse(
                    text=_talk_answer(site, talk.messages),
                    model=talk.cost.model,
                    input_tokens=talk.cost.input_tokens,
                    output_tokens=talk.cost.output_tokens,
                    latency_ms=0.0,  # not recorded for these calls, and no event holds it
                    attempts=(),
                    finish_reason="stop",
                    schema_enforced=request.json_schema is not None,
                )
        turn = site.turn if site is not None else self.turn
        actor = site.actor if site is not None else None
        raise NondeterminismError(
            f"run {self.run_id}: in turn {turn} the engine made a {request.purpose} request"
            + (f" for {actor}" if actor else "")
            + f" to {request.model}"
            + (f" ({site.request_id})" if site is not None else "")
            + " that the log does not contain",
            run_id=self.run_id,
            turn=turn,
            actor=actor,
            step=request.purpose,
        )

    def _stored(self, sha: str) -> bool:
        try:
            self.store.get_blob(sha)
        except StoreError:
            return False
        return True

    async def aclose(self) -> None:
        return None


class _CheckingCaller(ModelCaller):
    """A caller that tells the recorded client where each call is made."""

    async def call(
        self, request: ChatRequest, *, turn: int, actor: str | None, request_id: str
    ) -> CallResult:
        token = _CALL_SITE.set(_CallSite(turn, actor, request_id))
        try:
            return await super().call(request, turn=turn, actor=actor, request_id=request_id)
        finally:
            _CALL_SITE.reset(token)


class _CheckingPlayer(RunPlayer):
    """A player whose every append must match the original log.

    Where the log has a halt by request (``Lab.halt`` cancelled the live player between
    two steps), this player stops there too: ``user_halt`` is cancelled and nothing more
    is written, so the halt is appended as recorded.
    """

    original: list[Event]
    origin_run: str
    user_halt: anyio.CancelScope | None = None

    def caller(self) -> ModelCaller:
        base = super().caller()  # raises as the live engine does when there is no client
        return _CheckingCaller(base.client, base.prices, base.limiter, base.budget)

    def _write(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        for offset, event in enumerate(events):
            index = self.seq + offset  # 0-based index of this event in the timeline
            expected = self.original[index] if index < len(self.original) else None
            if _halted_by_request(expected) and self.user_halt is not None:
                self.user_halt.cancel()
                return
            if expected is None or _normal(expected) != _normal(event):
                raise NondeterminismError(
                    f"run {self.origin_run}: at seq {index + 1} (turn {event.turn}) the engine "
                    f"produced {event_type(event)}"
                    + (f" for {event_actor(event)}" if event_actor(event) else "")
                    + (
                        f" but the log has {event_type(expected)}"
                        + (f" for {event_actor(expected)}" if event_actor(expected) else "")
                        if expected is not None
                        else " past the end of the log"
                    )
                    + _first_field_difference(expected, event),
                    run_id=self.origin_run,
                    turn=event.turn,
                    actor=event_actor(event),
                    step=event_type(event),
                )
        super()._write(events, blobs)


def _halted_by_request(event: Event | None) -> bool:
    return isinstance(event, RunHalted) and event.reason == "user"


async def _play_checked(player: _CheckingPlayer) -> None:
    with anyio.CancelScope() as scope:
        player.user_halt = scope
        await player.play()


def _normal(event: Event) -> Any:
    return msgspec.to_builtins(event)


def _first_field_difference(expected: Event | None, got: Event) -> str:
    if expected is None or type(expected) is not type(got):
        return ""
    a, b = _normal(expected), _normal(got)
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f" (field {key} differs)"
    return ""


def check_run(store: EventStore, run_id: str, *, prices: PriceTable | None = None) -> int:
    """Re-execute ``run_id`` against its recorded responses; returns the events checked."""
    records = store.read(run_id)
    original = [r.event for r in records]
    with tempfile.TemporaryDirectory() as tmp:
        scratch = EventStore.open(Path(tmp) / "check.db")
        try:
            return _check(store, scratch, run_id, original, prices or PriceTable.load())
        finally:
            scratch.close()


def _check(
    store: EventStore, scratch: EventStore, run_id: str, original: list[Event], prices: PriceTable
) -> int:
    setup = 0
    while setup < len(original) and original[setup].turn == 0:
        setup += 1
    # A branch is checked from its fork on: what it shares with its parent is the
    # parent's to check (`replay PARENT --check`), and the engine would not stop at
    # the fork point to let the RunForked in.
    forks = [i for i, e in enumerate(original) if isinstance(e, RunForked)]
    if forks:
        setup = forks[-1] + 1
    blobs = _blobs_for(store, original)
    scratch_id = scratch.create_run(run_id, events=original[:setup], blobs=blobs)
    client = RecordedClient(store, original, run_id)
    while scratch.last_seq(scratch_id) < len(original):
        position = scratch.last_seq(scratch_id)
        nxt = original[position]
        if isinstance(nxt, EXTERNAL) or (
            isinstance(nxt, MessageSent)
            and isinstance(original[position - 1], HumanDecisionSubmitted)
        ):
            scratch.append(scratch_id, [nxt], expected_seq=position, blobs=blobs)
            continue
        if _halted_by_request(nxt):
            scratch.append(scratch_id, [nxt], expected_seq=position)
            continue
        client.load(original[position:])
        player = _CheckingPlayer(
            scratch, scratch_id, client=client, prices=prices, snapshot_every=0
        )
        player.original = original
        player.origin_run = run_id
        client.turn = player.state.turn
        before = scratch.last_seq(scratch_id)
        anyio.run(_play_checked, player)
        if scratch.last_seq(scratch_id) == before:
            raise NondeterminismError(
                f"run {run_id}: at seq {before + 1} the log has {event_type(nxt)}, which the engine "
                "does not produce from the state before it",
                run_id=run_id,
                turn=nxt.turn,
                actor=event_actor(nxt),
                step=event_type(nxt),
            )
    return len(original)


def _blobs_for(store: EventStore, events: Sequence[Event]) -> dict[str, bytes]:
    """Blobs the copied events refer to (prompts of human requests, decision prompts)."""
    out: dict[str, bytes] = {}
    for event in events:
        for attr in ("prompt_hash",):
            sha = getattr(event, attr, None)
            if isinstance(sha, str):
                out[sha] = store.get_blob(sha)
    return out
