"""The client's HTTP layer against the real loopback fake: keep-alive, hang-ups, redirects.

TLS, gzip, chunked replies, proxies and the pool's limits: ``test_llm_transport.py``.
"""

from __future__ import annotations

import http.cookiejar
import http.server
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import anyio
import pytest

from engine.llm import ChatRequest, LLMCallFailed, OpenAICompatibleClient
from engine.llm.transport import http_client
from tests.fakellm import FakeLLMServer

KEY = "sk-test-SECRET-77aa01"


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
    async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
        for _ in range(3):
            response = await client.complete(request())
            assert response.text
    assert srv.connections_accepted == 1
    assert srv.requests[0]["headers"]["host"] == f"127.0.0.1:{srv.port}"
    assert srv.requests[0]["headers"]["user-agent"] == "scenario-lab"


@pytest.mark.anyio
async def test_a_connection_the_server_dropped_is_not_reused(srv) -> None:
    async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
        await client.complete(request())
        srv.drop_connections()  # as a server ending idle keep-alive connections does
        await anyio.sleep(0.05)
        response = await client.complete(request())
    assert [a.outcome for a in response.attempts] == ["ok"]
    assert srv.connections_accepted == 2


@pytest.mark.anyio
async def test_expired_idle_connections_are_replaced(srv) -> None:
    http = http_client(timeout_s=5, keepalive_s=0.0)
    try:
        async with OpenAICompatibleClient(srv.base_url, KEY, http=http) as client:
            for _ in range(2):
                await client.complete(request())
                await anyio.sleep(0.01)
    finally:
        await http.aclose()
    assert srv.connections_accepted == 2


@pytest.mark.anyio
async def test_a_cancelled_request_closes_its_connection(srv) -> None:
    async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
        srv.latency_s = 2.0
        with anyio.move_on_after(0.1):
            await client.complete(request())
        srv.latency_s = 0.0
        # The old connection still owes the cancelled reply; a new one must be used.
        response = await client.complete(request())
    assert [a.outcome for a in response.attempts] == ["ok"]
    assert srv.connections_accepted == 2


@pytest.mark.anyio
async def test_a_hang_up_mid_request_is_a_connection_failure(srv) -> None:
    srv.fail_next(1, "connection")
    async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
        with pytest.raises(LLMCallFailed) as info:
            await client.complete(request())
    (attempt,) = info.value.attempts
    assert attempt.outcome == "connection"
    assert "RemoteProtocolError" in attempt.detail


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


class _CookieHandler(http.server.BaseHTTPRequestHandler):
    """Sets a cookie on the first request (``/set``) and records what comes back."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.headers.get("Cookie"))
        self.send_response(200)
        if self.path == "/set":
            self.send_header("Set-Cookie", "session=abc; Path=/")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return None


@pytest.mark.anyio
async def test_cookies_a_reply_sets_are_kept_and_sent_back(monkeypatch) -> None:
    # the client hands a reply to http.cookiejar only when it sets a cookie (a cost
    # per call otherwise): one that does is still honoured
    handed: list[object] = []
    extract = http.cookiejar.CookieJar.extract_cookies

    def counted(jar: http.cookiejar.CookieJar, response: Any, request: Any) -> None:
        handed.append(request)
        extract(jar, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", counted)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CookieHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        async with http_client(timeout_s=5) as client:
            for path in ("/none", "/set", "/again"):
                (await client.get(base + path)).raise_for_status()
            assert dict(client.cookies) == {"session": "abc"}
    finally:
        server.shutdown()
        server.server_close()
    assert _CookieHandler.seen == [None, None, "session=abc"]
    assert len(handed) == 1  # the reply of /set


@pytest.mark.anyio
async def test_requests_carry_the_client_headers_ours_and_its_cookies() -> None:
    # the chat request is built with the merged headers kept per httpx client; a client
    # holding cookies goes through httpx's own merge, which adds them
    with FakeLLMServer(api_key=KEY) as srv:
        http = http_client(timeout_s=5)
        try:
            async with OpenAICompatibleClient(
                srv.base_url, KEY, http=http, default_headers={"X-Title": "lab"}
            ) as client:
                await client.complete(request())
                http.cookies.set("session", "abc")
                await client.complete(request())
        finally:
            await http.aclose()
    plain, with_cookie = (r["headers"] for r in srv.requests)
    for headers in (plain, with_cookie):
        assert headers["user-agent"] == "scenario-lab"
        assert headers["x-title"] == "lab"
        assert headers["content-type"] == "application/json"
    assert "cookie" not in plain
    assert with_cookie["cookie"] == "session=abc"
