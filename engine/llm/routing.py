"""Which endpoint serves which model, and the settings that decide it."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx
import msgspec

from ..errors import MissingCredentials
from .client import OpenAICompatibleClient
from .transport import http_client, tls_context
from .types import ChatRequest, ChatResponse

OLLAMA_PREFIX = "ollama/"
_ELSEWHERE = (
    "or set --llm-base-url / SCENARIO_LAB_LLM_BASE_URL for another OpenAI-compatible server"
)


@dataclass(frozen=True)
class LLMSettings:
    """Where model calls go, and how. Built by the CLI from its flags and the environment.

    ``ca_bundle`` is a PEM file of CA certificates to check HTTPS endpoints against
    instead of ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` / certifi's bundle.
    ``max_connections`` caps the HTTP connections (set it to the cap on calls in
    flight; None opens one per call in flight, which the engine's limiter bounds).
    Proxies are not settings: httpx reads ``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY`` and ``NO_PROXY`` from the process environment, as curl does.

    Keys are left out of ``repr`` so that settings can be logged.
    """

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    openrouter_api_key: str | None = field(default=None, repr=False)
    ollama_base_url: str = "http://localhost:11434/v1"
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    timeout_s: float = 60.0
    max_retries: int = 4
    ca_bundle: str | None = None
    max_connections: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, base_url: str | None = None) -> LLMSettings:
        """Settings from ``SCENARIO_LAB_LLM_BASE_URL``, ``SCENARIO_LAB_LLM_API_KEY``,
        ``OPENROUTER_API_KEY`` and ``OLLAMA_BASE_URL`` in ``env`` (the CLI passes
        ``os.environ``); an explicit ``base_url`` (``--llm-base-url``) wins. Empty
        values count as unset. (Proxy and CA variables are read by httpx from the
        process environment: see the class docstring.)"""

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        defaults = cls()
        return cls(
            base_url=base_url or get("SCENARIO_LAB_LLM_BASE_URL"),
            api_key=get("SCENARIO_LAB_LLM_API_KEY"),
            openrouter_api_key=get("OPENROUTER_API_KEY"),
            ollama_base_url=get("OLLAMA_BASE_URL") or defaults.ollama_base_url,
        )


@dataclass(frozen=True)
class Endpoint:
    """Where one model's calls go: the server, the model name it knows, and the key.

    ``key_env`` names the variable the key comes from, when one is needed.
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    key_env: str | None = None


class Router:
    """An :class:`~engine.llm.LLMClient` that sends each request to its model's endpoint.

    With ``settings.base_url`` every call goes there, the model name unchanged.
    Otherwise ``ollama/<name>`` goes to Ollama as ``<name>`` (no key), and anything
    else to OpenRouter with ``OPENROUTER_API_KEY``. One client per endpoint is made on
    first use and reused; all of them send through one pooled httpx client
    (:mod:`engine.llm.transport`), made on first use and closed by :meth:`aclose`.

    Raises :class:`~eventstore.UsageError` at once if the CA certificates
    (``settings.ca_bundle`` or ``SSL_CERT_FILE``) cannot be loaded.
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._rng = rng
        self._clients: dict[tuple[str, str | None], OpenAICompatibleClient] = {}
        self._tls = tls_context(settings.ca_bundle)  # fails here, before anything runs
        self._http: httpx.AsyncClient | None = None

    def endpoint_for(self, model: str) -> Endpoint:
        """The endpoint that serves ``model`` (its key may be missing; see
        :meth:`check_credentials`)."""
        s = self.settings
        if s.base_url:
            return Endpoint(s.base_url, model, s.api_key)
        if model.startswith(OLLAMA_PREFIX):
            return Endpoint(s.ollama_base_url, model[len(OLLAMA_PREFIX) :])
        return Endpoint(s.openrouter_base_url, model, s.openrouter_api_key, "OPENROUTER_API_KEY")

    def check_credentials(self, models: Iterable[str]) -> None:
        """Raise :class:`MissingCredentials` naming every model whose endpoint needs a
        key that is not set. Call it before a run starts, so it fails before any call."""
        missing: dict[str, list[str]] = {}
        for model in dict.fromkeys(models):
            endpoint = self.endpoint_for(model)
            if endpoint.key_env and not endpoint.api_key:
                missing.setdefault(endpoint.key_env, []).append(model)
        if not missing:
            return
        parts = []
        for env_name, names in missing.items():
            noun = "model" if len(names) == 1 else "models"
            verb = "needs" if len(names) == 1 else "need"
            parts.append(f"{noun} {', '.join(names)} {verb} {env_name}")
        raise MissingCredentials("; ".join(parts), hint=_ELSEWHERE)

    def client_for(self, model: str) -> tuple[OpenAICompatibleClient, str]:
        """The (reused) client for ``model``'s endpoint and the model name to send."""
        endpoint = self.endpoint_for(model)
        if endpoint.key_env and not endpoint.api_key:
            self.check_credentials([model])
        key = (endpoint.base_url.rstrip("/"), endpoint.api_key)
        client = self._clients.get(key)
        if client is None:
            client = OpenAICompatibleClient(
                endpoint.base_url,
                endpoint.api_key,
                timeout_s=self.settings.timeout_s,
                max_retries=self.settings.max_retries,
                backoff_base_s=self._backoff_base_s,
                backoff_max_s=self._backoff_max_s,
                rng=self._rng,
                http=self._http_client(),
            )
            self._clients[key] = client
        return client, endpoint.model

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` to its model's endpoint; the response keeps the routing name."""
        client, model = self.client_for(request.model)
        if model == request.model:
            return await client.complete(request)
        response = await client.complete(msgspec.structs.replace(request, model=model))
        return msgspec.structs.replace(response, model=request.model)

    async def aclose(self) -> None:
        """Close the HTTP connections; the router may be used again afterwards."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = http_client(
                timeout_s=self.settings.timeout_s,
                max_connections=self.settings.max_connections,
                tls=self._tls,
            )
        return self._http

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
