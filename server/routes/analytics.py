"""Analysis across runs: read-only SQL with limits, comparisons, batch statistics.

Each call first brings the analytics file (DuckDB) up to date with the log; one
catch-up at a time, since they write that file.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from scenario_lab.app import SqlRequest
from server.deps import allow, services
from server.permissions import Rule
from server.problems import Problem
from server.render import json_response

router = APIRouter(prefix="/api/v1", tags=["analytics"])
analytics_lock = threading.Lock()

# the server's ceilings: a client may ask for less, never for more
MAX_TIMEOUT_S = 30.0
MAX_ROWS = 10_000
MEMORY_LIMIT = "512MB"


class SqlBody(BaseModel):
    statement: str = Field(max_length=100_000, description="One read-only DuckDB statement.")
    timeout_s: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S)
    max_rows: int = Field(default=1000, ge=1, le=MAX_ROWS)


@router.post("/sql", dependencies=[allow(Rule.ANALYST)])
def sql(body: SqlBody, request: Request) -> Response:
    """One read-only statement over the analytics tables (``GET sql/schema`` lists them),
    with a time limit, a memory limit and a row cap (``truncated`` says it was hit)."""
    lab = services(request).lab
    req = SqlRequest(
        statement=body.statement,
        timeout_s=body.timeout_s,
        memory_limit=MEMORY_LIMIT,
        max_rows=body.max_rows,
    )
    with analytics_lock:
        result = lab.sql(req)
    return json_response(result)


@router.get("/sql/schema", dependencies=[allow(Rule.ANALYST)])
def sql_schema(request: Request) -> Response:
    """The analytics tables and columns, with what each holds."""
    return json_response(services(request).lab.sql(SqlRequest(schema=True)))


@router.get("/compare", dependencies=[allow(Rule.ANALYST)])
def compare(
    request: Request,
    runs: Annotated[str, Query(description="Two or more run ids, comma-separated.")],
) -> Response:
    """Runs side by side, as ``compare --json``: shared turns, what each branch changed,
    the first diverging decisions, metrics and costs."""
    refs = tuple(r.strip() for r in runs.split(",") if r.strip())
    if len(refs) < 2:
        raise Problem(400, "Bad Request", "compare needs two or more runs: ?runs=A,B")
    with analytics_lock:
        return json_response(services(request).lab.compare(refs))


# name -> the analytics view it reads (see `GET sql/schema` for their columns)
_STATISTICS = {"metrics": "metric_stats", "final-metrics": "final_metrics", "costs": "cost_by_run"}


@router.get("/statistics/{kind}", dependencies=[allow(Rule.ANALYST)])
def statistics(request: Request, kind: str) -> Response:
    """Aggregates across runs: ``metrics`` (mean, stddev, min, max of final metric
    values per scenario and per varied setting), ``final-metrics`` (each run's last
    values) or ``costs`` (per run)."""
    view = _STATISTICS.get(kind)
    if view is None:
        raise Problem(
            404, "Not Found", f"no statistics {kind!r} (choose: {', '.join(_STATISTICS)})"
        )
    req = SqlRequest(statement=f"SELECT * FROM {view}", max_rows=MAX_ROWS)
    with analytics_lock:
        return json_response(services(request).lab.sql(req))
