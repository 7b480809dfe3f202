"""Marking where a prompt's stable opening ends, for providers that cache only what is
marked.

OpenAI (and DeepSeek, Gemini, ... behind OpenRouter) cache a repeated prompt opening by
themselves. Anthropic's models cache only up to a content part that carries
``{"cache_control": {"type": "ephemeral"}}``; OpenRouter passes the marker on
(https://openrouter.ai/docs/features/prompt-caching). A request says how many
characters open its last message unchanged from call to call
(``ChatRequest.cache_prefix_chars``); the client then sends that message as two text
parts, the first one marked. Requests without it are sent exactly as before.
"""

from __future__ import annotations

from typing import Any

CACHE_CONTROL = {"type": "ephemeral"}


def needs_cache_marker(model: str) -> bool:
    """Whether ``model`` (a routing name) caches only marked prompts: Anthropic's, by
    OpenRouter's ``anthropic/`` prefix or a bare ``claude-...`` name."""
    name = model.lower()
    return name.startswith("anthropic/") or name.startswith("claude")


def marked_messages(messages: list[dict[str, str]], chars: int) -> list[dict[str, Any]]:
    """``messages`` with the last one's content split after its first ``chars``
    characters, the opening part marked for the provider's prompt cache. Unchanged when
    there is nothing after the opening to split off, or nothing before it."""
    if not messages or not 0 < chars < len(messages[-1].get("content") or ""):
        return list(messages)
    last = messages[-1]
    text = last["content"]
    parts = [
        {"type": "text", "text": text[:chars], "cache_control": CACHE_CONTROL},
        {"type": "text", "text": text[chars:]},
    ]
    return [*messages[:-1], {**last, "content": parts}]
