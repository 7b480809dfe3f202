"""Budget reservations and the ModelCaller: priced, blob-stored, capped model calls."""

from __future__ import annotations

import hashlib
import json

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import BudgetExceeded
from engine.llm import ChatRequest, ChatResponse, LLMClient, PriceTable
from engine.play.calls import (
    EXPECTED_OUTPUT_TOKENS,
    Budget,
    BudgetCrowded,
    ModelCaller,
    estimate_tokens,
    request_blob,
)
from eventstore import Attempt, CostIncurred, blob_hash

MODEL = "test/model"
PRICES = PriceTable({MODEL: (2.0, 8.0), "free/*": (0.0, 0.0)})  # USD per 1M tokens


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClient:
    """An in-process LLM: fixed usage, optional delay, counts concurrent calls."""

    def __init__(
        self,
        *,
        text: str = '{"action": "wait"}',
        input_tokens: int = 1200,
        output_tokens: int = 300,
        delay: float = 0.0,
        fail: Exception | None = None,
    ) -> None:
        self.text = text
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.delay = delay
        self.fail = fail
        self.calls: list[ChatRequest] = []
        self.active = 0
        self.max_active = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await anyio.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            return ChatResponse(
                text=self.text,
                model=request.model,
                input_tokens=self.input_tokens,
                output_tokens=self.output_tokens,
                latency_ms=12.5,
                attempts=(Attempt(outcome="ok", latency_ms=12.5),),
                finish_reason="stop",
            )
        finally:
            self.active -= 1


def request(content: str = "Decide.", **kw: object) -> ChatRequest:
    base: dict[str, object] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are East."},
            {"role": "user", "content": content},
        ],
        "temperature": 0.7,
        "seed": 42,
        "purpose": "decision",
    }
    return ChatRequest(**{**base, **kw})  # type: ignore[arg-type]


def caller(client: FakeClient, budget: Budget | None = None, slots: int = 4) -> ModelCaller:
    return ModelCaller(client, PRICES, anyio.CapacityLimiter(slots), budget or Budget(None))


# -- Budget ----------------------------------------------------------------------------


def test_reserve_within_the_limit() -> None:
    b = Budget(1.0)
    b.reserve(0.4, "a")
    b.reserve(0.6, "b")  # exactly at the limit is allowed
    assert b.reserved_usd == pytest.approx(1.0)
    assert b.spent_usd == 0.0


def test_reserve_refuses_a_call_that_would_cross_the_limit() -> None:
    b = Budget(1.0, spent_usd=0.7)
    with pytest.raises(BudgetExceeded, match=r"the decision call .* credit limit of \$1\.0000"):
        b.reserve(0.31, "the decision call")
    assert (b.spent_usd, b.reserved_usd) == (0.7, 0.0)  # a refusal reserves nothing


def test_in_flight_reservations_count() -> None:
    b = Budget(1.0)
    b.reserve(0.5, "first")
    b.reserve(0.4, "second")
    with pytest.raises(BudgetExceeded):
        b.reserve(0.2, "third")  # 0.9 in flight + 0.2 > 1.0, though nothing is spent yet
    b.settle(0.5, 0.1)  # the first call cost less than feared
    b.reserve(0.2, "third")
    assert b.spent_usd == pytest.approx(0.1)
    assert b.reserved_usd == pytest.approx(0.6)


def test_settle_moves_reserved_to_spent() -> None:
    b = Budget(5.0)
    b.reserve(1.0, "x")
    b.settle(1.0, 0.25)
    assert b.reserved_usd == pytest.approx(0.0)
    assert b.spent_usd == pytest.approx(0.25)


def test_no_limit_means_no_refusal() -> None:
    b = Budget(None)
    b.reserve(1e9, "huge")
    assert b.reserved_usd == 1e9


def test_the_batch_budget_is_checked_too() -> None:
    batch = Budget(1.0, spent_usd=0.9)
    run = Budget(10.0, batch=batch)
    with pytest.raises(BudgetExceeded, match="batch budget"):
        run.reserve(0.2, "a call")
    assert run.reserved_usd == 0.0 and batch.reserved_usd == 0.0  # all or nothing
    run.reserve(0.05, "a call")
    assert run.reserved_usd == pytest.approx(0.05)
    assert batch.reserved_usd == pytest.approx(0.05)
    run.settle(0.05, 0.04)
    assert run.spent_usd == pytest.approx(0.04)
    assert batch.spent_usd == pytest.approx(0.94)
    assert batch.reserved_usd == pytest.approx(0.0)


