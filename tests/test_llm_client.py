"""The real OpenAI-compatible client against the real loopback fake server."""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from engine.errors import LLMUnavailable
from engine.llm import (
    ChatRequest,
    DecisionOut,
    LLMCallFailed,
    LLMClient,
    OpenAICompatibleClient,
    json_schema_for,
    parse_decision,
)
from engine.llm.retry import backoff_delay, is_retryable_status, retry_after_seconds
from tests.fakellm import FakeLLMServer, estimate_tokens, key_fingerprint

KEY = "sk-test-SECRET-4f1c9a77e2"
MESSAGES = [
    {"role": "system", "content": "You are the Republic of Arden."},
    {"role": "user", "content": "Turn 1. Decide."},
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def srv() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def client(srv: FakeLLMServer) -> AsyncIterator[OpenAICompatibleClient]:
    async with OpenAICompatibleClient(
        srv.base_url, KEY, timeout_s=5, max_retries=3, backoff_base_s=0.001, backoff_max_s=0.01
    ) as c:
        yield c


def request(**kw: object) -> ChatRequest:
    fields: dict[str, object] = {"model": "openai/gpt-4o-mini", "messages": MESSAGES}
    fields.update(kw)
    return ChatRequest(**fields)  # type: ignore[arg-type]


def decision_request(**kw: object) -> ChatRequest:
    return request(json_schema=json_schema_for(DecisionOut), schema_name="decision", **kw)


@pytest.mark.anyio
async def test_success_sends_params_and_reads_usage(srv, client) -> None:
    response = await client.complete(request(temperature=0.3, seed=7, max_tokens=300))
    decision, method = parse_decision(response.text)
    assert method == "json"
    assert decision.action
    assert [a.outcome for a in response.attempts] == ["ok"]
    assert response.finish_reason == "stop"
    assert response.model == response.served_model == "openai/gpt-4o-mini"
    assert response.output_tokens == estimate_tokens(response.text)
    assert response.input_tokens == estimate_tokens(json.dumps(MESSAGES))
    assert not response.usage_estimated and not response.schema_enforced
    assert response.latency_ms > 0
    sent = srv.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["temperature"] == 0.3
    assert sent["json"]["seed"] == 7
    assert sent["json"]["max_tokens"] == 300
    assert "response_format" not in sent["json"]
    assert sent["auth_fingerprint"] == key_fingerprint(KEY)
    assert isinstance(client, LLMClient)


@pytest.mark.anyio
async def test_unset_params_are_not_sent(srv, client) -> None:
    await client.complete(request())
    body = srv.requests[0]["json"]
    assert not {"temperature", "seed", "max_tokens", "response_format"} & set(body)


@pytest.mark.anyio
async def test_json_schema_is_sent_strict_and_honoured(srv, client) -> None:
    response = await client.complete(decision_request())
    fmt = srv.requests[0]["json"]["response_format"]
    assert fmt == {
        "type": "json_schema",
        "json_schema": {
            "name": "decision",
            "schema": json_schema_for(DecisionOut),
            "strict": True,
        },
    }
    decision, method = parse_decision(response.text)
    assert method == "json"
    assert decision.action == "fake action"
    assert response.schema_enforced


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("429", "http_429"),
        ("500", "http_500"),
        ("503", "http_503"),
        ("malformed", "malformed"),
        ("connection", "connection"),
    ],
)
@pytest.mark.anyio
async def test_faults_are_retried_and_recorded_in_order(srv, client, kind, outcome) -> None:
    srv.fail_next(2, kind)
    response = await client.complete(request())
    assert [a.outcome for a in response.attempts] == [outcome, outcome, "ok"]
    assert all("retry in" in a.detail for a in response.attempts[:2])
    assert srv.request_count == 3
    assert parse_decision(response.text)[1] == "json"


@pytest.mark.anyio
async def test_stall_times_out_then_retries(srv) -> None:
    srv.fail_next(1, "stall")
    async with OpenAICompatibleClient(srv.base_url, KEY, timeout_s=0.3, backoff_base_s=0) as c:
        started = time.perf_counter()
        response = await c.complete(request())
    assert [a.outcome for a in response.attempts] == ["timeout", "ok"]
    assert 250 <= response.attempts[0].latency_ms < 2000
    assert time.perf_counter() - started < 3


@pytest.mark.anyio
async def test_truncated_structured_reply_is_retried(srv, client) -> None:
    srv.fail_next(1, "truncated")
    response = await client.complete(decision_request())
    assert [a.outcome for a in response.attempts] == ["truncated", "ok"]
    assert DecisionOut.model_validate_json(response.text).action == "fake action"


@pytest.mark.anyio
async def test_truncated_free_text_is_returned_as_cut(srv, client) -> None:
    srv.fail_next(1, "truncated")
    response = await client.complete(request())
    assert response.finish_reason == "length"
    assert [a.outcome for a in response.attempts] == ["ok"]


@pytest.mark.anyio
async def test_retry_after_header_wins_over_backoff(srv) -> None:
    # Backoff alone would wait 30 s; the 429s say "Retry-After: 0".
    srv.fail_next(2, "429")
    async with OpenAICompatibleClient(srv.base_url, KEY, backoff_base_s=30, backoff_max_s=60) as c:
        started = time.perf_counter()
        response = await c.complete(request())
    assert time.perf_counter() - started < 2
    assert [a.outcome for a in response.attempts] == ["http_429", "http_429", "ok"]
    assert "retry in 0.00s" in response.attempts[0].detail


