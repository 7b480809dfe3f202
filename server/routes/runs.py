"""Reading runs: the listing, one run, its state, events, audit, verify and report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from scenario_lab.app import AuditQuery, ListRuns, after_action_markdown, state_document
from server.deps import allow, services, viewer_of
from server.permissions import Principal, Rule
from server.render import json_response

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

Status = Literal["running", "not_started", "interrupted", "halted", "completed", "failed"]
Format = Literal["json", "markdown"]


def run_json(detail: Any) -> dict[str, Any]:
    """A run's detail as the API shows it: the listing's fields, then where it stands."""
    out: dict[str, Any] = msgspec.to_builtins(detail.summary)
    out.update(
        turn=detail.turn,
        turns=detail.turns,
        lineage=msgspec.to_builtins(detail.lineage),
        children=msgspec.to_builtins(detail.children),
        seats_pending=msgspec.to_builtins(detail.seats_pending),
    )
    return out


@router.get("", dependencies=[allow(Rule.ANALYST)])
def list_runs(
    request: Request,
    status: Status | None = None,
    scenario: str | None = None,
    batch: str | None = None,
    parent: str | None = None,
    tag: Annotated[list[str] | None, Query(description="Only runs with every tag.")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Runs, newest first, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    query = ListRuns(
        status=status,
        scenario=scenario,
        batch=batch,
        parent=parent,
        tags=tuple(tag or ()),
        cursor=cursor,
        limit=limit,
    )
    listed = services(request).lab.list_runs(query)
    return json_response({"runs": listed.runs, "next_cursor": listed.next_cursor})


@router.get("/{run_id}", dependencies=[allow(Rule.ANALYST)])
def get_run(request: Request, run_id: str) -> Response:
    """Status, turn, cost, lineage and the human seats the run waits for."""
    return json_response(run_json(services(request).lab.run(run_id)))


@router.get("/{run_id}/state", dependencies=[allow(Rule.ANALYST)])
def get_state(
    request: Request, run_id: str, turn: Annotated[int | None, Query()] = None
) -> Response:
    """The folded state at the end of ``turn`` (default: the latest), as ``replay --json``."""
    return json_response(state_document(services(request).lab.state(run_id, turn)))


@router.get("/{run_id}/events")
def get_events(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.RUN_VIEWER)],
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> Response:
    """Events after log position ``after`` as ``log --json`` lines (a seat: only what
    it may see); ask again with ``after=next_after`` for the next page."""
    page = services(request).lab.visible_page(run_id, viewer_of(who), after=after, limit=limit)
    # a dict, not the page's struct: a struct is written with every key sorted, and each
    # line must be written as `log --json` writes it (and the stream sends it)
    return json_response({"events": page.events, "next_after": page.next_after})


@router.get("/{run_id}/audit", dependencies=[allow(Rule.ANALYST)])
def get_audit(request: Request, run_id: str) -> Response:
    """Every model call with its prompt, raw answers, parse, attempts, tokens and cost."""
    return json_response(services(request).lab.audit_trail(AuditQuery(run=run_id)))


@router.get("/{run_id}/verify", dependencies=[allow(Rule.ANALYST)])
def get_verify(request: Request, run_id: str) -> Response:
    """The run's hash chain recomputed: ok, or the first changed event."""
    return json_response(services(request).lab.verify(run_id).results[0])


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


@router.get(
    "/{run_id}/after-action",
    dependencies=[allow(Rule.ANALYST)],
    responses={200: {"content": {"application/json": {}, "text/markdown": {}}}},
)
def get_after_action(request: Request, run_id: str, format: Format = "json") -> Response:
    """The hotwash: key decisions per actor, turning points where metrics moved most,
    injects and what moved when they landed, failed validation checks, cost. JSON, or
    markdown with ``?format=markdown``."""
    review = services(request).lab.after_action(run_id)
    if format == "markdown":
        return PlainTextResponse(
            after_action_markdown(review), media_type="text/markdown; charset=utf-8"
        )
    return json_response(review)
