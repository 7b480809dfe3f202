"""Settings from the environment, and which endpoint each model's calls reach."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.errors import MissingCredentials
from engine.llm import ChatRequest, LLMClient, LLMSettings, Router
from engine.llm.client import NO_KEY
from tests.fakellm import FakeLLMServer, key_fingerprint

OPENROUTER_KEY = "sk-or-v1-SECRET-openrouter"
GENERIC_KEY = "sk-SECRET-generic"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def servers() -> Iterator[tuple[FakeLLMServer, FakeLLMServer, FakeLLMServer]]:
    with FakeLLMServer() as a, FakeLLMServer() as b, FakeLLMServer() as c:
        yield a, b, c


def ask(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "decide"}])


def test_settings_from_env() -> None:
    env = {
        "SCENARIO_LAB_LLM_BASE_URL": "http://127.0.0.1:8000/v1",
        "SCENARIO_LAB_LLM_API_KEY": GENERIC_KEY,
        "OPENROUTER_API_KEY": OPENROUTER_KEY,
        "OLLAMA_BASE_URL": "http://127.0.0.1:11435/v1",
        "UNRELATED": "x",
    }
    s = LLMSettings.from_env(env)
    assert s.base_url == "http://127.0.0.1:8000/v1"
    assert s.api_key == GENERIC_KEY
    assert s.openrouter_api_key == OPENROUTER_KEY
    assert s.ollama_base_url == "http://127.0.0.1:11435/v1"
    assert s.openrouter_base_url == "https://openrouter.ai/api/v1"
    assert LLMSettings.from_env(env, base_url="http://127.0.0.1:9/v1").base_url == (
        "http://127.0.0.1:9/v1"
    )
    assert GENERIC_KEY not in repr(s) and OPENROUTER_KEY not in repr(s)


def test_settings_defaults_and_empty_values() -> None:
    s = LLMSettings.from_env({"OPENROUTER_API_KEY": "  ", "SCENARIO_LAB_LLM_BASE_URL": ""})
    assert s == LLMSettings()
    assert s.ollama_base_url == "http://localhost:11434/v1"
    assert s.timeout_s == 60 and s.max_retries == 4


@pytest.mark.anyio
async def test_explicit_base_url_takes_every_model_as_named(servers) -> None:
    explicit, ollama, openrouter = servers
    settings = LLMSettings(
        base_url=explicit.base_url,
        api_key=GENERIC_KEY,
        openrouter_api_key=OPENROUTER_KEY,
        ollama_base_url=ollama.base_url,
        openrouter_base_url=openrouter.base_url,
    )
    async with Router(settings) as router:
        assert isinstance(router, LLMClient)
        for model in ("openai/gpt-4o-mini", "ollama/llama3.1", "local-model"):
            response = await router.complete(ask(model))
            assert response.model == model
    assert [r["json"]["model"] for r in explicit.requests] == [
        "openai/gpt-4o-mini",
        "ollama/llama3.1",
        "local-model",
    ]
    assert {r["auth_fingerprint"] for r in explicit.requests} == {key_fingerprint(GENERIC_KEY)}
    assert ollama.request_count == openrouter.request_count == 0


@pytest.mark.anyio
async def test_ollama_prefix_and_openrouter_default(servers) -> None:
    explicit, ollama, openrouter = servers
    settings = LLMSettings(
        openrouter_api_key=OPENROUTER_KEY,
        ollama_base_url=ollama.base_url,
        openrouter_base_url=openrouter.base_url,
    )
    async with Router(settings) as router:
        local = await router.complete(ask("ollama/llama3.1:8b"))
        remote = await router.complete(ask("openai/gpt-4o-mini"))
        await router.complete(ask("ollama/qwen2.5"))
        # One client per endpoint, reused across models.
        assert router.client_for("ollama/a")[0] is router.client_for("ollama/b")[0]
        assert router.client_for("ollama/a")[0] is not router.client_for("x/y")[0]
    assert local.model == "ollama/llama3.1:8b"
    assert local.served_model == "llama3.1:8b"
    assert remote.model == "openai/gpt-4o-mini"
    assert [r["json"]["model"] for r in ollama.requests] == ["llama3.1:8b", "qwen2.5"]
    assert {r["auth_fingerprint"] for r in ollama.requests} == {key_fingerprint(NO_KEY)}
    assert [r["json"]["model"] for r in openrouter.requests] == ["openai/gpt-4o-mini"]
    assert openrouter.requests[0]["auth_fingerprint"] == key_fingerprint(OPENROUTER_KEY)
    assert explicit.request_count == 0


def test_missing_openrouter_key_is_one_line_naming_model_and_variable() -> None:
    router = Router(LLMSettings())
    with pytest.raises(MissingCredentials) as info:
        router.check_credentials(["openai/gpt-4o-mini"])
    assert info.value.one_line() == (
        "model openai/gpt-4o-mini needs OPENROUTER_API_KEY (or set --llm-base-url / "
        "SCENARIO_LAB_LLM_BASE_URL for another OpenAI-compatible server)"
    )
    assert info.value.exit_code == 2


def test_missing_key_names_every_model_once() -> None:
    router = Router(LLMSettings())
    models = ["openai/gpt-4o", "ollama/llama3", "anthropic/claude-3-haiku", "openai/gpt-4o"]
    with pytest.raises(MissingCredentials) as info:
        router.check_credentials(models)
    assert info.value.message == (
        "models openai/gpt-4o, anthropic/claude-3-haiku need OPENROUTER_API_KEY"
    )


def test_credentials_that_are_not_needed() -> None:
    Router(LLMSettings()).check_credentials(["ollama/llama3", "ollama/qwen2.5"])
    Router(LLMSettings(base_url="http://127.0.0.1:8000/v1")).check_credentials(["any/model"])
    Router(LLMSettings(openrouter_api_key=OPENROUTER_KEY)).check_credentials(["openai/gpt-4o"])
    Router(LLMSettings()).check_credentials([])


@pytest.mark.anyio
async def test_call_without_key_fails_before_any_request(servers) -> None:
    _, _, openrouter = servers
    async with Router(LLMSettings(openrouter_base_url=openrouter.base_url)) as router:
        with pytest.raises(MissingCredentials):
            await router.complete(ask("openai/gpt-4o-mini"))
    assert openrouter.request_count == 0


@pytest.mark.anyio
async def test_router_passes_timeout_and_retries(servers) -> None:
    explicit, _, _ = servers
    settings = LLMSettings(base_url=explicit.base_url, timeout_s=3, max_retries=1)
    async with Router(settings, backoff_base_s=0) as router:
        client, model = router.client_for("m")
        assert (client.timeout_s, client.max_retries, model) == (3, 1, "m")
        explicit.fail_next(1, "500")
        response = await router.complete(ask("m"))
    assert [a.outcome for a in response.attempts] == ["http_500", "ok"]
