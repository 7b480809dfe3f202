"""Model calls as the engine makes them: capped, budgeted, priced and auditable.

Every call goes through :class:`ModelCaller`, which
- waits for a slot of the shared concurrency cap (one cap across all runs of a process),
- refuses a call that could cross the credit limit (``BudgetExceeded``) *before* it is
  made, counting calls already in flight, and any call of a model with no known price
  while a limit holds (its cost could not be counted against it),
- stores the full request and the raw response as blobs, and
- returns a ``ModelCall`` record plus the matching ``CostIncurred`` event, which links
  both blobs: every answered call is in the log's ledger of costs, with its answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio

from engine.errors import BudgetExceeded, LLMUnavailable
from engine.llm import ChatRequest, ChatResponse, LLMClient, PriceTable
from engine.llm.schemas import sorted_schema_text
from engine.observe import bound, model_call_failed, model_called
from eventstore import Attempt, CostIncurred, ModelCall, blob_hash

# Output tokens assumed for a call when checking the credit limit beforehand.
EXPECTED_OUTPUT_TOKENS = 600


def estimate_tokens(text: str) -> int:
    """Rough token count (4 characters a token), for estimates only."""
    return max(1, len(text) // 4)


class BudgetCrowded(BudgetExceeded):
    """The call fits what is left, but not beside the calls in flight: wait for them."""

    def __init__(self, message: str, budget: Budget):
        super().__init__(message)
        self.budget = budget


@dataclass
class Budget:
    """The credit limit of one run (and optionally of the batch it belongs to).

    A call reserves its worst-case cost until it settles at its actual cost. A call
    that would cross a limit even alone raises ``BudgetExceeded`` (the run halts); one
    that fits only once calls in flight settle (their reservations are worst cases,
    most cost far less) waits for them with ``reserve_when_free``: halting it would
    cut runs short with the budget unspent.
    """

    limit_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    batch: Budget | None = None
    _settled: anyio.Event | None = field(default=None, repr=False, compare=False)

    def reserve(self, amount: float, what: str) -> None:
        chain = [b for b in (self, self.batch) if b is not None and b.limit_usd is not None]
        for budget in chain:
            assert budget.limit_usd is not None
            scope = "batch budget" if budget is self.batch else "credit limit"
            if budget.spent_usd + amount > budget.limit_usd + 1e-12:
                raise BudgetExceeded(
                    f"{what} could cost ${amount:.4f} and cross the {scope} of "
                    f"${budget.limit_usd:.4f} (spent ${budget.spent_usd:.4f})",
                    hint="resume with a higher --credit-limit",
                )
        for budget in chain:
            assert budget.limit_usd is not None
            if budget.spent_usd + budget.reserved_usd + amount > budget.limit_usd + 1e-12:
                scope = "batch budget" if budget is self.batch else "credit limit"
                raise BudgetCrowded(
                    f"{what} could cost ${amount:.4f}: with ${budget.reserved_usd:.4f} "
                    f"reserved by calls in flight it would cross the {scope} of "
                    f"${budget.limit_usd:.4f}",
                    budget,
                )
        for held in (self, self.batch):
            if held is not None:
                held.reserved_usd += amount

    def refuse_unpriced(self, model: str, what: str) -> None:
        """``BudgetExceeded`` if a limit holds: a call of ``model``, which has no known
        price, could not be counted against it. (Runs are refused before they start
        with such a model and a limit; this holds if a price goes missing after.)"""
        for budget in (self, self.batch):
            if budget is not None and budget.limit_usd is not None:
                scope = "batch budget" if budget is self.batch else "credit limit"
                raise BudgetExceeded(
                    f"{what} is to {model}, which has no known price: its cost could "
                    f"not be counted against the {scope} of ${budget.limit_usd:.4f}",
                    hint=f"give its price with --price {model}=IN,OUT (USD per 1M tokens)",
                )

    async def reserve_when_free(self, amount: float, what: str) -> None:
        """``reserve``, waiting while only calls in flight stand in the way."""
        while True:
            try:
                self.reserve(amount, what)
                return
            except BudgetCrowded as crowded:
                blocking = crowded.budget
                if blocking._settled is None:
                    blocking._settled = anyio.Event()
                await blocking._settled.wait()

    def settle(self, reserved: float, actual: float) -> None:
        for held in (self, self.batch):
            if held is not None:
                held.reserved_usd -= reserved
                held.spent_usd += actual
                if held._settled is not None:
                    held._settled.set()  # whoever waited for room looks again
                    held._settled = None


@dataclass
class CallResult:
    response: ChatResponse
    call: ModelCall
    cost: CostIncurred
    blobs: dict[str, bytes] = field(default_factory=dict)


class ModelCaller:
    """Makes model calls for one run; the limiter may be shared by many runs."""

    def __init__(
        self,
        client: LLMClient,
        prices: PriceTable,
        limiter: anyio.CapacityLimiter,
        budget: Budget,
    ):
        self.client = client
        self.prices = prices
        self.limiter = limiter
        self.budget = budget

    def estimate(self, request: ChatRequest) -> float | None:
        """The call's worst-case cost; None when its model has no known price."""
        prompt = sum(estimate_tokens(str(m.get("content", ""))) for m in request.messages)
        out = request.max_tokens or EXPECTED_OUTPUT_TOKENS
        return self.prices.cost(request.model, prompt, min(out, EXPECTED_OUTPUT_TOKENS))

    async def call(
        self, request: ChatRequest, *, turn: int, actor: str | None, request_id: str
    ) -> CallResult:
        what = f"the {request.purpose} call of {actor or 'the world'}"
        estimate = self.estimate(request)
        if estimate is None:
            self.budget.refuse_unpriced(request.model, what)
            estimate = 0.0  # no limit holds: nothing to reserve, the cost stays unknown
        await self.budget.reserve_when_free(estimate, what)
        actual: float | None = 0.0
        saving: float | None = None
        try:
            await _take(self.limiter)
            try:
                with bound(actor=actor):  # the client's lines (httpx's too) name the actor
                    response = await self.client.complete(request)
            finally:
                self.limiter.release()
            actual, saving = self.prices.call_cost(
                request.model,
                response.input_tokens,
                response.output_tokens,
                response.cached_prompt_tokens,
            )
        except LLMUnavailable as e:
            model_call_failed(request, e, actor=actor)
            raise
        finally:
            self.budget.settle(estimate, actual or 0.0)
        model_called(request, response, actual, actor=actor)
        # Let the call that was waiting for this slot send its request before this one's
        # bookkeeping (blobs here, the log append after): when many replies land at once,
        # the slots refill first. Shielded: the answer is paid for and must be recorded.
        await anyio.lowlevel.cancel_shielded_checkpoint()
        return call_result(
            request,
            response,
            actual,
            turn=turn,
            actor=actor,
            request_id=request_id,
            cache_saving_usd=saving,
        )


