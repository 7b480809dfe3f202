"""The OpenAI-compatible HTTP client: one endpoint, our own retry loop, every attempt kept.

Each attempt becomes an :class:`eventstore.Attempt` in the log. Raw responses are read
and checked here, so a 200 whose body is not chat-completions JSON counts as a failed
("malformed") attempt. The HTTP itself is httpx (:mod:`engine.llm.transport`: one
pooled client, shared by a router's endpoints; proxies and CA certificates from the
environment; 307/308 redirects followed).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec

from eventstore import Attempt

from .errors import LLMCallFailed
from .prompt_cache import marked_messages
from .retry import backoff_delay, is_retryable_status, retry_after_seconds
from .transport import http_client, send, tls_context
from .types import ChatRequest, ChatResponse
from .usage import cached_prompt_tokens

# Local servers (Ollama, llama.cpp, vLLM) ignore the bearer token; OpenAI-style servers
# want the header all the same. This placeholder is what Ollama's own docs use.
NO_KEY = "no-key"

_KEY_HINT = "check SCENARIO_LAB_LLM_API_KEY / OPENROUTER_API_KEY"
_STATUS_TEXT = {
    400: ("request rejected", None),
    401: ("unauthorized: the API key was refused", _KEY_HINT),
    402: ("payment required", "add credit to the provider account"),
    403: ("forbidden", "check that the key may use this model and has credit left"),
    404: ("not found", "check the model name, and that the base URL ends in /v1"),
}


@dataclass(frozen=True)
class _Outcome:
    """One attempt's result: a body on success, else why it failed."""

    outcome: str
    latency_ms: float
    detail: str = ""
    body: dict[str, Any] | None = None
    status: int | None = None
    retry_after_s: float | None = None

    @property
    def retryable(self) -> bool:
        if self.status is not None and self.outcome.startswith("http_"):
            return is_retryable_status(self.status)
        return self.outcome != "ok"


