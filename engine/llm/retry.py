"""When to retry a model call and how long to wait first."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping

# What the OpenAI SDK itself retries: timeouts, lock conflicts, rate limits, server errors.
_RETRYABLE_4XX = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    """True for statuses where the same request may succeed later."""
    return status in _RETRYABLE_4XX or status >= 500


def backoff_delay(retry: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): exponential, capped, with
    jitter over the upper half so that many callers hit by the same 429 spread out."""
    ceiling = min(max_s, base_s * (2**retry))
    return ceiling * (0.5 + rng.random() / 2)


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's requested wait from ``retry-after-ms`` or ``retry-after`` (seconds or
    an HTTP date), or None when absent or unreadable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        seconds: float | None
        try:
            seconds = float(raw) / divisor
        except ValueError:
            seconds = _seconds_until(raw, now)
        if seconds is not None and math.isfinite(seconds):
            return max(0.0, seconds)
    return None


def _seconds_until(http_date: str, now: float | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - (time.time() if now is None else now)
