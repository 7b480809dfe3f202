"""Interviews: ask a model-driven actor a question with its memory at a turn.

The question goes to the actor on a branch of the run at that turn (``engine.play.
interview``); the run itself is never changed. ``keep`` records the branch with the
exchange, as any call is recorded (prompt and raw answer blobs, tokens, cost); without
it nothing is written, and the answer with its cost is only returned.
"""

from __future__ import annotations

import msgspec

from .models import load_prices, make_client
from .settings import LabSettings
from .store import open_store
from .verification import require_verified


class InterviewRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask ``actor`` of ``run`` (an id or a unique prefix) ``question``, with its memory
    at the end of ``at_turn``; ``keep`` records the branch it was asked on."""

    run: str
    actor: str
    at_turn: int
    question: str
    keep: bool = False


class InterviewAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The actor's answer and what the call took; ``branch_run_id`` is the kept branch
    (None when it was thrown away: then nothing was written)."""

    run_id: str
    actor: str
    at_turn: int
    question: str
    answer: str
    model: str
    request_id: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    finish_reason: str | None
    prompt_hash: str | None
    response_hash: str | None
    branch_run_id: str | None = None


async def interview(settings: LabSettings, request: InterviewRequest) -> InterviewAnswer:
    """Check the request, ask the actor's model, and keep the branch if asked to."""
    import anyio

    from engine.play.calls import Budget, ModelCaller
    from engine.play.interview import ask, keep, prepare

    with open_store(settings) as store:
        run_id = store.resolve(request.run)
        require_verified(store, [run_id])  # it may keep a branch of it, as a fork does
        prepared = prepare(store, run_id, request.actor, request.at_turn, request.question)
    client = make_client(settings, [prepared.model])
    if client is None:  # prepare refuses actors without a model: this is a bug
        raise AssertionError(f"no model for {prepared.actor}")
    try:
        prices = await load_prices(settings, client)
        # one call a person asked for: no credit limit of the run's stands in its way
        caller = ModelCaller(client, prices, anyio.CapacityLimiter(1), Budget(limit_usd=None))
        result, event = await ask(prepared, caller)
    finally:
        with anyio.CancelScope(shield=True):
            await client.aclose()
    branch = None
    if request.keep:
        with open_store(settings) as store:
            branch = keep(store, prepared, result, event)
    cost = result.cost
    return InterviewAnswer(
        run_id=run_id,
        actor=prepared.actor,
        at_turn=prepared.at_turn,
        question=prepared.question,
        answer=event.answer,
        model=prepared.model,
        request_id=prepared.request_id,
        input_tokens=cost.input_tokens,
        output_tokens=cost.output_tokens,
        cost_usd=cost.cost_usd,
        finish_reason=cost.finish_reason,
        prompt_hash=cost.prompt_hash,
        response_hash=cost.response_hash,
        branch_run_id=branch,
    )
