"""``replay --check``: re-execute the engine over a recorded run and compare.

The engine runs again, into a scratch log, with a model client that serves the
responses recorded in the original log (no network). Every request it makes must be
one the log recorded (same prompt, byte for byte), and every event it appends must
equal the original event at the same place. Events that came from outside the engine
(a human's submission, a resume, a fork's changes) are copied across when the engine
stops for them. The first difference raises ``NondeterminismError`` naming run, turn,
actor and step.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec

from eventstore import (
    Event,
    EventStore,
    HumanDecisionSubmitted,
    MessageSent,
    ModelCall,
    RunForked,
    RunHalted,
    RunResumed,
    blob_hash,
    event_actor,
    event_type,
)

from .errors import NondeterminismError
from .llm import ChatRequest, ChatResponse, PriceTable
from .model_calls import request_blob
from .runner import RunPlayer

# Events that people (or other processes) add to a run; the engine never produces them.
EXTERNAL = (RunResumed, RunForked, HumanDecisionSubmitted)


def _calls(event: Event) -> list[ModelCall]:
    call = getattr(event, "call", None)
    return [call] if isinstance(call, ModelCall) else []


class RecordedClient:
    """Serves the responses a run recorded, keyed by the exact request sent."""

    def __init__(self, store: EventStore, events: Sequence[Event], run_id: str):
        self.run_id = run_id
        self.responses: dict[str, list[ModelCall]] = {}
        self.store = store
        for event in events:
            for call in _calls(event):
                if call.prompt_hash:
                    self.responses.setdefault(call.prompt_hash, []).append(call)
        self.turn = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        key = blob_hash(request_blob(request))
        queue = self.responses.get(key)
        if not queue:
            raise NondeterminismError(
                f"run {self.run_id}: the engine made a {request.purpose} request to {request.model} "
                "that the log does not contain",
                run_id=self.run_id,
                turn=self.turn,
                actor=None,
                step=request.purpose,
            )
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

    async def aclose(self) -> None:
        return None


class _CheckingPlayer(RunPlayer):
    """A player whose every append must match the original log."""

    original: list[Event]
    origin_run: str

    def _write(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        for offset, event in enumerate(events):
            index = self.seq + offset  # 0-based index of this event in the timeline
            expected = self.original[index] if index < len(self.original) else None
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
        if isinstance(nxt, RunHalted) and nxt.reason == "user":
            scratch.append(scratch_id, [nxt], expected_seq=position)
            continue
        player = _CheckingPlayer(
            scratch, scratch_id, client=client, prices=prices, snapshot_every=0
        )
        player.original = original
        player.origin_run = run_id
        client.turn = player.state.turn
        before = scratch.last_seq(scratch_id)
        anyio.run(player.play)
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
