"""Reading runs: the listing, one run, its state, events, audit, verify and report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from server.deps import allow, services, viewer_of
from server.permissions import Principal, Rule

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

Status = Literal["running", "halted", "interrupted", "completed", "failed"]


@router.get("", dependencies=[allow(Rule.ANALYST)])
def list_runs(
    request: Request,
    status: Status | None = None,
    scenario: str | None = None,
    batch: str | None = None,
    parent: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Runs, newest first, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    return services(request).lab.list_runs(
        status=status, scenario=scenario, batch=batch, parent=parent, cursor=cursor, limit=limit
    )


@router.get("/{run_id}", dependencies=[allow(Rule.ANALYST)])
def get_run(request: Request, run_id: str) -> dict[str, Any]:
    """Status, turn, cost, lineage and the human seats the run waits for."""
    return services(request).lab.run(run_id)


@router.get("/{run_id}/state", dependencies=[allow(Rule.ANALYST)])
def get_state(
    request: Request, run_id: str, turn: Annotated[int | None, Query()] = None
) -> dict[str, Any]:
    """The folded state at the end of ``turn`` (default: the latest)."""
    return services(request).lab.state(run_id, turn)


@router.get("/{run_id}/events")
def get_events(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.RUN_VIEWER)],
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    """Events after log position ``after`` as ``log --json`` lines (a seat: only what
    it may see); ask again with ``after=next_after`` for the next page."""
    return services(request).lab.events(run_id, viewer_of(who), after=after, limit=limit)


@router.get("/{run_id}/audit", dependencies=[allow(Rule.ANALYST)])
def get_audit(request: Request, run_id: str) -> list[dict[str, Any]]:
    """Every decision with its prompt, raw answer, parse, attempts, tokens and cost."""
    return services(request).lab.audit(run_id)


@router.get("/{run_id}/verify", dependencies=[allow(Rule.ANALYST)])
def get_verify(request: Request, run_id: str) -> dict[str, Any]:
    """The run's hash chain recomputed: ok, or the first changed event."""
    return services(request).lab.verify(run_id)


@router.get(
    "/{run_id}/report",
    dependencies=[allow(Rule.ANALYST)],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}},
)
def get_report(request: Request, run_id: str) -> PlainTextResponse:
    """The run's markdown report (from the analytics file, brought up to date first)."""
    text = services(request).lab.report(run_id)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