def test_runs_sharing_a_batch_see_each_others_reservations() -> None:
    batch = Budget(1.0)
    a, b = Budget(None, batch=batch), Budget(None, batch=batch)
    a.reserve(0.6, "a")
    with pytest.raises(BudgetExceeded, match="batch budget"):
        b.reserve(0.6, "b")
    a.settle(0.6, 0.0)
    b.reserve(0.6, "b")


def test_the_run_limit_is_named_when_it_is_the_one_crossed() -> None:
    run = Budget(0.1, batch=Budget(100.0))
    with pytest.raises(BudgetExceeded, match="credit limit") as e:
        run.reserve(0.2, "x")
    assert "batch" not in str(e.value)  # the runner tells the two apart by this word


@given(st.lists(st.floats(0, 1), max_size=30), st.floats(0.1, 5))
def test_reserved_plus_spent_never_crosses_the_limit(amounts: list[float], limit: float) -> None:
    b = Budget(limit)
    held: list[float] = []
    for i, amount in enumerate(amounts):
        if i % 3 == 2 and held:
            r = held.pop(0)
            b.settle(r, r / 2)
        try:
            b.reserve(amount, "x")
            held.append(amount)
        except BudgetExceeded:
            pass
        assert b.spent_usd + b.reserved_usd <= limit + 1e-9


# -- ModelCaller -----------------------------------------------------------------------


def test_the_fake_is_an_llm_client() -> None:
    assert isinstance(FakeClient(), LLMClient)


def test_estimates() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("x" * 400) == 100
    mc = caller(FakeClient())
    r = request("x" * 400)
    prompt = estimate_tokens("You are East.") + 100
    assert mc.estimate(r) == pytest.approx(PRICES.cost(MODEL, prompt, EXPECTED_OUTPUT_TOKENS))
    assert mc.estimate(request("x" * 400, max_tokens=100)) == pytest.approx(
        PRICES.cost(MODEL, prompt, 100)
    )
    assert mc.estimate(request("x" * 400, max_tokens=10_000)) == mc.estimate(r)


@pytest.mark.anyio
async def test_a_call_is_priced_recorded_and_stored() -> None:
    client = FakeClient(text="The answer, with ünïcode.", input_tokens=1500, output_tokens=250)
    budget = Budget(1.0)
    r = request(max_tokens=400, json_schema={"type": "object"}, schema_name="Decision")
    result = await caller(client, budget).call(r, turn=3, actor="east", request_id="d3-east")

    expected = (1500 * 2.0 + 250 * 8.0) / 1_000_000
    assert expected == PRICES.cost(MODEL, 1500, 250)
    assert result.cost == CostIncurred(
        turn=3,
        model=MODEL,
        purpose="decision",
        actor="east",
        input_tokens=1500,
        output_tokens=250,
        cost_usd=result.cost.cost_usd,
        request_id="d3-east",
        # the cost links the call's request and raw answer, and how the answer ended
        prompt_hash=result.call.prompt_hash,
        response_hash=result.call.response_hash,
        finish_reason="stop",
    )
    assert result.cost.cost_usd == pytest.approx(expected)
    assert result.call.cost_usd == result.cost.cost_usd
    assert (result.call.model, result.call.temperature, result.call.seed) == (MODEL, 0.7, 42)
    assert (result.call.input_tokens, result.call.output_tokens) == (1500, 250)
    assert result.call.latency_ms == 12.5
    assert result.call.attempts == (Attempt(outcome="ok", latency_ms=12.5),)
    assert result.response.text == "The answer, with ünïcode."

    prompt = result.blobs[result.call.prompt_hash or ""]
    response = result.blobs[result.call.response_hash or ""]
    assert set(result.blobs) == {result.call.prompt_hash, result.call.response_hash}
    for key, blob in result.blobs.items():
        assert key == blob_hash(blob) == hashlib.sha256(blob).hexdigest()
    assert response.decode() == "The answer, with ünïcode."
    assert prompt == request_blob(r)
    body = json.loads(prompt)
    assert body["messages"] == r.messages
    assert (body["model"], body["seed"], body["temperature"]) == (MODEL, 42, 0.7)
    assert (body["max_tokens"], body["purpose"]) == (400, "decision")
    assert (body["json_schema"], body["schema_name"]) == ({"type": "object"}, "Decision")

    assert budget.reserved_usd == pytest.approx(0.0)
    assert budget.spent_usd == pytest.approx(expected)
    assert client.calls == [r]


