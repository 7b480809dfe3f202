"""The values every LLM client speaks: a request, a response, and the client protocol."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec

from eventstore import Attempt


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One chat-completions call.

    ``model`` is the routing name (``openai/gpt-4o-mini``, ``ollama/llama3.1``).
    ``json_schema`` asks for structured output under ``schema_name``; ``purpose`` says
    what the call is for (``decision``, ``world_update``, ...) for logs and errors.
    ``cache_prefix_chars``: the last message opens with this many characters that every
    call of its kind repeats; the client marks them for the provider's prompt cache
    (:mod:`engine.llm.prompt_cache`). None: no marker, the messages sent as they are.
    """

    model: str
    messages: list[dict[str, str]]
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    json_schema: dict[str, Any] | None = None
    schema_name: str | None = None
    purpose: str = ""
    cache_prefix_chars: int | None = None


class ChatResponse(msgspec.Struct, frozen=True, kw_only=True):
    """What a call returned, with every HTTP attempt it took.

    ``latency_ms`` is the caller's wall time, retries and waits included.
    ``served_model`` is the name the server answered with (providers add dates or
    suffixes). ``usage_estimated`` is true when the server sent no token usage and the
    counts are ``len(text) // 4``. ``schema_enforced`` is true when the server accepted
    ``response_format`` for this call.
    """

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    attempts: tuple[Attempt, ...]
    finish_reason: str
    served_model: str = ""
    usage_estimated: bool = False
    schema_enforced: bool = False
    cached_prompt_tokens: int | None = None


@runtime_checkable
class LLMClient(Protocol):
    """Anything that completes a chat: the HTTP client, the router, test fakes."""

    async def complete(self, request: ChatRequest) -> ChatResponse: ...
