"""A server running open (no users or keys, loopback only) acts as an admin for every
request; a seat's join link still narrows its holder to that seat: a player at this
machine sees its own view, never the others' decisions, and a revoked link is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from server.accounts import Accounts
from tests.server_helpers import assert_problem, bearer, live, make_world


def test_a_seat_link_keeps_its_player_to_the_seat_on_an_open_server(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    settings = replace(w.settings, accounts=False)
    with live(settings) as srv, srv.client() as c:
        staff = c.get(f"/api/v1/runs/{w.tabletop}/events").json()["events"]
        others = [e for e in staff if e["type"] == "DecisionMade"]
        assert others  # the rule actors' decisions: staff see them
        link = c.post(f"/api/v1/runs/{w.tabletop}/seats", json={"actor": "grid-operator"})
        assert link.status_code == 201, link.text
        token, token_id = link.json()["token"], link.json()["token_id"]
        with srv.client(headers=bearer(token)) as p:
            assert p.get("/api/v1/me").json()["role"] == "player"
            assert_problem(p.get("/api/v1/runs"), 403)
            seen = p.get(f"/api/v1/runs/{w.tabletop}/events").json()["events"]
            assert seen and not [e for e in seen if e["type"] == "DecisionMade"]
            assert p.get(f"/api/v1/runs/{w.tabletop}/seat").json()["actor"] == "grid-operator"
            assert_problem(p.get(f"/api/v1/runs/{w.strait}/events"), 403)
        # whatever else a client sends, an open server ignores, as without a header
        with srv.client(headers={"Authorization": "Basic eDp5"}) as other:
            assert other.get("/api/v1/runs").status_code == 200
        with Accounts.open(w.db) as accounts:
            accounts.revoke_seat_token(token_id)
        with srv.client(headers=bearer(token)) as p:
            assert_problem(p.get(f"/api/v1/runs/{w.tabletop}/seat"), 401)
