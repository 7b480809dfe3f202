"""Authentication and permission as FastAPI dependencies (as the full-stack template's
``deps.py``): a route names its rule with ``allow(Rule.X)`` and receives the principal.

Credentials, in order: ``Authorization: Bearer`` with an API key (``sl_...``) or a seat
token (``st_...``), then the session cookie. A WebSocket, which a browser cannot give
headers, may pass the same bearer value as ``?access_token=``. Cookie-authenticated
writes must carry the session's CSRF token in ``X-CSRF-Token``; cookie-authenticated
WebSockets must come from the server's own origin. Bearer requests need neither: a
browser never adds that header by itself.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends
from starlette.requests import HTTPConnection

from scenario_lab.app import STAFF, Lab, Seat, Viewer
from server.accounts import Accounts
from server.permissions import Principal, Rule, permits
from server.problems import Problem
from server.ratelimit import RateLimits
from server.runner import Runner
from server.settings import Settings
from server.stream import Hub

SESSION_COOKIE = "scenario_lab_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
OPEN = Principal(kind="open", name="local", role="admin")


@dataclass
class Services:
    """What the routes share, built once by ``create_app``."""

    settings: Settings
    accounts: Accounts
    lab: Lab
    hub: Hub
    limits: RateLimits
    runner: Runner


def services(conn: HTTPConnection) -> Services:
    return conn.app.state.services  # type: ignore[no-any-return]


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Problem(401, "Unauthorized", "use `Authorization: Bearer KEY`")
        return value.strip()
    if conn.scope["type"] == "websocket":
        return conn.query_params.get("access_token")
    return None


def _seat_principal(svc: Services, token: str) -> Principal:
    seat = svc.accounts.check_seat_token(token)
    if seat is None:
        raise Problem(401, "Unauthorized", "the key or token is unknown or revoked")
    return Principal(
        kind="seat",
        name=seat.token_id,
        role="player",
        run_id=seat.run_id,
        actor=seat.actor,
        rate_per_min=svc.settings.user_rate_per_min,
    )


def authenticate(conn: HTTPConnection, svc: Services) -> Principal | None:
    """The principal the request's credentials name; None without any; 401 for bad ones."""
    if not svc.settings.accounts:
        # open, every request acts as an admin; but a seat's link narrows what its
        # holder sees (a player on this machine keeps to the fog of war)
        try:
            token = _bearer(conn)
        except Problem:  # whatever else a client sends is ignored, as before
            return OPEN
        if token is not None and token.startswith("st_"):
            return _seat_principal(svc, token)  # a revoked link is refused, not widened
        return OPEN
    token = _bearer(conn)
    if token is not None:
        if token.startswith("st_"):
            return _seat_principal(svc, token)
        else:
            key = svc.accounts.check_key(token)
            if key is not None:
                return Principal(
                    kind="key",
                    name=key.name,
                    role=key.role,  # type: ignore[arg-type]
                    rate_per_min=key.rate_per_min,
                )
        raise Problem(401, "Unauthorized", "the key or token is unknown or revoked")
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        session = svc.accounts.session(cookie)
        if session is None:
            raise Problem(401, "Unauthorized", "the session expired or was closed; sign in again")
        return Principal(
            kind="user",
            name=session.user.name,
            role=session.user.role,  # type: ignore[arg-type]
            rate_per_min=svc.settings.user_rate_per_min,
            csrf_token=session.csrf_token,
        )
    return None


def _check_csrf(conn: HTTPConnection, who: Principal) -> None:
    if not who.by_cookie:
        return
    if conn.scope["type"] == "websocket":
        origin = conn.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != conn.headers.get("host"):
            raise Problem(403, "Forbidden", "a cookie-authenticated WebSocket from another origin")
        return
    if conn.scope.get("method", "GET") in _SAFE_METHODS:
        return
    sent = conn.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), (who.csrf_token or "").encode()):
        raise Problem(
            403,
            "Forbidden",
            f"a cookie-authenticated write needs the {CSRF_HEADER} header "
            "(its value comes from POST /api/v1/session or GET /api/v1/me)",
        )


class Guard:
    """The dependency of one rule: authenticate, decide, check CSRF, count the rate."""

    def __init__(self, rule: Rule):
        self.rule = rule

    def __call__(self, conn: HTTPConnection) -> Principal | None:
        if self.rule is Rule.PUBLIC:
            return None
        return self._check(conn)

    def _check(self, conn: HTTPConnection) -> Principal:
        svc = services(conn)
        who = authenticate(conn, svc)
        if not permits(who, self.rule, conn.path_params.get("run_id")):
            if who is None:
                raise Problem(
                    401,
                    "Unauthorized",
                    "sign in (POST /api/v1/session) or send `Authorization: Bearer KEY`",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            raise Problem(403, "Forbidden", f"this needs the {self.rule.value} permission")
        assert who is not None
        _check_csrf(conn, who)
        if who.kind != "open":
            svc.limits.hit(f"{who.kind}:{who.name}", who.rate_per_min)
        return who

    def __repr__(self) -> str:
        return f"allow({self.rule.value})"


def allow(rule: Rule) -> Any:
    """The dependency a route declares its rule with; it returns the principal."""
    return Depends(Guard(rule))


def route_rule(route: Any) -> Rule | None:
    """The rule a route declared with :func:`allow`, found in its dependencies."""
    dependant = getattr(route, "dependant", None)
    stack = list(dependant.dependencies) if dependant else []
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Guard):
            return dep.call.rule
        stack.extend(dep.dependencies)
    return None


def viewer_of(who: Principal) -> Viewer:
    """The fog-of-war viewer of a principal: a player sees as its seat, others see all."""
    if who.role == "player":
        assert who.actor is not None
        return Seat(who.actor)
    return STAFF
