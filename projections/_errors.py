"""Errors of the analytics layer, in the one tree of ``eventstore``'s ``ScenarioLabError``."""

from __future__ import annotations

from eventstore import ScenarioLabError


class AnalyticsError(ScenarioLabError):
    """The analytics file cannot be used: not a DuckDB file, locked, or unwritable."""


class QueryError(ScenarioLabError):
    """DuckDB rejected a query: a syntax error, an unknown table or column, ..."""


class QueryLimitExceeded(QueryError):
    """A query of SQL a person wrote went past one of its ``QueryLimits``: ``limit`` is
    ``"timeout"`` (``value``: seconds) or ``"memory"`` (``value``: the DuckDB size given).
    DuckDB stopped it; the analytics file is as it was."""

    def __init__(self, limit: str, value: float | str, message: str):
        super().__init__(message)
        self.limit = limit
        self.value = value
