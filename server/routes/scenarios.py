"""The scenarios the server offers: bundled ones and each ``--scenarios DIR``'s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from server.deps import allow, services
from server.permissions import Rule

router = APIRouter(prefix="/api/v1/scenarios", tags=["scenarios"])


@router.get("", dependencies=[allow(Rule.ANALYST)])
def list_scenarios(request: Request) -> list[dict[str, Any]]:
    """Every offered scenario by folder name, with its actors and turns (or problems)."""
    return services(request).lab.scenarios()


@router.get("/{name}", dependencies=[allow(Rule.ANALYST)])
def get_scenario(request: Request, name: str) -> dict[str, Any]:
    """One scenario resolved: every file's content, as a run would record it."""
    return services(request).lab.scenario(name)