class OpenAICompatibleClient:
    """A :class:`~engine.llm.LLMClient` for one OpenAI-compatible endpoint.

    Retries 408/409/429/5xx, timeouts, dropped connections and malformed 200s with
    exponential backoff and jitter (a ``Retry-After`` header wins, capped at
    ``backoff_max_s``), at most ``max_retries`` times after the first attempt. Each
    attempt is bounded by ``timeout_s``. A structured request whose reply was cut at
    the token limit (``finish_reason: length``, not valid JSON) is retried as
    "truncated"; without a schema such a reply is returned for the caller to judge.
    Other 4xx fail at once. Failures raise :class:`LLMCallFailed` (an ``LLMUnavailable``).

    If the server rejects ``response_format`` for a model, the call is repeated once
    without it and the client stops sending it for that model.

    ``http`` is the pooled httpx client to send with (a :class:`~engine.llm.Router`
    shares one among its endpoints); without it the client makes its own
    (:func:`~engine.llm.transport.http_client`) and closes it in :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        rng: random.Random | None = None,
        default_headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        # Jitter only spreads waits; it never reaches the log, so it need not be seeded.
        self._rng = rng if rng is not None else random.Random()
        self._secret = api_key or ""
        self._no_schema_models: set[str] = set()
        # parsed once: httpx parses a URL string on every request (~60 µs)
        self._url = _url(self.base_url + "/chat/completions")
        self._headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api_key or NO_KEY}",
            **dict(default_headers or {}),
        }
        self._sets_length = any(k.lower() == "content-length" for k in self._headers)
        self._shared_http = http
        self._own_http: httpx.AsyncClient | None = None
        # (httpx client, a request's headers and extensions as it builds them): _request
        self._merged: tuple[httpx.AsyncClient, httpx.Headers, dict[str, Any]] | None = None
        # made now, when a missing CA bundle can fail before any call; shared per process
        self._tls = None if http is not None else tls_context()

    def __repr__(self) -> str:
        return f"OpenAICompatibleClient({self.base_url!r})"

    async def aclose(self) -> None:
        """Close this client's own httpx client (a shared one is its owner's to close)."""
        own, self._own_http = self._own_http, None
        if own is not None:
            await own.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._shared_http is not None:
            return self._shared_http
        if self._own_http is None:  # made on first use, so a closed client can be reused
            self._own_http = http_client(timeout_s=self.timeout_s, tls=self._tls)
        return self._own_http

    def _request(self, http: httpx.AsyncClient, body: bytes) -> httpx.Request:
        """The POST of ``body``, as ``http.build_request`` makes it, headers and their
        order included. What does not change from call to call (the client's headers
        merged with ours, ``Host``) is worked out by ``build_request`` once per httpx
        client and kept; a call copies those headers, sets its ``Content-Length`` in place
        and hands httpx its body as the stream, which skips httpx's merge, its body
        encoding and its two rebuilds of the headers (~70 µs a call). A client holding
        cookies or query parameters, an empty body (its ``Content-Length`` goes
        elsewhere) and headers that set their own ``Content-Length`` get
        ``build_request`` every time.

        No timeouts of httpx's: ``_attempt`` bounds the whole attempt (connect, the wait
        for a pooled connection, send, every read) with one deadline, which would end
        before any of them, and without them no read or write opens a cancel scope
        (``engine.llm.streams``)."""
        if http.cookies or http.params or not body or self._sets_length:
            return http.build_request(
                "POST", self._url, headers=self._headers, content=body, timeout=None
            )
        merged = self._merged
        if merged is None or merged[0] is not http:
            # a body of one byte: an empty one would get its Content-Length elsewhere
            template = http.build_request(
                "POST", self._url, headers=self._headers, content=b"{", timeout=None
            )
            merged = self._merged = (http, template.headers, template.extensions)
        _, template_headers, extensions = merged
        headers = httpx.Headers(template_headers)
        headers["Content-Length"] = str(len(body))  # where build_request puts it
        request = httpx.Request(
            "POST", self._url, headers=headers, stream=httpx.ByteStream(body), extensions=extensions
        )
        request.read()  # as build_request does: the body is there to resend on a redirect
        return request

    async def __aenter__(self) -> OpenAICompatibleClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def schema_supported(self, model: str) -> bool:
        """False once the server has rejected ``response_format`` for ``model``."""
        return model not in self._no_schema_models

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request``, retrying as described on the class; return the reply."""
        started = time.perf_counter()
        attempts: list[Attempt] = []
        retries_used = 0
        while True:
            use_schema = request.json_schema is not None and self.schema_supported(request.model)
            result = await self._attempt(_encode(self._params(request, use_schema)))
            if result.outcome == "ok":
                assert result.body is not None
                reply = self._reply(request, result, use_schema, attempts, started)
                if reply is not None:
                    return reply
                result = _Outcome(
                    "truncated", result.latency_ms, "finish_reason=length, reply is not JSON"
                )
            if use_schema and _rejects_response_format(result):
                self._no_schema_models.add(request.model)
                attempts.append(
                    Attempt(
                        outcome=result.outcome,
                        latency_ms=result.latency_ms,
                        detail=f"response_format rejected, resending without it: {result.detail}",
                    )
                )
                continue
            if not result.retryable or retries_used >= self.max_retries:
                attempts.append(_attempt_of(result))
                raise self._failure(request, result, tuple(attempts))
            delay = self._delay(retries_used, result.retry_after_s)
            attempts.append(_attempt_of(result, f"retry in {delay:.2f}s"))
            retries_used += 1
            await anyio.sleep(delay)

    # -- one attempt ---------------------------------------------------------------------

    def _params(self, request: ChatRequest, use_schema: bool) -> dict[str, Any]:
        messages: list[dict[str, Any]] | list[dict[str, str]] = request.messages
        if request.cache_prefix_chars is not None:
            messages = marked_messages(request.messages, request.cache_prefix_chars)
        params: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.seed is not None:
            params["seed"] = request.seed
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if use_schema:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name or "response",
                    "schema": request.json_schema,
                    "strict": True,
                },
            }
        return params

    async def _attempt(self, body: bytes) -> _Outcome:
        t0 = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - t0) * 1000, 3)

        # Bounds the whole attempt (connect, send, every read), so a server trickling
        # bytes cannot hold a call past timeout_s.
        with anyio.move_on_after(self.timeout_s) as deadline:
            try:
                http = self._http()
                reply = await send(http, self._request(http, body))
            except httpx.TimeoutException:
                return _Outcome("timeout", elapsed(), f"no answer within {self.timeout_s}s")
            except httpx.DecodingError as e:  # e.g. a gzip body cut short
                return _Outcome("malformed", elapsed(), self._redact(f"body not decodable: {e}"))
            except httpx.LocalProtocolError:
                # h11's message quotes the offending header, which may be the Authorization one
                detail = "LocalProtocolError: a request header is not valid HTTP (a line break in a key?)"
                return _Outcome("connection", elapsed(), detail)
            except (httpx.HTTPError, httpx.InvalidURL) as e:
                detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                return _Outcome("connection", elapsed(), self._redact(detail))
        if deadline.cancelled_caught:
            return _Outcome("timeout", elapsed(), f"no answer within {self.timeout_s}s")
        text = reply.content.decode("utf-8", errors="replace")
        if not 200 <= reply.status_code < 300:
            return _Outcome(
                f"http_{reply.status_code}",
                elapsed(),
                self._redact(_error_message(_json_or_text(text))),
                status=reply.status_code,
                retry_after_s=retry_after_seconds(reply.headers),
            )
        body_json, problem = _read_completion(text)
        if body_json is None:
            return _Outcome("malformed", elapsed(), self._redact(problem))
        return _Outcome("ok", elapsed(), body=body_json)

    def _reply(
        self,
        request: ChatRequest,
        result: _Outcome,
        use_schema: bool,
        attempts: list[Attempt],
        started: float,
    ) -> ChatResponse | None:
        """The response for a well-formed body, or None if a structured reply was cut."""
        body = result.body
        assert body is not None
        choice = body["choices"][0]
        text: str = choice["message"]["content"]
        finish_reason = str(choice.get("finish_reason") or "")
        if request.json_schema is not None and finish_reason == "length" and not _is_json(text):
            return None
        usage = body.get("usage")
        detail = ""
        estimated = False
        if (
            isinstance(usage, dict)
            and isinstance(usage.get("prompt_tokens"), int)
            and isinstance(usage.get("completion_tokens"), int)
        ):
            input_tokens, output_tokens = usage["prompt_tokens"], usage["completion_tokens"]
            cached = cached_prompt_tokens(usage)
        else:
            cached = None
            prompt_chars = sum(len(m.get("content") or "") for m in request.messages)
            input_tokens, output_tokens = prompt_chars // 4, len(text) // 4
            detail = "no usage from the server; tokens estimated as len(text)//4"
            estimated = True
        attempts.append(Attempt(outcome="ok", latency_ms=result.latency_ms, detail=detail))
        return ChatResponse(
            text=text,
            model=request.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            attempts=tuple(attempts),
            finish_reason=finish_reason,
            served_model=str(body.get("model") or ""),
            usage_estimated=estimated,
            schema_enforced=use_schema,
            cached_prompt_tokens=cached,
        )

    # -- failure -------------------------------------------------------------------------

    def _delay(self, retry: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.backoff_max_s)
        return backoff_delay(
            retry, base_s=self.backoff_base_s, max_s=self.backoff_max_s, rng=self._rng
        )

    def _failure(
        self, request: ChatRequest, result: _Outcome, attempts: tuple[Attempt, ...]
    ) -> LLMCallFailed:
        where = f"model {request.model} at {self.host}"
        if request.purpose:
            where += f" ({request.purpose})"
        hint: str | None
        if result.retryable:
            message = (
                f"{where}: no answer after {len(attempts)} attempts "
                f"(last: {result.outcome}{': ' + result.detail if result.detail else ''})"
            )
            hint = "the server is down or rate-limiting; once it answers, `scenario-lab resume` the run"
        else:
            status = result.status or 0
            what, hint = _STATUS_TEXT.get(status, (f"HTTP {status}", None))
            message = f"{where}: HTTP {status} {what}"
            if result.detail:
                message += f": {result.detail}"
        return LLMCallFailed(
            self._redact(message),
            model=request.model,
            endpoint=self.host,
            attempts=attempts,
            status=result.status,
            retryable=result.retryable,
            hint=hint,
        )

    def _redact(self, text: str) -> str:
        """Servers sometimes echo what they were sent; the key must not reach a log."""
        if self._secret:
            text = text.replace(self._secret, "***")
        return text[:500]


