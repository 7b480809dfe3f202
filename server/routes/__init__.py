"""The API's routes, one module per resource; each route declares its rule with
``allow(Rule.X)`` and stays a few lines over ``scenario_lab.app``."""

from server.routes import (
    analytics,
    batches,
    control,
    docs,
    health,
    runs,
    scenarios,
    seat,
    session,
    streams,
)

ROUTERS = (
    health.router,
    docs.router,
    session.router,
    runs.router,
    control.router,
    analytics.router,
    batches.router,
    streams.router,
    scenarios.router,
    seat.router,
)

__all__ = ["ROUTERS"]
