"""The LLM layer's httpx transport against real loopback servers: TLS with a throwaway
CA, gzip and chunked replies, a forward proxy from the environment, and the tuned pool."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpcore
import pytest
import trustme
from httpcore._backends.anyio import AnyIOStream

from engine.llm import ChatRequest, LLMCallFailed, LLMSettings, OpenAICompatibleClient, Router
from engine.llm.transport import http_client, tls_context
from eventstore import UsageError
from tests.engine_helpers import LLM3, cli, last_line, llm_env
from tests.fakellm import FakeLLMServer
from tests.forward_proxy import ForwardProxy

KEY = "sk-test-SECRET-transport-5e"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_proxy_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the proxies a test sets: httpx reads these from the process environment."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls_srv(ca: trustme.CA) -> Iterator[FakeLLMServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with FakeLLMServer(tls=context) as server:
        yield server


def request(seed: int | None = None) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], seed=seed)


# -- TLS -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_https_endpoint_trusted_through_the_ca_bundle_setting(tls_srv, ca_file) -> None:
    assert tls_srv.base_url.startswith("https://")
    settings = LLMSettings(base_url=tls_srv.base_url, api_key=KEY, ca_bundle=ca_file)
    async with Router(settings) as router:
        for _ in range(2):
            response = await router.complete(request())
            assert [a.outcome for a in response.attempts] == ["ok"]
    assert tls_srv.request_count == 2
    assert tls_srv.connections_accepted == 1  # the TLS connection was kept alive


@pytest.mark.anyio
async def test_https_endpoint_trusted_through_ssl_cert_file(tls_srv, ca_file, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    async with Router(LLMSettings(base_url=tls_srv.base_url, api_key=KEY)) as router:
        response = await router.complete(request())
    assert response.attempts[-1].outcome == "ok"


@pytest.mark.anyio
async def test_a_certificate_from_an_unknown_ca_is_refused(tls_srv, monkeypatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    settings = LLMSettings(base_url=tls_srv.base_url, api_key=KEY, max_retries=0)
    async with Router(settings) as router:  # certifi's bundle does not know trustme's CA
        with pytest.raises(LLMCallFailed) as info:
            await router.complete(request())
    (attempt,) = info.value.attempts
    assert attempt.outcome == "connection"
    assert "CERTIFICATE_VERIFY_FAILED" in attempt.detail
    assert tls_srv.request_count == 0


def test_a_ca_bundle_that_does_not_load_fails_before_any_call(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(UsageError) as info:
        Router(LLMSettings(base_url="https://llm.invalid/v1", ca_bundle=str(missing)))
    assert str(missing) in info.value.message
    assert "No such file" in info.value.message
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(UsageError) as info:
        Router(LLMSettings(base_url="https://llm.invalid/v1", ca_bundle=str(garbage)))
    assert str(garbage) in info.value.message
    assert info.value.hint


def test_a_bad_ssl_cert_file_is_named(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "gone.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with pytest.raises(UsageError) as info:
        Router(LLMSettings(base_url="http://127.0.0.1:9/v1"))
    assert f"SSL_CERT_FILE={missing}" in info.value.message


@pytest.mark.anyio
async def test_ca_certificates_load_at_the_first_handshake_only(
    tls_srv, ca: trustme.CA, tmp_path: Path
) -> None:
    # parsing a bundle costs 25-50 ms: a plain-HTTP endpoint never pays for it, and a
    # run's first call does not wait on it before it goes out
    ca_file = str(tmp_path / "ca.pem")  # a path of its own: one context per path
    ca.cert_pem.write_to_path(ca_file)
    with FakeLLMServer() as plain:
        settings = LLMSettings(base_url=plain.base_url, api_key=KEY, ca_bundle=ca_file)
        async with Router(settings) as router:
            await router.complete(request())
            tls = tls_context(ca_file)
            assert tls.cert_store_stats()["x509_ca"] == 0
    settings = LLMSettings(base_url=tls_srv.base_url, api_key=KEY, ca_bundle=ca_file)
    async with Router(settings) as router:
        await router.complete(request())
    assert tls.cert_store_stats()["x509_ca"] == 1  # trustme's CA, loaded by the handshake
    assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname


def test_an_ssl_cert_file_without_certificates_is_named(tmp_path: Path, monkeypatch) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(garbage))
    with pytest.raises(UsageError) as info:
        Router(LLMSettings(base_url="http://127.0.0.1:9/v1"))
    assert f"SSL_CERT_FILE={garbage}" in info.value.message
    assert "no PEM certificate" in info.value.message


# -- how replies are framed and encoded ---------------------------------------------------


@pytest.mark.parametrize(
    ("gzip", "chunked"),
    [(True, False), (False, True), (True, True)],
    ids=["gzip", "chunked", "both"],
)
@pytest.mark.anyio
async def test_compressed_and_chunked_replies_are_read(gzip: bool, chunked: bool) -> None:
    long_text = "word " * 2000  # big enough to come in several chunks and to compress
    with FakeLLMServer(gzip=gzip, chunked=chunked) as srv:
        srv.script(long_text, long_text)
        async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
            for _ in range(2):  # the second on the same connection: framing was respected
                response = await client.complete(request())
                assert response.text == long_text
        assert srv.connections_accepted == 1
        assert "gzip" in srv.requests[0]["headers"]["accept-encoding"]
        sent = srv.replies[0]
    assert (sent["headers"].get("Content-Encoding") == "gzip") is gzip
    assert (sent["headers"].get("Transfer-Encoding") == "chunked") is chunked
    if gzip:
        assert sent["size"] < len(json.dumps(long_text)) / 10


@pytest.mark.anyio
async def test_a_body_that_does_not_decode_is_malformed_and_retried() -> None:
    with FakeLLMServer() as srv:
        srv.fail_next(1, "bad_gzip")
        async with OpenAICompatibleClient(
            srv.base_url, KEY, max_retries=1, backoff_base_s=0
        ) as client:
            response = await client.complete(request())
    first, second = response.attempts
    assert (first.outcome, second.outcome) == ("malformed", "ok")
    assert "not decodable" in first.detail


# -- proxies from the environment ---------------------------------------------------------


@pytest.mark.anyio
async def test_http_proxy_from_the_environment_carries_the_calls(monkeypatch) -> None:
    with ForwardProxy() as proxy, FakeLLMServer(api_key=KEY) as srv:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with Router(LLMSettings(base_url=srv.base_url, api_key=KEY)) as router:
            for _ in range(2):
                response = await router.complete(request())
                assert [a.outcome for a in response.attempts] == ["ok"]
        target = f"POST {srv.base_url}/chat/completions"
        assert proxy.seen == [target, target]
        # the server got the request in origin form, key intact, from the proxy
        assert srv.requests[0]["path"] == "/v1/chat/completions"
        assert srv.connections_accepted == 2  # the proxy opens one upstream a request


@pytest.mark.anyio
async def test_https_through_the_proxy_is_a_tunnel(monkeypatch, tls_srv, ca_file) -> None:
    with ForwardProxy() as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        settings = LLMSettings(base_url=tls_srv.base_url, api_key=KEY, ca_bundle=ca_file)
        async with Router(settings) as router:
            response = await router.complete(request())
        assert response.attempts[-1].outcome == "ok"
        assert proxy.seen == [f"CONNECT 127.0.0.1:{tls_srv.port}"]
    assert tls_srv.request_count == 1


@pytest.mark.anyio
async def test_no_proxy_sends_direct(monkeypatch) -> None:
    with ForwardProxy() as proxy, FakeLLMServer() as srv:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        async with Router(LLMSettings(base_url=srv.base_url)) as router:
            await router.complete(request())
        assert proxy.seen == []
        assert srv.request_count == 1


@pytest.mark.anyio
async def test_an_unreachable_proxy_is_a_connection_failure(monkeypatch) -> None:
    with ForwardProxy() as proxy:
        dead = proxy.url  # closed on leaving: nothing listens there now
    monkeypatch.setenv("HTTP_PROXY", dead)
    settings = LLMSettings(base_url="http://127.0.0.1:9/v1", max_retries=0)
    async with Router(settings) as router:
        with pytest.raises(LLMCallFailed) as info:
            await router.complete(request())
    assert [a.outcome for a in info.value.attempts] == ["connection"]


# -- the pool ------------------------------------------------------------------------------


def test_every_pool_httpx_builds_is_tuned(monkeypatch) -> None:
    """engine.llm.pool re-classes the pools httpx makes; this fails if httpx stops
    building them the way the tuning expects (then calls would be correct but slow)."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = http_client(timeout_s=5)
    pools = [t._pool for t in [client._transport, *client._mounts.values()]]  # type: ignore[attr-defined]
    assert len(pools) == 3  # direct, and one per proxy variable
    for pool in pools:
        assert isinstance(pool, httpcore.AsyncConnectionPool)
        assert type(pool).__module__ == "engine.llm.pool"
        assert type(pool._network_backend).__name__ == "CoalescingBackend"


