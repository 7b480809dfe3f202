"""What a model call costs the batch process: the pool's connections take their locks
without yielding, the audit blob of a request is json.dumps's byte for byte, and a batch
collects young garbage less often while it plays (benchmarks/README.md, third pass)."""

from __future__ import annotations

import gc
import json
from typing import Any

import anyio
import pytest
from anyio._backends._asyncio import AsyncIOBackend
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.batch.heap import YOUNG_THRESHOLD, frozen_heap
from engine.llm import ChatRequest, LLMSettings, OpenAICompatibleClient, PriceTable, Router
from engine.llm.schemas import DecisionOut, json_schema_for, sorted_schema_text
from engine.llm.transport import http_client
from engine.play.calls import Budget, ModelCaller, request_blob
from tests.fakellm import FakeLLMServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _request(seed: int) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], seed=seed)


# -- the pool's locks ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_call_on_a_kept_alive_connection_yields_once(monkeypatch) -> None:
    # httpcore takes three locks a request; anyio's yield to the event loop once each even
    # when free, and under load each yield puts the call behind every reply's
    # bookkeeping. Only the socket send's own yield (after its write) is left.
    yields: list[int] = []
    original = AsyncIOBackend.cancel_shielded_checkpoint

    async def counted(cls: Any) -> None:
        yields.append(1)
        await original()

    monkeypatch.setattr(AsyncIOBackend, "cancel_shielded_checkpoint", classmethod(counted))
    with FakeLLMServer() as srv:
        async with OpenAICompatibleClient(srv.base_url, "k", max_retries=0) as client:
            await client.complete(_request(1))  # connects: httpcore's locks on the first
            yields.clear()
            for seed in range(2, 5):
                response = await client.complete(_request(seed))
                assert [a.outcome for a in response.attempts] == ["ok"]
        assert srv.connections_accepted == 1
    assert len(yields) == 3  # one a call


@pytest.mark.anyio
async def test_concurrent_calls_share_fast_locked_connections_correctly() -> None:
    with FakeLLMServer(latency_s=0.01) as srv:
        async with OpenAICompatibleClient(srv.base_url, "k", max_retries=0) as client:
            texts: dict[int, str] = {}

            async def call(seed: int) -> None:
                texts[seed] = (await client.complete(_request(seed))).text

            with anyio.fail_after(20):
                for round_ in range(3):  # later rounds reuse the connections
                    async with anyio.create_task_group() as tg:
                        for i in range(16):
                            tg.start_soon(call, 16 * round_ + i)
        assert sorted(texts) == list(range(48)) and all(texts.values())
        assert srv.connections_accepted <= 16


# -- the request ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "extra", [{}, {"X-Title": "lab", "accept": "text/plain"}, {"Content-Length": "5"}]
)
async def test_a_chat_request_is_what_build_request_makes(extra: dict[str, str]) -> None:
    # built from a kept template; headers (order and case), body, URL and extensions
    # must be httpx's own, whatever the body and the client's headers
    http = http_client(timeout_s=5)
    try:
        client = OpenAICompatibleClient(
            "http://127.0.0.1:9/v1", "k", http=http, default_headers=extra
        )
        for body in (b'{"model": "m"}', "é".encode() * 3000, b"", b"{}"):
            ours = client._request(http, body)
            theirs = http.build_request(
                "POST", client._url, headers=client._headers, content=body, timeout=None
            )
            assert ours.headers.raw == theirs.headers.raw
            assert (ours.method, ours.url, ours.content) == (theirs.method, theirs.url, body)
            assert ours.extensions == theirs.extensions
    finally:
        await http.aclose()


# -- the audit blob --------------------------------------------------------------------------


def _reference(request: ChatRequest) -> bytes:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": request.messages,
        "temperature": request.temperature,
        "seed": request.seed,
        "max_tokens": request.max_tokens,
        "purpose": request.purpose,
    }
    if request.json_schema is not None:
        body["json_schema"] = request.json_schema
        body["schema_name"] = request.schema_name
    if request.cache_prefix_chars is not None:
        body["cache_prefix_chars"] = request.cache_prefix_chars
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


_text = st.text(st.characters(codec="utf-8"), max_size=40)
_schemas = st.sampled_from(
    [
        None,
        json_schema_for(DecisionOut),  # the kept text
        {**json_schema_for(DecisionOut), "properties": {"a": {"enum": ["x", "é"]}}},  # a copy
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(st.dictionaries(st.sampled_from(["role", "content", "name"]), _text)),
    temperature=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    seed=st.none() | st.integers(),
    max_tokens=st.none() | st.integers(min_value=0, max_value=10**6),
    schema=_schemas,
    schema_name=st.none() | _text,
    purpose=_text,
    cache_prefix_chars=st.none() | st.integers(min_value=0, max_value=10**5),
)
def test_the_request_blob_is_json_dumps_byte_for_byte(
    messages: list[dict[str, str]],
    temperature: float | None,
    seed: int | None,
    max_tokens: int | None,
    schema: dict[str, Any] | None,
    schema_name: str | None,
    purpose: str,
    cache_prefix_chars: int | None,
) -> None:
    request = ChatRequest(
        model="m/é",
        messages=messages,
        temperature=temperature,
        seed=seed,
        max_tokens=max_tokens,
        json_schema=schema,
        schema_name=schema_name,
        purpose=purpose,
        cache_prefix_chars=cache_prefix_chars,  # sorts before "json_schema"
    )
    assert request_blob(request) == _reference(request)


def test_only_the_cached_schemas_have_a_kept_text() -> None:
    schema = json_schema_for(DecisionOut)
    assert sorted_schema_text(schema) == json.dumps(schema, ensure_ascii=False, sort_keys=True)
    assert sorted_schema_text(dict(schema)) is None  # equal, but not that object


# -- the collector ---------------------------------------------------------------------------


def test_a_playing_batch_collects_young_garbage_less_often_then_restores() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with frozen_heap():
            assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
            assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(0, 10, 10)  # collection switched off by the process: stays off
        with frozen_heap():
            assert gc.get_threshold() == (0, 10, 10)
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*before)


# -- the cap on calls in flight ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_call_takes_a_free_slot_without_yielding_and_queues_fairly_for_a_busy_one(
    monkeypatch,
) -> None:
    yields: list[int] = []
    original = AsyncIOBackend.cancel_shielded_checkpoint

    async def counted(cls: Any) -> None:
        yields.append(1)
        await original()

    with FakeLLMServer(latency_s=0.02) as srv:
        async with Router(LLMSettings(base_url=srv.base_url, max_retries=0)) as router:
            limiter = anyio.CapacityLimiter(2)
            caller = ModelCaller(router, PriceTable({}), limiter, Budget(limit_usd=None))
            await caller.call(_request(0), turn=1, actor="a", request_id="r0")  # connects
            monkeypatch.setattr(AsyncIOBackend, "cancel_shielded_checkpoint", classmethod(counted))
            await caller.call(_request(1), turn=1, actor="a", request_id="r1")
            # the socket send's yield and the one before the bookkeeping; none for the slot
            assert len(yields) == 2
            monkeypatch.undo()
            in_flight: list[int] = []
            most = 0

            async def one(i: int) -> None:
                nonlocal most
                await caller.call(_request(i), turn=1, actor="a", request_id=f"q{i}")
                most = max(most, limiter.borrowed_tokens)
                in_flight.append(i)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for i in range(8):
                        tg.start_soon(one, i)
            assert sorted(in_flight) == list(range(8)) and most <= 2
            assert limiter.borrowed_tokens == 0
