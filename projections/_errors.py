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
