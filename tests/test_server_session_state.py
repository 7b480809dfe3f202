"""``GET /api/v1/session`` against a real uvicorn: whether a request is signed in, 200
either way (the browser app asks before its login page, with no failed request)."""

from __future__ import annotations

from pathlib import Path

from tests.server_helpers import PASSWORD, bearer, live, make_world


def test_session_state_says_who_or_not_signed_in_without_an_error(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv:
        with srv.client() as c:
            assert c.get("/api/v1/session").json() == {"signed_in": False}
            login = c.post("/api/v1/session", json={"name": "fay", "password": PASSWORD})
            state = c.get("/api/v1/session").json()
            assert state["signed_in"] is True and state["name"] == "fay"
            assert state["role"] == "facilitator" and state["open"] is False
            assert state["csrf_token"] == login.json()["csrf_token"]
            c.delete("/api/v1/session", headers={"X-CSRF-Token": state["csrf_token"]})
            # the cookie of a closed session: not signed in, not an error
            c.cookies.set("scenario_lab_session", "closed")
            assert c.get("/api/v1/session").json() == {"signed_in": False}
        with srv.client(headers=bearer("sk_revoked_or_unknown")) as c:
            r = c.get("/api/v1/session")
            assert r.status_code == 200 and r.json() == {"signed_in": False}
        with srv.client(headers=bearer(w.seat)) as c:
            state = c.get("/api/v1/session").json()
            assert state["role"] == "player" and state["actor"] == "grid-operator"
            assert "secret" not in str(state) and w.seat not in str(state)
    (tmp_path / "open").mkdir()
    open_world = make_world(tmp_path / "open", accounts=False)
    with live(open_world.settings) as srv, srv.client() as c:
        state = c.get("/api/v1/session").json()
        assert state["signed_in"] is True and state["open"] is True