@pytest.mark.anyio
async def test_exhausted_retries_raise_llm_unavailable_without_the_key(srv, client) -> None:
    # The server even echoes the key in its error message; it must not get through.
    srv.fail_next(10, "500", message=f"upstream rejected Bearer {KEY}")
    with pytest.raises(LLMUnavailable) as info:
        await client.complete(request(purpose="decision"))
    err = info.value
    assert isinstance(err, LLMCallFailed)
    assert [a.outcome for a in err.attempts] == ["http_500"] * 4
    assert srv.request_count == 4
    assert err.retryable and err.status == 500
    assert err.model == "openai/gpt-4o-mini" and err.endpoint == f"127.0.0.1:{srv.port}"
    assert "openai/gpt-4o-mini" in err.message and f"127.0.0.1:{srv.port}" in err.message
    everything = " ".join(
        [str(err), repr(err), err.one_line(), repr(err.attempts), repr(client)]
        + [a.detail for a in err.attempts]
    )
    assert KEY not in everything
    assert "***" in err.attempts[0].detail


@pytest.mark.anyio
async def test_401_fails_at_once_with_the_fix() -> None:
    with FakeLLMServer(api_key="the-right-key") as srv:
        async with OpenAICompatibleClient(srv.base_url, KEY, backoff_base_s=0) as c:
            with pytest.raises(LLMCallFailed) as info:
                await c.complete(request())
    err = info.value
    assert srv.request_count == 1
    assert err.status == 401 and not err.retryable
    assert [a.outcome for a in err.attempts] == ["http_401"]
    assert "SCENARIO_LAB_LLM_API_KEY / OPENROUTER_API_KEY" in err.one_line()
    assert KEY not in err.one_line()


@pytest.mark.parametrize("status", ["400", "403", "404", "402"])
@pytest.mark.anyio
async def test_other_client_errors_are_not_retried(srv, client, status) -> None:
    srv.fail_next(3, status)
    with pytest.raises(LLMCallFailed) as info:
        await client.complete(request())
    assert srv.request_count == 1
    assert info.value.status == int(status)
    assert f"HTTP {status}" in info.value.message


@pytest.mark.anyio
async def test_response_format_rejection_falls_back_and_is_remembered(srv, client) -> None:
    srv.fail_next(1, "reject_response_format")
    first = await client.complete(decision_request())
    assert [a.outcome for a in first.attempts] == ["http_400", "ok"]
    assert "response_format rejected" in first.attempts[0].detail
    assert not first.schema_enforced
    assert parse_decision(first.text)[0].action  # the default decision, as JSON text
    second = await client.complete(decision_request())
    assert [a.outcome for a in second.attempts] == ["ok"]
    other = await client.complete(decision_request(model="anthropic/claude-3-haiku"))
    sent = [("response_format" in r["json"], r["json"]["model"]) for r in srv.requests]
    assert sent == [
        (True, "openai/gpt-4o-mini"),
        (False, "openai/gpt-4o-mini"),
        (False, "openai/gpt-4o-mini"),
        (True, "anthropic/claude-3-haiku"),
    ]
    assert other.schema_enforced
    assert not client.schema_supported("openai/gpt-4o-mini")


@pytest.mark.anyio
async def test_missing_usage_is_estimated_and_said() -> None:
    with FakeLLMServer(include_usage=False) as srv:
        async with OpenAICompatibleClient(srv.base_url, None) as c:
            response = await c.complete(request())
    assert response.usage_estimated
    assert response.output_tokens == len(response.text) // 4
    assert response.input_tokens == sum(len(m["content"]) for m in MESSAGES) // 4
    assert "estimated" in response.attempts[0].detail


@pytest.mark.anyio
async def test_scripted_reply_and_finish_reason(srv, client) -> None:
    srv.script({"content": "ACTION: wait", "finish_reason": "stop", "usage": False})
    response = await client.complete(request())
    assert response.text == "ACTION: wait"
    assert response.usage_estimated


@pytest.mark.anyio
async def test_unreachable_server_is_a_connection_failure() -> None:
    with FakeLLMServer() as srv:
        base_url = srv.base_url  # closed at once: nothing listens on that port now
    async with OpenAICompatibleClient(
        base_url, KEY, max_retries=1, backoff_base_s=0, timeout_s=2
    ) as c:
        with pytest.raises(LLMCallFailed) as info:
            await c.complete(request())
    assert [a.outcome for a in info.value.attempts] == ["connection", "connection"]


@pytest.mark.anyio
async def test_64_concurrent_calls_overlap() -> None:
    with FakeLLMServer(latency_s=0.2) as srv:
        async with OpenAICompatibleClient(srv.base_url, KEY) as c:
            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for i in range(64):
                    tg.start_soon(c.complete, request(seed=i))
            elapsed = time.perf_counter() - started
        assert srv.request_count == 64
    assert elapsed < 1.5


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, base_s=0.5, max_s=4, rng=rng) for n in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(4, 0.5 * 2**n)
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    assert retry_after_seconds({"Retry-After": date}, now=1445412480.0) == 10


def test_retryable_statuses() -> None:
    assert all(is_retryable_status(s) for s in (408, 409, 429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s) for s in (400, 401, 402, 403, 404, 422))


def test_negative_retries_rejected() -> None:
    with pytest.raises(ValueError):
        OpenAICompatibleClient("http://127.0.0.1:9/v1", None, max_retries=-1)
