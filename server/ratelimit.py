"""Per-principal rate limits with the ``limits`` library (moving window, in memory).

A limit is N requests a minute per key or user; the 429 carries ``Retry-After``: the
seconds until the oldest request in the window leaves it. In memory means per server
process, which is what one ``serve`` process is.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from server.problems import Problem


class RateLimits:
    """One moving-window limiter shared by every route."""

    def __init__(self) -> None:
        self._storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}

    def hit(self, who: str, per_min: int | None) -> None:
        """Count one request of ``who``; raise a 429 problem when over ``per_min``."""
        if per_min is None:
            return
        item = self._items.get(per_min)
        if item is None:
            item = self._items[per_min] = RateLimitItemPerMinute(per_min)
        if self._limiter.hit(item, who):
            return
        stats = self._limiter.get_window_stats(item, who)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise Problem(
            429,
            "Too Many Requests",
            f"more than {per_min} requests a minute; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
