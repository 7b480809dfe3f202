"""A human seat's view of its run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from server.deps import allow, services
from server.permissions import Principal, Rule
from server.problems import Problem

router = APIRouter(prefix="/api/v1/runs", tags=["seats"])


@router.get("/{run_id}/seat")
def get_seat(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.SEAT)],
    actor: Annotated[str | None, Query(description="The seat (a facilitator's choice).")] = None,
) -> dict[str, Any]:
    """What the seat's player is shown: briefing, what it may see of the run, what was
    said to it, and the question it is asked, in words."""
    if who.role == "player":
        if actor not in (None, who.actor):
            raise Problem(403, "Forbidden", "a seat token shows its own seat only")
        actor = who.actor
    if actor is None:
        raise Problem(400, "Bad Request", "name the seat with ?actor=NAME")
    return services(request).lab.seat(run_id, actor)
