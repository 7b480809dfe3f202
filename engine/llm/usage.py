"""What a chat-completions ``usage`` block says about the provider's prompt cache.

Providers that cache prompt prefixes report how many prompt tokens the cache served:
OpenAI (and OpenRouter, which passes every provider's count on in OpenAI's shape) as
``usage.prompt_tokens_details.cached_tokens``; Anthropic-style usage, which some
gateways pass through, as ``usage.cache_read_input_tokens``. In both, ``prompt_tokens``
counts the cached tokens too, so the cached count is a part of it.
"""

from __future__ import annotations

from typing import Any


def cached_prompt_tokens(usage: dict[str, Any]) -> int | None:
    """The prompt tokens served from the provider's cache, or None when the usage does
    not say (a provider without a cache, or one that does not report it): unknown is
    not 0. A count that is not a non-negative integer is not believed (None)."""
    details = usage.get("prompt_tokens_details")
    found: Any = None
    if isinstance(details, dict) and "cached_tokens" in details:
        found = details["cached_tokens"]
    elif "cache_read_input_tokens" in usage:
        found = usage["cache_read_input_tokens"]
    # bool is an int to Python; a JSON true is no count
    if isinstance(found, int) and not isinstance(found, bool) and found >= 0:
        return found
    return None