def test_a_connection_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_connections must be at least 1, got 0"):
        http_client(timeout_s=5, max_connections=0)


@pytest.mark.anyio
async def test_calls_beyond_the_connection_cap_wait_their_turn() -> None:
    with FakeLLMServer(latency_s=0.05) as srv:
        settings = LLMSettings(base_url=srv.base_url, max_connections=4)
        async with Router(settings) as router:
            responses = []

            async def call(i: int) -> None:
                responses.append(await router.complete(request(seed=i)))

            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    for i in range(40):
                        tg.start_soon(call, i)
        assert len(responses) == 40
        assert all([a.outcome for a in r.attempts] == ["ok"] for r in responses)
        assert srv.connections_accepted == 4  # reused, never more than the cap


@pytest.mark.anyio
async def test_a_full_pool_closes_an_idle_connection_for_another_origin() -> None:
    with FakeLLMServer() as a, FakeLLMServer() as b:
        http = http_client(timeout_s=5, max_connections=1)
        try:
            for srv in (a, b, a):
                async with OpenAICompatibleClient(srv.base_url, KEY, http=http) as client:
                    await client.complete(request())
        finally:
            await http.aclose()
        assert (a.connections_accepted, b.connections_accepted) == (2, 1)


# -- as the CLI user meets it ---------------------------------------------------------------


