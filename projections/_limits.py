"""Bounds on one query of SQL a person wrote: run time, DuckDB memory, rows returned.

A query past its time limit is stopped with DuckDB's own ``interrupt()`` (from a timer
thread; DuckDB checks for it while it works), one past its memory limit fails in DuckDB
(``memory_limit``, set when the connection opens and locked with the rest of the
sandbox's configuration, so the SQL cannot raise it). Either ends in a
``QueryLimitExceeded``; the read-only analytics file is untouched.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from types import TracebackType

import duckdb

from eventstore import UsageError

from ._errors import QueryLimitExceeded

DEFAULT_TIMEOUT_S = 120.0
# DuckDB's own default is 80% of the machine's memory: one runaway query reached
# 15.9 GB. 2 GB holds what a log's analytics need; a larger sort or join spills to disk.
DEFAULT_MEMORY_LIMIT = "2GB"

# the sizes DuckDB's memory_limit reads: 1000-based and 1024-based units, or a share
_SIZE = re.compile(
    r"\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>bytes|b|kb|mb|gb|tb|k|m|g|t|kib|mib|gib|tib|%)\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QueryLimits:
    """How long one query may run, how much memory DuckDB may use for it, and how many
    rows it may return (more are left unread and the result is marked ``truncated``).
    None: no limit (DuckDB's default memory limit)."""

    timeout_s: float | None = DEFAULT_TIMEOUT_S
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT  # a DuckDB size: 2GB, 500MB, 25%
    max_rows: int | None = None

    def __post_init__(self) -> None:
        t = self.timeout_s
        if t is not None and not (math.isfinite(t) and t > 0):
            raise UsageError(
                f"the SQL time limit {t} is not a number of seconds above 0",
                hint="give e.g. 30 or 600",
            )
        if self.memory_limit is not None and not _is_size(self.memory_limit):
            raise UsageError(
                f"the SQL memory limit {self.memory_limit!r} is not a size",
                hint="give a number with a unit, e.g. 500MB, 4GB or 25% (of the machine's memory)",
            )
        if self.max_rows is not None and self.max_rows < 0:
            raise UsageError(f"the SQL row limit {self.max_rows} is below 0")


def _is_size(text: str) -> bool:
    match = _SIZE.fullmatch(text)
    if match is None:
        return False
    number = float(match["number"])
    return number > 0 and (match["unit"] != "%" or number <= 100)


def out_of_memory(limit: str | None) -> QueryLimitExceeded:
    """The error of a query DuckDB could not fit in ``limit``."""
    what = f"the {limit} memory limit" if limit else "the memory DuckDB may use"
    return QueryLimitExceeded(
        "memory", limit or "", f"the query needed more than {what} and was stopped"
    )


def timed_out(seconds: float) -> QueryLimitExceeded:
    return QueryLimitExceeded(
        "timeout", seconds, f"the query ran past the {seconds:g} s time limit and was stopped"
    )


class Deadline:
    """``with Deadline(con, seconds):`` interrupts ``con``'s query once ``seconds`` have
    passed (None: never); ``fired`` tells an interruption from a Ctrl-C."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float | None):
        self._con = con
        self._seconds = seconds
        self._timer: threading.Timer | None = None
        self.fired = False

    def _fire(self) -> None:
        self.fired = True
        self._con.interrupt()

    def __enter__(self) -> Deadline:
        if self._seconds is not None:
            self._timer = threading.Timer(self._seconds, self._fire)
            self._timer.daemon = True  # never keeps the process alive
            self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
