"""Sign-in, sessions, keys, CSRF, rate limits, body caps and problem+json, against a
real uvicorn on a loopback port."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.visibility import Staff
from eventstore import StoreError
from server import create_app
from server.accounts import Accounts
from server.deps import allow
from server.permissions import Rule
from tests.server_helpers import PASSWORD, World, assert_problem, bearer, live, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("auth"))


def test_healthz_needs_no_credentials_and_the_api_does(world: World) -> None:
    with live(world.settings) as srv, srv.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        body = assert_problem(c.get("/api/v1/runs"), 401)
        assert "sign in" in body["detail"]
        assert_problem(c.get("/api/v1/runs", headers=bearer("sl_nope_nope")), 401)
        assert_problem(c.get("/api/v1/runs", headers={"Authorization": "Basic abc"}), 401)
        assert c.get("/api/v1/runs", headers=bearer(world.keys["analyst"])).status_code == 200


def test_login_sets_a_hardened_session_cookie_and_logout_revokes_it(world: World) -> None:
    with live(world.settings) as srv, srv.client() as c:
        r = c.post("/api/v1/session", json={"name": "ada", "password": PASSWORD})
        assert r.status_code == 200, r.text
        csrf = r.json()["csrf_token"]
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http on loopback
        me = c.get("/api/v1/me").json()
        assert me["name"] == "ada" and me["role"] == "admin" and me["csrf_token"] == csrf
        stolen = c.cookies.get("scenario_lab_session")
        assert stolen
        # a cookie write without the CSRF header is refused, with it accepted
        assert_problem(c.delete("/api/v1/session"), 403)
        assert c.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    with live(world.settings) as srv, srv.client() as c:
        # the old cookie is dead on the server, not only cleared in the browser
        c.cookies.set("scenario_lab_session", stolen)
        assert "sign in again" in assert_problem(c.get("/api/v1/me"), 401)["detail"]


def test_the_cookie_is_secure_under_https(world: World) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(world.settings), base_url="https://lab.test") as c:
        r = c.post("/api/v1/session", json={"name": "ada", "password": PASSWORD})
        assert "Secure" in r.headers["set-cookie"]


def test_wrong_passwords_and_unknown_names_read_alike(world: World) -> None:
    with live(world.settings) as srv, srv.client() as c:
        a = assert_problem(
            c.post("/api/v1/session", json={"name": "ada", "password": "x" * 9}), 401
        )
        b = assert_problem(
            c.post("/api/v1/session", json={"name": "zed", "password": "x" * 9}), 401
        )
        assert a == b
        assert PASSWORD not in c.post("/api/v1/session", json={"name": "ada"}).text


def test_removing_a_user_revokes_its_sessions(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client() as c:
        c.post("/api/v1/session", json={"name": "fay", "password": PASSWORD})
        assert c.get("/api/v1/me").status_code == 200
        with Accounts.open(w.db) as accounts:
            accounts.remove_user("fay")
        assert_problem(c.get("/api/v1/me"), 401)


def test_revoked_keys_and_seat_tokens_are_refused(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client() as c:
        assert c.get("/api/v1/me", headers=bearer(w.keys["analyst"])).status_code == 200
        with Accounts.open(w.db) as accounts:
            accounts.revoke_key("analyst-key")
            token_id = w.seat.split("_")[1]
            accounts.revoke_seat_token(token_id)
        assert_problem(c.get("/api/v1/me", headers=bearer(w.keys["analyst"])), 401)
        assert_problem(c.get("/api/v1/me", headers=bearer(w.seat)), 401)
        # a key with the right id but a wrong secret part is refused too
        forged = "_".join([*w.keys["admin"].split("_")[:2], "x" * 43])
        assert_problem(c.get("/api/v1/me", headers=bearer(forged)), 401)


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with Accounts.open(w.db) as accounts:
        _k, secret = accounts.create_key("slow", "analyst", 3)
    with live(w.settings) as srv, srv.client(headers=bearer(secret)) as c:
        for _ in range(3):
            assert c.get("/api/v1/me").status_code == 200
        r = c.get("/api/v1/me")
        body = assert_problem(r, 429)
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "3 requests a minute" in body["detail"]
        # other principals are not affected
        assert c.get("/api/v1/me", headers=bearer(w.keys["analyst"])).status_code == 200


def test_password_guessing_is_throttled(tmp_path: Path) -> None:
    w = make_world(tmp_path, login_attempts_per_min=3)
    with live(w.settings) as srv, srv.client() as c:
        for _ in range(3):
            assert_problem(
                c.post("/api/v1/session", json={"name": "ada", "password": "guess1234"}), 401
            )
        r = c.post("/api/v1/session", json={"name": "ada", "password": PASSWORD})
        assert_problem(r, 429)
        assert int(r.headers["Retry-After"]) >= 1


def test_request_bodies_are_capped(tmp_path: Path) -> None:
    w = make_world(tmp_path, max_body_bytes=1000)
    with live(w.settings) as srv, srv.client() as c:
        big = {"name": "ada", "password": "p" * 2000}
        body = assert_problem(c.post("/api/v1/session", json=big), 413)
        assert "1000 bytes" in body["detail"]

        def chunks():  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"x" * 200

        r = c.post(
            "/api/v1/session", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_problem(r, 413)


def test_validation_errors_are_problems_that_echo_no_input(world: World) -> None:
    with live(world.settings) as srv, srv.client(headers=bearer(world.keys["analyst"])) as c:
        body = assert_problem(c.get("/api/v1/runs", params={"limit": "many"}), 422)
        assert body["detail"].startswith("query.limit")
        r = c.post("/api/v1/session", json={"name": "ada", "password": 12345678})
        assert "12345678" not in r.text
        assert_problem(c.get("/api/v1/nothing-here"), 404)


def test_unexpected_errors_leak_no_traceback_path_or_secret(world: World) -> None:
    app = create_app(world.settings)

    def boom() -> None:
        raise RuntimeError(f"cannot read {world.db} with key {world.keys['admin']}")

    def store_down() -> None:
        raise StoreError(f"no log at {world.db}", hint="check /etc/secret-place")

    app.add_api_route("/boom", boom, dependencies=[allow(Rule.PUBLIC)])
    app.add_api_route("/store", store_down, dependencies=[allow(Rule.PUBLIC)])
    with live(world.settings, app) as srv, srv.client() as c:
        for path, status in (("/boom", 500), ("/store", 503)):
            r = c.get(path)
            assert_problem(r, status)
            for leak in ("Traceback", str(world.db), world.keys["admin"], "/etc/", "RuntimeError"):
                assert leak not in r.text, (path, r.text)


def test_a_library_error_reads_as_the_cli_line(world: World) -> None:
    with live(world.settings) as srv, srv.client(headers=bearer(world.keys["analyst"])) as c:
        body = assert_problem(c.get("/api/v1/runs/nope"), 404)
        assert body["code"] == "run-not-found" and body["run_id"] == "nope"
        assert body["type"] == "urn:scenario-lab:error:run-not-found"
        assert body["detail"] == "no run 'nope' in the log (list the runs with `scenario-lab runs`)"


def test_an_open_server_acts_as_admin_without_credentials(world: World) -> None:
    settings = replace(world.settings, accounts=False)
    with live(settings) as srv, srv.client() as c:
        me = c.get("/api/v1/me").json()
        assert me["open"] is True and me["role"] == "admin"
        assert c.get("/api/v1/runs").status_code == 200
        assert_problem(c.post("/api/v1/session", json={"name": "a", "password": "b"}), 400)


def test_staff_viewer_is_the_fog_of_war_default() -> None:
    from server.deps import OPEN, viewer_of

    assert isinstance(viewer_of(OPEN), Staff)