_encoder = msgspec.json.Encoder()


def _url(text: str) -> httpx.URL | str:
    """``text`` as an httpx URL, or as it is if it is not one (the attempt then fails as
    a connection problem, as a refused connection would)."""
    try:
        return httpx.URL(text)
    except httpx.InvalidURL:
        return text


def _encode(params: dict[str, Any]) -> bytes:
    # msgspec, not json.dumps: a decision request carries a few KB of prompt and schema,
    # and this runs for every attempt.
    return _encoder.encode(params)


def _json_or_text(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text or None


def _attempt_of(result: _Outcome, note: str = "") -> Attempt:
    detail = "; ".join(part for part in (result.detail, note) if part)
    return Attempt(outcome=result.outcome, latency_ms=result.latency_ms, detail=detail)


def _rejects_response_format(result: _Outcome) -> bool:
    detail = result.detail.lower()
    return result.status in (400, 422) and ("response_format" in detail or "json_schema" in detail)


def _error_message(body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        return json.dumps(body)[:300]
    return "" if body is None else str(body)[:300]


def _read_completion(text: str) -> tuple[dict[str, Any] | None, str]:
    """The body if it is chat-completions JSON with a text message, else why not."""
    try:
        body = json.loads(text)
    except ValueError:
        return None, f"body is not JSON: {text[:80]!r}"
    if not isinstance(body, dict):
        return None, "body is not a JSON object"
    if "error" in body and "choices" not in body:
        # OpenRouter reports some upstream failures as a 200 carrying an error object.
        return None, f"error in a 200 body: {_error_message(body)}"
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, "no choices in the body"
    message = choices[0].get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        return None, "the first choice has no message content"
    return body, ""


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
