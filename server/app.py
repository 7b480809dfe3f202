"""The ASGI app: ``create_app(settings)`` wires accounts, the adapter, the stream hub,
rate limits, the body cap, error handling and the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute

from scenario_lab.app import Lab
from server import problems
from server.accounts import Accounts
from server.bodylimit import BodyLimit
from server.deps import Services, route_rule
from server.ratelimit import RateLimits
from server.routes import ROUTERS
from server.runner import Runner
from server.settings import Settings
from server.stream import Hub
from server.web import router as web_router


def create_app(settings: Settings) -> FastAPI:
    """A FastAPI app serving the log at ``settings.db``."""
    accounts = Accounts.open(settings.db)
    lab = Lab(settings.lab_settings())
    hub = Hub(lab, poll_interval=settings.poll_interval_s, queue_size=settings.subscriber_queue)
    runner = Runner(lab, poll_interval=max(settings.poll_interval_s, 0.1))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runner.watch_halted()
        try:
            yield
        finally:
            await runner.close()
            await hub.close()
            accounts.close()

    app = FastAPI(
        title="scenario-lab",
        version="1",
        summary="Runs, events, live streams and seats of a scenario-lab log.",
        # served by routes of our own (server/routes/docs.py): with a rule, and offline
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = Services(
        settings=settings,
        accounts=accounts,
        lab=lab,
        hub=hub,
        limits=RateLimits(),
        runner=runner,
    )
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(web_router)  # the browser app's pages and assets (server/web.py)
    check_rules(app)
    return app


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every route of the app, routers included by ``include_router`` flattened."""
    stack = list(app.routes)
    while stack:
        route = stack.pop(0)
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x nests them
        if included is not None:
            stack[:0] = list(included.routes)
        else:
            yield route


def check_rules(app: FastAPI) -> None:
    """Refuse an app with a route that declares no permission rule."""
    for route in api_routes(app):
        if not isinstance(route, APIRoute | APIWebSocketRoute):
            raise RuntimeError(f"route {route!r} is not an API route with a rule")
        if route_rule(route) is None:
            raise RuntimeError(f"route {route.path} declares no rule: add allow(Rule.X)")
