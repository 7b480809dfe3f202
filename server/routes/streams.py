"""Live events of a run: Server-Sent Events and the same over a WebSocket.

Each message is one event as ``log --json`` prints it (filtered for the viewer), with
its log position as id; a client that reconnects with ``Last-Event-ID`` (SSE) or
``?after=`` (both) gets exactly what it missed. ``end`` follows a completed or failed
run's last event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.websockets import WebSocketState

from server.deps import allow, services, viewer_of
from server.permissions import Principal, Rule
from server.problems import Problem

router = APIRouter(prefix="/api/v1/runs", tags=["streams"])


def _resume_from(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is None:
        return after or 0
    if not last_event_id.strip().isdigit():
        raise Problem(400, "Bad Request", "Last-Event-ID must be a log position (a number)")
    return int(last_event_id)


@router.get("/{run_id}/stream", response_class=EventSourceResponse)
async def stream(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.RUN_VIEWER)],
    after: Annotated[int | None, Query(ge=0)] = None,
) -> EventSourceResponse:
    """SSE: ``id`` = log position, ``event`` = event type, ``data`` = the JSON line;
    heartbeats as comments; ``event: end`` after a completed or failed run."""
    svc = services(request)
    start = _resume_from(request.headers.get("last-event-id"), after)
    await anyio.to_thread.run_sync(svc.lab.summary, run_id)
    viewer = viewer_of(who)

    async def messages() -> AsyncIterator[ServerSentEvent | bytes]:
        async for m in svc.hub.follow(run_id, viewer, start):
            if m.kind == "end":
                yield ServerSentEvent(data="", event="end")
                return
            yield m.sse  # encoded once for every subscriber

    return EventSourceResponse(
        messages(),
        ping=svc.settings.heartbeat_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.websocket("/{run_id}/ws")
async def websocket(
    ws: WebSocket,
    run_id: str,
    who: Annotated[Principal, allow(Rule.RUN_VIEWER)],
    after: Annotated[int | None, Query(ge=0)] = None,
) -> None:
    """The stream over a WebSocket: JSON messages ``{"id", "event", "data"}`` where
    ``data`` is the event's JSON line, ``{"event": "heartbeat"}`` when idle and
    ``{"event": "end"}`` after a completed or failed run."""
    svc = services(ws)
    await anyio.to_thread.run_sync(svc.lab.summary, run_id)  # a 404 before the handshake
    await ws.accept()
    follow = svc.hub.follow(run_id, viewer_of(who), after or 0, heartbeat=svc.settings.heartbeat_s)
    try:
        async for m in follow:
            await ws.send_text(m.ws or json.dumps({"event": m.kind}))
            if m.kind == "end":
                break
    except WebSocketDisconnect:
        return
    finally:
        await follow.aclose()
    if ws.application_state == WebSocketState.CONNECTED:
        await ws.close()
