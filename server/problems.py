"""Every error response: RFC 9457 problem+json, from this one module.

The library's error tree maps to HTTP statuses in one table (by class, most specific
first), as the CLI maps it to exit codes; the detail is the CLI's one line. Anything
unexpected becomes a bare 500 whose body says nothing of the cause: the traceback goes
to the server's log, never to the client, and neither does a file path or a secret.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scenario_lab.app import CATEGORY_STATUS, ScenarioLabError, StoreError, error_info

log = logging.getLogger("scenario_lab.server")
MEDIA_TYPE = "application/problem+json"

# the title of each error category (its status is ``CATEGORY_STATUS``'s)
CATEGORY_TITLE = {
    "usage": "Bad request",
    "invalid": "Invalid request",
    "not-found": "Not found",
    "conflict": "Conflict",
    "budget": "Budget exceeded",
    "unavailable": "Unavailable",
    "integrity": "Log integrity broken",
    "internal": "Scenario-lab error",
}
# errors whose message names a file of the server's: their detail stays generic
_PRIVATE_DETAIL = (StoreError,)
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+[\w.@+-]*")


class Problem(Exception):
    """An HTTP error raised by the server's own code (auth, limits, bad parameters)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(
    status: int,
    title: str,
    detail: str = "",
    *,
    headers: Mapping[str, str] | None = None,
    type_: str = "about:blank",
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; ``detail`` is scrubbed of absolute paths.

    ``about:blank`` (the title is the HTTP status phrase) unless the problem has a type
    of its own: a library error's is ``urn:scenario-lab:error:<code>``.
    """
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = _ABSOLUTE_PATH.sub("<path>", detail)
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=MEDIA_TYPE
    )


def for_error(e: ScenarioLabError) -> JSONResponse:
    """The response for a library error: status by its category, the CLI's line (the
    message and, in parentheses, the fix), its code and what it is about."""
    info = error_info(e)
    status = CATEGORY_STATUS.get(info.category, 500)
    title = CATEGORY_TITLE.get(info.category, "Scenario-lab error")
    if isinstance(e, _PRIVATE_DETAIL):
        detail = title
    else:
        detail = f"{info.message} ({info.hint})" if info.hint else info.message
    if status >= 500:
        log.error("%s: %s", type(e).__name__, info.message)
    return problem_response(
        status,
        title,
        detail,
        type_=f"urn:scenario-lab:error:{info.code}",
        code=info.code,
        run_id=info.run_id,
        turn=info.turn,
        field=info.field,
        problems=list(info.problems) or None,
    )


async def _answer(conn: HTTPConnection, response: JSONResponse) -> JSONResponse | None:
    """The response of an HTTP request; a WebSocket refused before its handshake gets
    the same problem as an HTTP answer where the server can send one, else a close."""
    if not isinstance(conn, WebSocket):
        return response
    if "websocket.http.response" in conn.scope.get("extensions", {}):
        await conn.send_denial_response(response)
    else:
        await conn.close(code=1008, reason=f"HTTP {response.status_code}")
    return None


async def _on_library_error(conn: HTTPConnection, e: Exception) -> JSONResponse | None:
    assert isinstance(e, ScenarioLabError)
    return await _answer(conn, for_error(e))


async def _on_problem(conn: HTTPConnection, e: Exception) -> JSONResponse | None:
    assert isinstance(e, Problem)
    response = problem_response(e.status, e.title, e.detail, headers=e.headers, **e.extra)
    return await _answer(conn, response)


async def _on_http(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, StarletteHTTPException)
    title = HTTPStatus(e.status_code).phrase
    detail = e.detail if isinstance(e.detail, str) and e.detail != title else ""
    return problem_response(e.status_code, title, detail, headers=e.headers)


async def _on_integrity(request: Request, e: Exception) -> JSONResponse:
    # a UNIQUE or foreign key the database refused: the request raced another that
    # changed the same thing first (two answers, two names...); what it wanted to change
    # is as the other left it, so the client reads again and decides, as for any conflict
    log.warning("a write conflicted with another on %s: %s", request.url.path, type(e).__name__)
    return problem_response(
        409,
        "Conflict",
        "another request changed the same thing first (read it again, then retry)",
        type_="urn:scenario-lab:error:concurrency-conflict",
        code="concurrency-conflict",
    )


async def _on_validation(request: Request, e: Exception) -> JSONResponse:
    assert isinstance(e, RequestValidationError)
    # only where and what: pydantic's `input` would echo the request (a password...)
    errors = [
        {"loc": ".".join(str(p) for p in err.get("loc", ())), "msg": str(err.get("msg", ""))}
        for err in e.errors()
    ]
    first = errors[0] if errors else {"loc": "", "msg": "invalid request"}
    detail = f"{first['loc']}: {first['msg']}" if first["loc"] else first["msg"]
    return problem_response(422, HTTPStatus(422).phrase, detail, errors=errors)


class CatchAll:
    """ASGI middleware answering any unexpected exception with a bare 500 problem.

    Starlette's own last-resort handler re-raises after answering, and uvicorn then
    drops the keep-alive connection under the client's next request; this one logs the
    traceback and ends the exchange cleanly.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] in ("http.response.start", "websocket.accept")
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error on %s", scope.get("path"))
            if scope["type"] != "http" or started:
                raise
            response = problem_response(
                500, "Internal Server Error", "an unexpected error; see the server log"
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers: the only place errors become responses."""
    # these two answer WebSockets too, hence a connection rather than a Request
    app.add_exception_handler(ScenarioLabError, _on_library_error)  # type: ignore[arg-type]
    app.add_exception_handler(Problem, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(sqlite3.IntegrityError, _on_integrity)
    app.add_exception_handler(sa_exc.IntegrityError, _on_integrity)
    app.add_middleware(CatchAll)
