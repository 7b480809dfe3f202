"""Helpers of the verification tests: a run whose decisions name prompt and answer
blobs, as the engine records them, and what a one-line verdict must look like."""

from __future__ import annotations

from eventstore import DecisionMade, DecisionRequested, EventStore, ModelCall, blob_hash
from tests.store_helpers import build_run


def prompt_of(turn: int) -> bytes:
    return f'{{"messages": [{{"role": "user", "content": "turn {turn}: decide"}}]}}'.encode()


def answer_of(turn: int) -> bytes:
    return f'{{"action": "hold at turn {turn}"}}'.encode()


def build_run_with_blobs(store: EventStore, turns: int = 3) -> str:
    """A run as ``build_run`` makes it, then one model decision per turn after it whose
    prompt and raw answer are blobs (stored in the same append, as the engine does)."""
    run = build_run(store, turns)
    for turn in range(1, turns + 1):
        prompt, answer = prompt_of(turn), answer_of(turn)
        call = ModelCall(model="m", prompt_hash=blob_hash(prompt), response_hash=blob_hash(answer))
        events = [
            DecisionRequested(
                turn=turn,
                actor="north",
                request_id=f"q{turn}",
                model="m",
                prompt_hash=call.prompt_hash,
            ),
            DecisionMade(turn=turn, actor="north", request_id=f"q{turn}", action="hold", call=call),
        ]
        store.append(
            run,
            events,
            expected_seq=store.last_seq(run),
            blobs={blob_hash(prompt): prompt, blob_hash(answer): answer},
        )
    return run


def assert_one_line(reason: str, *needles: str) -> None:
    assert reason and "\n" not in reason, reason
    for needle in needles:
        assert needle in reason, (needle, reason)
