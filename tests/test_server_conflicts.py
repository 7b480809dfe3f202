"""Writes that meet another write: racing answers to one seat (one wins, the others get
409), a database constraint refusing a write (409 problem+json, never a 500), and
Idempotency-Keys remembered in the accounts tables, so a retry after a server restart
gets the first response instead of a second answer or a 409."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from server import create_app
from server.deps import allow
from server.permissions import Rule
from tests.engine_helpers import payloads
from tests.server_helpers import assert_problem, bearer, live, make_world

SERVE = [sys.executable, "-c", "from cli.app import main; main()", "serve"]
ANSWER = {"actor": "grid-operator", "action_name": "public_briefing", "action": "We brief"}


def test_racing_answers_to_one_seat_one_wins_the_others_get_409(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    statuses: list[int] = []
    bodies: list[dict[str, object]] = []
    with live(w.settings) as srv:
        start = threading.Barrier(8)

        def answer() -> None:
            with srv.client(headers=bearer(w.keys["facilitator"])) as c:
                start.wait(10)
                # all to the same question: an answer naming none would answer whatever
                # is open when it lands (the next turn's, if the run went on by then)
                body = {**ANSWER, "request_id": "h1-grid-operator"}
                r = c.post(f"/api/v1/runs/{w.tabletop}/seat/decision", json=body)
                statuses.append(r.status_code)
                if r.status_code != 200:
                    bodies.append(assert_problem(r, 409))

        threads = [threading.Thread(target=answer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(statuses) == [200] + [409] * 7, statuses
    assert {b["code"] for b in bodies} <= {"seat-not-waiting", "concurrency-conflict"}
    submitted = [x for _t, ty, x in payloads(w.db, w.tabletop) if ty == "HumanDecisionSubmitted"]
    assert len(submitted) == 1


def test_a_constraint_the_database_refuses_is_a_409_problem(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    app: FastAPI = create_app(w.settings)

    def driver() -> None:
        raise sqlite3.IntegrityError("UNIQUE constraint failed: events.run_id, events.seq")

    def core() -> None:
        raise sa.exc.IntegrityError("INSERT INTO accounts_users ...", {}, Exception("UNIQUE"))

    app.add_api_route("/test/driver", driver, methods=["POST"], dependencies=[allow(Rule.PUBLIC)])
    app.add_api_route("/test/core", core, methods=["POST"], dependencies=[allow(Rule.PUBLIC)])
    with live(w.settings, app) as srv, srv.client() as c:
        for path in ("/test/driver", "/test/core"):
            body = assert_problem(c.post(path), 409)
            assert body["code"] == "concurrency-conflict"
            assert "UNIQUE" not in str(body) and "INSERT" not in str(body)
            assert "again" in body["detail"]


def _serve(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*SERVE, "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().rstrip("/")
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/healthz", timeout=5)
            return proc, url
        except httpx.ConnectError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[str], how: int) -> None:
    os.kill(proc.pid, how)
    proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()


def test_an_idempotent_answer_survives_a_server_restart(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    url = f"/api/v1/runs/{w.tabletop}/seat/decision"
    # the question of turn 1: once answered, the server plays on and asks turn 2's
    answer = {**ANSWER, "request_id": "h1-grid-operator"}
    key = {"Idempotency-Key": "answer-turn-1", **bearer(w.keys["facilitator"])}
    proc, base = _serve(w.db)
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            first = c.post(url, json=answer, headers=key)
            assert first.status_code == 200, first.text
    finally:
        _stop(proc, signal.SIGKILL)  # nothing of the first process's memory survives
    proc, base = _serve(w.db)
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            again = c.post(url, json=answer, headers=key)
            assert again.status_code == 200, again.text
            assert again.content == first.content
            # without the key, or with another, it is a second answer: refused
            other = {"Idempotency-Key": "another", **bearer(w.keys["facilitator"])}
            assert_problem(c.post(url, json=answer, headers=other), 409)
            # the key is the facilitator's: another principal's same key is its own
            analyst = {"Idempotency-Key": "answer-turn-1", **bearer(w.keys["admin"])}
            assert_problem(c.post(url, json=answer, headers=analyst), 409)
            # the same key for another request is refused, saying why
            reply = c.post(
                f"/api/v1/runs/{w.tabletop}/seat/reply",
                json={"actor": "grid-operator", "reply": "no"},
                headers=key,
            )
            assert "another request" in assert_problem(reply, 409)["detail"]
    finally:
        _stop(proc, signal.SIGTERM)
    submitted = [x for _t, ty, x in payloads(w.db, w.tabletop) if ty == "HumanDecisionSubmitted"]
    assert len(submitted) >= 1 and submitted[0]["action"] == "We brief"
    assert sum(1 for s in submitted if s["turn"] == 1) == 1
