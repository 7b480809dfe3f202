"""Signing in and out with a server-side session cookie, and ``me``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from server.deps import OPEN, SESSION_COOKIE, allow, authenticate, services
from server.permissions import Principal, Rule
from server.problems import Problem

router = APIRouter(prefix="/api/v1", tags=["session"])


class Login(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


def _describe(who: Principal) -> dict[str, Any]:
    return {
        "kind": who.kind,
        "name": who.name,
        "role": who.role,
        "run_id": who.run_id,
        "actor": who.actor,
        "csrf_token": who.csrf_token,
    }


@router.post("/session", dependencies=[allow(Rule.PUBLIC)])
def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
    """Sign in with name and password: sets the session cookie, returns the CSRF token
    that cookie-authenticated writes must send in ``X-CSRF-Token``."""
    svc = services(request)
    if not svc.settings.accounts:
        raise Problem(400, "Bad Request", "this server runs open on loopback: no sign-in needed")
    client = request.client.host if request.client else "?"
    # guessing passwords is limited per name and per address alike
    for who in (f"login-name:{body.name}", f"login-addr:{client}"):
        svc.limits.hit(who, svc.settings.login_attempts_per_min)
    user = svc.accounts.authenticate(body.name, body.password)
    if user is None:
        raise Problem(401, "Unauthorized", "wrong name or password")
    session_id, session = svc.accounts.create_session(user, svc.settings.session_ttl)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(svc.settings.session_ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return {
        "kind": "user",
        "name": user.name,
        "role": user.role,
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at,
    }


@router.get("/session", dependencies=[allow(Rule.PUBLIC)])
def session_state(request: Request) -> dict[str, Any]:
    """Whether the request is signed in and as whom (``me``'s fields), 200 either way:
    the browser app asks before it shows its login page, with no failed request."""
    try:
        who = authenticate(request, services(request))
    except Problem:  # an expired session or a revoked key: not signed in
        who = None
    if who is None:
        return {"signed_in": False}
    return {**_describe(who), "open": who is OPEN, "signed_in": True}


@router.delete("/session", status_code=204)
def logout(
    request: Request, response: Response, who: Annotated[Principal, allow(Rule.SIGNED_IN)]
) -> None:
    """Sign out: the session is revoked on the server, the cookie cleared."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if who.kind == "user" and cookie:
        services(request).accounts.revoke_session(cookie)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


@router.get("/me")
def me(who: Annotated[Principal, allow(Rule.SIGNED_IN)]) -> dict[str, Any]:
    """Who the request is authenticated as (and its CSRF token, for a cookie session)."""
    out = _describe(who)
    out["open"] = who is OPEN
    return out
