"""``GET /healthz``: the process is up and can read the log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.deps import allow
from server.permissions import Rule

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[allow(Rule.PUBLIC)])
def healthz() -> dict[str, Any]:
    """Liveness: no authentication, no data."""
    return {"status": "ok"}
