"""The browser app (``web/``, built into ``server/webapp``) served by the API's process.

The pages are one HTML shell: every page path returns it and the app routes in the
browser, reading everything through ``/api/v1`` with the visitor's own credentials, so
the shell and its assets are public and hold no data. A content security policy keeps
the app to this server: nothing loads from a CDN or anywhere else.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from server.deps import allow
from server.permissions import Rule
from server.problems import Problem

router = APIRouter(include_in_schema=False, dependencies=[allow(Rule.PUBLIC)])

WEBAPP = Path(__file__).resolve().parent / "webapp"

# The app's own pages (web/src/main.tsx): each serves the shell. Unknown paths stay 404s.
PAGES = (
    "/",
    "/login",
    "/runs",
    "/runs/{run_id}",
    "/join/{run_id}",
    "/scenarios",
    "/scenarios/{name}",
    "/compare",
    "/batches/{batch_id}",
    "/sql",
    "/editor",
)

# styles: CodeMirror and uPlot add <style> elements and style attributes at run time
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NOT_BUILT = (
    "<!doctype html><meta charset=utf-8><title>scenario-lab</title>"
    "<p>The browser app is not built. From a source checkout run <code>make web</code> "
    "(<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>), then restart "
    "<code>scenario-lab serve</code>. The API works without it: <a href=/api/docs>/api/docs</a>."
)


def _shell() -> HTMLResponse:
    index = WEBAPP / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers=_HEADERS)
    return HTMLResponse(index.read_text("utf-8"), headers={**_HEADERS, "Cache-Control": "no-cache"})


for _page in PAGES:
    router.add_api_route(_page, _shell, methods=["GET"], response_class=HTMLResponse)


@router.get("/assets/{name}")
def asset(name: str) -> Response:
    """A built asset; names carry a content hash, so they may be cached for good."""
    folder = WEBAPP / "assets"
    # only a plain file name of the build's folder: no path, no dot-file
    if "/" in name or "\\" in name or name.startswith(".") or not (folder / name).is_file():
        raise Problem(404, "Not Found", f"no asset {name!r}")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(
        (folder / name).read_bytes(),
        media_type=media,
        headers={**_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"},
    )
