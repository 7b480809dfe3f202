"""Typed results as JSON responses: every JSON the server sends is canonical (the same
bytes the CLI's ``--json`` prints for the same value)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from scenario_lab.app import canonical_json


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``value`` (builtins or msgspec Structs) as an ``application/json`` response."""
    return Response(
        canonical_json(value).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
