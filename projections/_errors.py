"""Errors of the analytics layer, in the one tree of ``eventstore``'s ``ScenarioLabError``."""

from __future__ import annotations

from eventstore import ScenarioLabError


class AnalyticsError(ScenarioLabError):
    """The analytics file cannot be used: not a DuckDB file, locked, or unwritable."""

    code = "analytics-unavailable"
    category = "unavailable"


class QueryError(ScenarioLabError):
    """DuckDB rejected a query: a syntax error, an unknown table or column, ..."""

    code = "query-invalid"
    category = "invalid"


class QueryLimitExceeded(QueryError):
    """A query of SQL a person wrote went past one of its ``QueryLimits``: ``limit`` is
    ``"timeout"`` (``value``: seconds) or ``"memory"`` (``value``: the DuckDB size given).
    DuckDB stopped it; the analytics file is as it was."""

    code = "query-limit-exceeded"
    category = "invalid"

    def __init__(self, limit: str, value: float | str, message: str):
        # the hint names the request field that raises this limit; front ends spell it
        field = "timeout_s" if limit == "timeout" else "memory_limit"
        super().__init__(message, hint=f"raise it with {{{field}}}", field=field, values={})
        self.limit = limit
        self.value = value
