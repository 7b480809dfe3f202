"""The permission matrix, built from the app's route table: every route x every kind
of principal x the player's own run and another run. A route without a rule, or with a
rule this test does not know, fails it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from server import create_app
from server.app import api_routes
from server.deps import route_rule
from server.permissions import Principal, Rule, permits
from tests.server_helpers import PASSWORD, World, bearer, live, make_world

STAFF = ("admin", "facilitator", "analyst")
# principal -> may it call a route of this rule (own: the run is the player's own)
EXPECTED: dict[Rule, Callable[[str, bool], bool]] = {
    Rule.PUBLIC: lambda who, own: True,
    Rule.SIGNED_IN: lambda who, own: who != "anonymous",
    Rule.ANALYST: lambda who, own: who in STAFF,
    Rule.FACILITATOR: lambda who, own: who in ("admin", "facilitator"),
    Rule.ADMIN: lambda who, own: who == "admin",
    Rule.RUN_VIEWER: lambda who, own: who in STAFF or (who == "player" and own),
    Rule.SEAT: lambda who, own: who in ("admin", "facilitator") or (who == "player" and own),
}
PRINCIPALS = ("anonymous", "admin-cookie", *STAFF, "player")


def test_every_route_declares_a_known_rule(tmp_path: Path) -> None:
    app = create_app(make_world(tmp_path).settings)
    routes = list(api_routes(app))
    assert len(routes) >= 15
    for route in routes:
        rule = route_rule(route)
        assert rule is not None, f"{route.path} has no rule"
        assert rule in EXPECTED, f"{route.path}: rule {rule} is not in the matrix"


def test_an_app_with_a_route_without_a_rule_is_refused(tmp_path: Path) -> None:
    from server.app import check_rules

    app = create_app(make_world(tmp_path).settings)
    app.add_api_route("/api/v1/forgotten", lambda: None)
    with pytest.raises(RuntimeError, match="/api/v1/forgotten declares no rule"):
        check_rules(app)


@pytest.mark.parametrize("rule", list(Rule))
def test_the_permission_function_agrees_with_the_matrix(rule: Rule) -> None:
    for role in (*STAFF, "player"):
        for own in (True, False):
            who = Principal(kind="key", name="k", role=role, run_id="r1" if own else "r2")  # type: ignore[arg-type]
            assert permits(who, rule, "r1") == EXPECTED[rule](role, own), (rule, role, own)
    assert permits(None, rule, "r1") == (rule is Rule.PUBLIC)


def _credentials(world: World, client: httpx.Client, who: str) -> tuple[dict[str, str], str]:
    """Headers for ``who`` and the CSRF token (cookie sessions)."""
    if who == "anonymous":
        return {}, ""
    if who == "admin-cookie":
        r = client.post("/api/v1/session", json={"name": "ada", "password": PASSWORD})
        return {}, r.json()["csrf_token"]
    if who == "player":
        return bearer(world.seat), ""
    return bearer(world.keys[who]), ""


def _call(srv: Any, client: httpx.Client, route: Any, url: str, headers: dict[str, str]) -> int:
    if not hasattr(route, "methods"):  # a WebSocket: the handshake's answer
        ws_url = srv.url.replace("http", "ws", 1) + url
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        extra = {**headers, **({"Cookie": cookie} if cookie else {})}
        try:
            with connect(ws_url, additional_headers=extra, open_timeout=10):
                return 101
        except InvalidStatus as e:
            return e.response.status_code
    method = sorted(route.methods)[0]
    body = {"name": "ada", "password": PASSWORD}
    if route.path == "/api/v1/session" and method == "POST":  # signing in (public): in a
        # client of its own, so the session it opens does not become the credentials of
        # the calls that follow
        with srv.client() as fresh:
            return int(fresh.post(url, headers=headers, json=body).status_code)
    if method == "POST":  # a body no write route accepts: the rule is decided first
        return int(client.post(url, headers=headers, json=body).status_code)
    with client.stream(method, url, headers=headers) as r:
        return r.status_code  # a live stream's status is all it needs to say


def _urls(world: World, path: str) -> list[tuple[str, bool]]:
    """Concrete URLs of a route path: on the player's own run and on another one."""
    path = path.replace("{batch_id}", "nope").replace("{kind}", "metrics")
    if "{run_id}" not in path:
        filled = path.replace("{name}", "swagger-ui.css" if "assets" in path else "strait-crisis")
        return [(filled, False)]
    own = path.replace("{run_id}", world.tabletop) + "?actor=grid-operator"
    other = path.replace("{run_id}", world.strait) + "?actor=eastern-power"
    return [(own, True), (other, False)]


@pytest.mark.slow
def test_the_matrix_of_every_route_principal_and_run(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    app = create_app(world.settings)
    seen: list[tuple[str, str, bool, int]] = []
    with live(world.settings, app) as srv:
        for who in PRINCIPALS:
            with srv.client() as client:
                headers, csrf = _credentials(world, client, who)
                if csrf:
                    headers = {**headers, "X-CSRF-Token": csrf}
                # logging out would end the cookie session the other calls rely on
                routes = sorted(
                    api_routes(app), key=lambda r: "DELETE" in getattr(r, "methods", ())
                )
                for route in routes:
                    rule = route_rule(route)
                    assert rule is not None
                    role = "admin" if who == "admin-cookie" else who
                    for url, own in _urls(world, route.path):
                        status = _call(srv, client, route, url, headers)
                        seen.append((route.path, who, own, status))
                        allowed = EXPECTED[rule](role, own)
                        if allowed:
                            assert status not in (401, 403), (route.path, who, own, status)
                            assert status < 500, (route.path, who, own, status)
                        else:
                            assert status == (401 if who == "anonymous" else 403), (
                                route.path,
                                who,
                                own,
                                status,
                            )
    assert len(seen) >= len(PRINCIPALS) * 15