async def _take(limiter: anyio.CapacityLimiter) -> None:
    """A slot of ``limiter``, as ``async with limiter`` takes it, but a free slot is taken
    at once: anyio's ``acquire`` yields to the event loop even then, and a slot free
    while its call waits in the loop's queue behind other replies' bookkeeping is a
    slot of the cap doing nothing (waiting in line for a slot, fairly, is unchanged)."""
    try:
        limiter.acquire_nowait()
    except anyio.WouldBlock:
        await limiter.acquire()


def call_result(
    request: ChatRequest,
    response: ChatResponse,
    cost_usd: float | None,
    *,
    turn: int,
    actor: str | None,
    request_id: str,
    cache_saving_usd: float | None = None,
) -> CallResult:
    """What the log keeps of an answered call: its ``ModelCall``, its ``CostIncurred``
    (which links the request and the raw answer), and the two blobs. ``cost_usd`` is
    None for a model with no known price: recorded as unknown, never as 0. The cost
    also records the prompt tokens the provider's cache served (as the response says)
    and ``cache_saving_usd``, what they saved against the full input price."""
    prompt_blob = request_blob(request)
    response_blob = response.text.encode()
    prompt_hash, response_hash = blob_hash(prompt_blob), blob_hash(response_blob)
    call = ModelCall(
        model=request.model,
        prompt_hash=prompt_hash,
        response_hash=response_hash,
        temperature=request.temperature,
        seed=request.seed,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        cost_usd=cost_usd,
        latency_ms=response.latency_ms,
        attempts=tuple(response.attempts),
    )
    cost = CostIncurred(
        turn=turn,
        model=request.model,
        purpose=request.purpose,
        actor=actor,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        cost_usd=cost_usd,
        request_id=request_id,
        prompt_hash=prompt_hash,
        response_hash=response_hash,
        finish_reason=response.finish_reason or None,
        cached_prompt_tokens=response.cached_prompt_tokens,
        cache_saving_usd=cache_saving_usd,
    )
    return CallResult(
        response=response,
        call=call,
        cost=cost,
        blobs={prompt_hash: prompt_blob, response_hash: response_blob},
    )


def failed_call(
    request: ChatRequest, attempts: tuple[Attempt, ...] = ()
) -> tuple[ModelCall, dict[str, bytes]]:
    """The audit record of a call no model answered (what was asked, each attempt),
    and the request's blob."""
    prompt_blob = request_blob(request)
    prompt_hash = blob_hash(prompt_blob)
    call = ModelCall(
        model=request.model,
        prompt_hash=prompt_hash,
        temperature=request.temperature,
        seed=request.seed,
        attempts=attempts,
    )
    return call, {prompt_hash: prompt_blob}


def request_blob(request: ChatRequest) -> bytes:
    """The request as stored for audit: everything sent except credentials.

    ``json.dumps(body, ensure_ascii=False, sort_keys=True)`` of the request's fields, byte
    for byte (the blob's hash is in the log). Sorting and encoding a schema was half of
    that work, so a schema from ``json_schema_for`` (the same dict call after call) comes
    as the text it was encoded to once, put first, where ``"json_schema"`` sorts.
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": request.messages,
        "temperature": request.temperature,
        "seed": request.seed,
        "max_tokens": request.max_tokens,
        "purpose": request.purpose,
    }
    if request.cache_prefix_chars is not None:  # only then: other prompts keep their hash
        body["cache_prefix_chars"] = request.cache_prefix_chars
    schema = request.json_schema
    if schema is None:
        return _BLOB.encode(body).encode()
    body["schema_name"] = request.schema_name
    text = sorted_schema_text(schema)
    if text is None or min(body) < "json_schema":  # the kept text goes first, or not at all
        body["json_schema"] = schema
        return _BLOB.encode(body).encode()
    rest = _BLOB.encode(body)  # '{"max_tokens": ...}': every other key sorts after it
    return f'{{"json_schema": {text}, {rest[1:]}'.encode()


# what json.dumps(body, ensure_ascii=False, sort_keys=True) uses, made once
_BLOB = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