@pytest.mark.anyio
async def test_the_request_blob_is_stable_and_leaves_out_an_absent_schema() -> None:
    r = request()
    body = json.loads(request_blob(r))
    assert "json_schema" not in body and "schema_name" not in body
    assert request_blob(r) == request_blob(request())
    a = await caller(FakeClient()).call(r, turn=1, actor=None, request_id="x")
    b = await caller(FakeClient()).call(request(), turn=1, actor=None, request_id="y")
    assert a.call.prompt_hash == b.call.prompt_hash  # same request, same blob


@pytest.mark.anyio
async def test_an_unknown_model_has_an_unknown_cost_not_a_free_one() -> None:
    result = await caller(FakeClient()).call(
        request(model="nobody/knows"), turn=1, actor=None, request_id="x"
    )
    assert result.cost.cost_usd is None and result.call.cost_usd is None


@pytest.mark.anyio
async def test_an_unknown_model_is_refused_under_a_limit_before_it_is_called() -> None:
    client = FakeClient()
    with pytest.raises(BudgetExceeded, match="nobody/knows, which has no known price"):
        await caller(client, Budget(100.0)).call(
            request(model="nobody/knows"), turn=1, actor="east", request_id="x"
        )
    assert client.calls == []


@pytest.mark.anyio
async def test_a_call_over_the_limit_is_refused_before_it_is_made() -> None:
    client = FakeClient()
    budget = Budget(1e-6)
    with pytest.raises(BudgetExceeded, match="decision call of east"):
        await caller(client, budget).call(request(), turn=1, actor="east", request_id="x")
    assert client.calls == []
    assert (budget.spent_usd, budget.reserved_usd) == (0.0, 0.0)


@pytest.mark.anyio
async def test_a_failed_call_releases_its_reservation() -> None:
    client = FakeClient(fail=RuntimeError("boom"))
    budget = Budget(1.0)
    with pytest.raises(RuntimeError, match="boom"):
        await caller(client, budget).call(request(), turn=1, actor="east", request_id="x")
    assert (budget.spent_usd, budget.reserved_usd) == (0.0, 0.0)


@pytest.mark.anyio
async def test_concurrent_calls_wait_for_room_rather_than_halt() -> None:
    one = caller(FakeClient()).estimate(request())
    budget = Budget(one * 2.5)  # room for two worst cases in flight, not three
    client = FakeClient(delay=0.05, input_tokens=1, output_tokens=1)
    mc = caller(client, budget)

    async def go(i: int) -> None:
        await mc.call(request(), turn=1, actor=f"a{i}", request_id=str(i))

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(go, i)
    # the third waited for one of the first two to settle (at a tiny actual cost), then
    # went: nothing was refused, and reservations never exceeded the limit
    assert len(client.calls) == 3
    assert budget.reserved_usd == pytest.approx(0.0)
    assert budget.spent_usd <= budget.limit_usd


@pytest.mark.anyio
@pytest.mark.parametrize("slots", [1, 2, 3])
async def test_the_capacity_limiter_caps_concurrent_calls(slots: int) -> None:
    client = FakeClient(delay=0.02)
    limiter = anyio.CapacityLimiter(slots)
    # two runs share one limiter, as every run of a process does
    callers = [ModelCaller(client, PRICES, limiter, Budget(None)) for _ in range(2)]

    async def go(i: int) -> None:
        await callers[i % 2].call(request(), turn=1, actor=None, request_id=str(i))

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(go, i)
    assert len(client.calls) == 8
    assert client.max_active == slots
    assert limiter.borrowed_tokens == 0


def test_a_call_crowded_out_by_calls_in_flight_waits_for_them() -> None:
    # worst-case reservations of calls in flight must not halt a run whose spending
    # leaves room: the call waits until they settle at their (smaller) actual cost
    batch = Budget(1.0)
    a, b = Budget(None, batch=batch), Budget(None, batch=batch)
    a.reserve(0.6, "a")
    order: list[str] = []

    async def main() -> None:
        async def second() -> None:
            await b.reserve_when_free(0.6, "b")
            order.append("b reserved")

        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await anyio.sleep(0.01)
            order.append("a settles")
            a.settle(0.6, 0.1)

    anyio.run(main)
    assert order == ["a settles", "b reserved"]
    assert batch.spent_usd == pytest.approx(0.1) and batch.reserved_usd == pytest.approx(0.6)


def test_a_call_that_cannot_fit_even_alone_does_not_wait() -> None:
    batch = Budget(1.0, spent_usd=0.5)
    run = Budget(None, batch=batch)

    async def main() -> None:
        await run.reserve_when_free(0.6, "the decision call of techco")

    with pytest.raises(BudgetExceeded, match="cross the batch budget") as e:
        anyio.run(main)
    assert not isinstance(e.value, BudgetCrowded)
