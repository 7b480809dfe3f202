"""The client's HTTP layer against the real loopback fake: keep-alive, hang-ups, proxies."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import pytest

from engine.llm import ChatRequest, LLMCallFailed, LLMSettings, OpenAICompatibleClient, Router
from engine.llm.http import ConnectionPool, HTTPError
from engine.llm.proxy import ProxiedTransport, proxy_for
from tests.fakellm import FakeLLMServer

KEY = "sk-test-SECRET-77aa01"
BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def srv() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def request() -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.anyio
async def test_sequential_requests_share_one_connection(srv) -> None:
    pool = ConnectionPool(srv.base_url)
    try:
        for _ in range(3):
            reply = await pool.request("POST", "/v1/chat/completions", JSON, BODY)
            assert reply.status == 200
            assert json.loads(reply.body)["choices"][0]["message"]["content"]
    finally:
        await pool.aclose()
    assert srv.connections_accepted == 1
    assert srv.requests[0]["headers"]["host"] == f"127.0.0.1:{srv.port}"


@pytest.mark.anyio
async def test_a_connection_the_server_dropped_is_not_reused(srv) -> None:
    pool = ConnectionPool(srv.base_url)
    try:
        await pool.request("POST", "/v1/chat/completions", JSON, BODY)
        srv.drop_connections()  # as a server ending idle keep-alive connections does
        await anyio.sleep(0.05)
        reply = await pool.request("POST", "/v1/chat/completions", JSON, BODY)
    finally:
        await pool.aclose()
    assert reply.status == 200
    assert srv.connections_accepted == 2


@pytest.mark.anyio
async def test_expired_idle_connections_are_replaced(srv) -> None:
    pool = ConnectionPool(srv.base_url, keepalive_s=0.0)
    try:
        for _ in range(2):
            await pool.request("POST", "/v1/chat/completions", JSON, BODY)
    finally:
        await pool.aclose()
    assert srv.connections_accepted == 2


@pytest.mark.anyio
async def test_a_cancelled_request_closes_its_connection(srv) -> None:
    pool = ConnectionPool(srv.base_url)
    try:
        srv.latency_s = 2.0
        with anyio.move_on_after(0.1):
            await pool.request("POST", "/v1/chat/completions", JSON, BODY)
        srv.latency_s = 0.0
        # The old connection still owes the cancelled reply; a new one must be used.
        reply = await pool.request("POST", "/v1/chat/completions", JSON, BODY)
    finally:
        await pool.aclose()
    assert reply.status == 200
    assert srv.connections_accepted == 2


@pytest.mark.anyio
async def test_a_hang_up_mid_request_is_an_http_error(srv) -> None:
    srv.fail_next(1, "connection")
    pool = ConnectionPool(srv.base_url)
    try:
        with pytest.raises(HTTPError) as info:
            await pool.request("POST", "/v1/chat/completions", JSON, BODY)
    finally:
        await pool.aclose()
    assert info.value.kind == "RemoteProtocolError"


@pytest.mark.anyio
async def test_307_is_followed_with_the_body_and_the_key(srv) -> None:
    srv.fail_next(1, "redirect")
    async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
        response = await client.complete(request())
    assert [a.outcome for a in response.attempts] == ["ok"]
    first, second = srv.requests
    assert second["path"] == "/moved/v1/chat/completions"
    assert second["json"] == first["json"]
    assert second["auth_fingerprint"] == first["auth_fingerprint"] is not None


@pytest.mark.anyio
async def test_a_redirect_to_another_host_drops_the_key(srv) -> None:
    with FakeLLMServer() as other:
        # "localhost" is another host name than 127.0.0.1, as far as the key goes
        srv.fail_next(1, "redirect", message=f"http://localhost:{other.port}/v1/chat/completions")
        async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
            await client.complete(request())
        assert srv.requests[0]["auth_fingerprint"] is not None
        assert other.requests[0]["auth_fingerprint"] is None


@pytest.mark.anyio
async def test_endless_redirects_fail_as_a_connection_problem(srv) -> None:
    srv.fail_next(20, "redirect", message="/v1/chat/completions")
    async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
        with pytest.raises(LLMCallFailed) as info:
            await client.complete(request())
    assert [a.outcome for a in info.value.attempts] == ["connection"]
    assert "TooManyRedirects" in info.value.attempts[0].detail
    assert srv.request_count == 6


@pytest.mark.anyio
async def test_a_key_that_is_not_a_valid_header_does_not_leak(srv) -> None:
    bad = KEY + "\nX-Injected: 1"
    async with OpenAICompatibleClient(srv.base_url, bad, max_retries=0) as client:
        with pytest.raises(LLMCallFailed) as info:
            await client.complete(request())
    err = info.value
    assert [a.outcome for a in err.attempts] == ["connection"]
    everything = " ".join([str(err), err.one_line(), repr(err.attempts)])
    assert KEY not in everything
    assert srv.request_count == 0


def test_proxy_for_follows_the_usual_variables() -> None:
    env = {"HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost,.internal,10.0.0.1:8080"}
    assert proxy_for("https://openrouter.ai/api/v1", env) == "http://proxy:3128"
    assert proxy_for("http://localhost:11434/v1", env) is None  # no http_proxy
    assert proxy_for("https://llm.internal/v1", env) is None
    assert proxy_for("https://a.llm.internal/v1", env) is None
    assert proxy_for("https://10.0.0.1/v1", env) is None
    assert proxy_for("http://x/v1", {"ALL_PROXY": "http://p:1"}) == "http://p:1"
    assert proxy_for("http://x/v1", {"ALL_PROXY": "http://p:1", "NO_PROXY": "*"}) is None
    assert proxy_for("http://x/v1", {}) is None


@pytest.mark.anyio
async def test_proxied_transport_sends_through_the_proxy(srv) -> None:
    # For a plain-http origin a forward proxy gets the absolute URL; the fake answers
    # any path ending in /chat/completions, so it can stand in for the proxy.
    proxied = ProxiedTransport(srv.base_url, timeout_s=5)
    try:
        reply = await proxied.request("POST", "http://llm.invalid/v1/chat/completions", JSON, BODY)
    finally:
        await proxied.aclose()
    assert reply.status == 200
    assert srv.requests[0]["path"] == "http://llm.invalid/v1/chat/completions"


@pytest.mark.anyio
async def test_router_uses_the_proxy_from_the_environment(srv) -> None:
    env = {"HTTP_PROXY": srv.base_url, "SCENARIO_LAB_LLM_API_KEY": KEY}
    settings = LLMSettings.from_env(env, base_url="http://llm.invalid/v1")
    assert KEY not in repr(settings)
    async with Router(settings) as router:
        response = await router.complete(request())
    assert [a.outcome for a in response.attempts] == ["ok"]
    assert srv.requests[0]["path"] == "http://llm.invalid/v1/chat/completions"