@pytest.mark.anyio
async def test_model_calls_read_and_write_without_a_cancel_scope_each(monkeypatch) -> None:
    # a call is bounded by the client's one deadline: its reads and writes skip
    # httpcore's per-operation timeout scopes; a request with a timeout keeps them
    scoped: list[str] = []
    for name in ("read", "write"):
        original = getattr(AnyIOStream, name)

        async def counted(self: Any, *args: Any, _name: str = name, _f: Any = original) -> Any:
            scoped.append(_name)
            return await _f(self, *args)

        monkeypatch.setattr(AnyIOStream, name, counted)
    with FakeLLMServer() as srv:
        async with OpenAICompatibleClient(srv.base_url, KEY, max_retries=0) as client:
            for _ in range(2):
                response = await client.complete(request())
                assert response.text
        assert scoped == []
        async with http_client(timeout_s=5) as http:
            (await http.get(srv.base_url + "/models")).raise_for_status()
    assert "read" in scoped and "write" in scoped


def test_a_run_goes_through_the_proxy_the_environment_names(tmp_path: Path) -> None:
    with ForwardProxy() as proxy, FakeLLMServer() as srv:
        env = {**llm_env(srv.base_url), "HTTP_PROXY": proxy.url}
        result = cli("run", LLM3, "--db", tmp_path / "log.db", "--seed", "3", env=env)
        assert result.exit_code == 0, result.output
        assert len(proxy.seen) == srv.request_count == 15  # every model call
        assert set(proxy.seen) == {f"POST {srv.base_url}/chat/completions"}


def test_a_run_with_a_missing_ssl_cert_file_stops_before_writing(tmp_path: Path) -> None:
    db, missing = tmp_path / "log.db", tmp_path / "company-ca.pem"
    with FakeLLMServer() as srv:
        env = {**llm_env(srv.base_url), "SSL_CERT_FILE": str(missing)}
        result = cli("run", LLM3, "--db", db, env=env)
        assert srv.request_count == 0
    assert result.exit_code == 2
    assert last_line(result.output) == (
        f"error: cannot load CA certificates from SSL_CERT_FILE={missing}: No such file or "
        "directory (point it at PEM CA certificates, or unset it to use certifi's bundle)"
    )
    assert not db.exists()
