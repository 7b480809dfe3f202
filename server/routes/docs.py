"""The OpenAPI schema and its docs page, served entirely from this server.

FastAPI's own docs page loads Swagger UI from a CDN; here its files come from the
``swagger-ui-bundle`` package, so the page works offline and loads nothing from outside.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from server.deps import allow
from server.permissions import Rule
from server.problems import Problem

router = APIRouter(tags=["docs"])
OPENAPI_URL = "/api/v1/openapi.json"
ASSETS = "/api/docs/assets"
# the only files the page needs: nothing else of the package is served
_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


@router.get(OPENAPI_URL, include_in_schema=False, dependencies=[allow(Rule.PUBLIC)])
def openapi(request: Request) -> dict[str, Any]:
    return request.app.openapi()  # type: ignore[no-any-return]


@router.get("/api/docs", include_in_schema=False, dependencies=[allow(Rule.PUBLIC)])
def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title="scenario-lab API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        # Swagger UI would fetch a validity badge from its public validator otherwise
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(f"{ASSETS}/{{name}}", include_in_schema=False, dependencies=[allow(Rule.PUBLIC)])
def asset(name: str) -> Response:
    if name not in _FILES:
        raise Problem(404, "Not Found")
    path = swagger_ui_path / name
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(
        path.read_bytes(), media_type=media, headers={"Cache-Control": "public, max-age=86400"}
    )
