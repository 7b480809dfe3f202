"""Starting and steering runs over HTTP, against a real uvicorn: runs play as tasks of
the server (model calls to the loopback fake LLM), halt/resume/stop, forks played here
(one, or several as a batch), and human seats answered from a join link, after which
the run goes on by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from scenario_lab.app import LLMSettings
from tests.engine_helpers import DATA, llm_env, payloads
from tests.fakellm import FakeLLMServer
from tests.server_helpers import World, assert_problem, bearer, live, make_world


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(latency_s=0.05) as server:
        yield server


def _world(tmp_path: Path, fake: FakeLLMServer) -> World:
    w = make_world(tmp_path)
    llm = LLMSettings.from_env(llm_env(fake.base_url))
    return replace(w, settings=replace(w.settings, scenario_dirs=(DATA,), llm=llm))


def wait_run(
    c: httpx.Client, run_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    """GET the run until ``done(run)`` (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = c.get(f"/api/v1/runs/{run_id}").json()
        if done(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def ended(run: dict[str, Any]) -> bool:
    return run["status"] in ("completed", "failed", "halted")


def test_a_started_run_plays_in_the_server_with_the_fake_llm(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    w = _world(tmp_path, fake)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        r = c.post("/api/v1/runs", json={"scenario": "llm3", "seed": 4, "turns": 2})
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        assert r.headers["location"] == f"/api/v1/runs/{run_id}"
        run = wait_run(c, run_id, ended)
        assert run["status"] == "completed" and run["turns_completed"] == 2
        assert fake.request_count > 0
        # the same lease as the CLI's: nobody else could play it meanwhile
        again = assert_problem(c.post(f"/api/v1/runs/{run_id}/resume"), 409)
        assert again["code"] == "run-not-playable"


def test_halt_then_resume_then_stop_for_good(tmp_path: Path, fake: FakeLLMServer) -> None:
    w = _world(tmp_path, fake)
    fake.latency_s = 0.3  # slow calls: the halt lands while the run plays
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        run_id = c.post("/api/v1/runs", json={"scenario": "llm3", "turns": 3}).json()["run_id"]
        wait_run(c, run_id, lambda r: r["turn"] >= 1)
        halted = c.post(f"/api/v1/runs/{run_id}/halt")
        assert halted.status_code == 200, halted.text
        assert halted.json()["status"] == "halted" and halted.json()["halt_reason"] == "user"
        assert c.get(f"/api/v1/runs/{run_id}").json()["status"] == "halted"
        fake.latency_s = 0.3
        resumed = c.post(f"/api/v1/runs/{run_id}/resume")
        assert resumed.status_code == 200, resumed.text
        wait_run(c, run_id, lambda r: r["status"] == "running")
        stopped = c.post(f"/api/v1/runs/{run_id}/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["halt_reason"] == "stopped"
        # for good: resume refuses, stopping again changes nothing, the stream ends
        body = assert_problem(c.post(f"/api/v1/runs/{run_id}/resume"), 409)
        assert "stopped for good" in body["detail"] and "fork it" in body["detail"]
        assert c.post(f"/api/v1/runs/{run_id}/stop").json()["halt_reason"] == "stopped"
        with c.stream("GET", f"/api/v1/runs/{run_id}/stream") as s:
            text = "".join(s.iter_text())
        assert text.rstrip().endswith("event: end\ndata:") or "event: end" in text
        # a run that completed cannot be halted or stopped
        assert_problem(c.post(f"/api/v1/runs/{w.strait}/halt"), 409)
        assert_problem(c.post(f"/api/v1/runs/{w.strait}/stop"), 409)
        assert_problem(c.post("/api/v1/runs/nope/stop"), 404)


def test_seat_link_answers_and_the_run_goes_on_by_itself(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    w = _world(tmp_path, fake)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        r = c.post(
            "/api/v1/runs",
            json={"scenario": "strait-crisis", "turns": 2, "humans": ["western-power"]},
        )
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        run = wait_run(c, run_id, ended)
        assert run["halt_reason"] == "human_input"
        assert [s["actor"] for s in run["seats_pending"]] == ["western-power"]
        link = c.post(f"/api/v1/runs/{run_id}/seats", json={"actor": "western-power"})
        assert link.status_code == 201, link.text
        token, token_id = link.json()["token"], link.json()["token_id"]
        assert link.json()["url"].endswith(f"/join/{run_id}#token={token}")
        assert_problem(c.post(f"/api/v1/runs/{run_id}/seats", json={"actor": "nobody"}), 404)
    with live(w.settings) as srv, srv.client(headers=bearer(token)) as p:
        for turn in (1, 2):
            view = p.get(f"/api/v1/runs/{run_id}/seat").json()
            [question] = view["pending"]
            assert question["turn"] == turn and "prompt" not in question
            choice = question["choices"][0]["name"]
            key = {"Idempotency-Key": f"answer-{turn}"}
            body = {
                "action_name": choice,
                "action": "Holds the line and talks.",
                "request_id": question["request_id"],
            }
            first = p.post(f"/api/v1/runs/{run_id}/seat/decision", json=body, headers=key)
            assert first.status_code == 200, first.text
            assert first.json()["run_continues"] is True
            # the same request again (a retry) gets the same answer; another is a 409
            again = p.post(f"/api/v1/runs/{run_id}/seat/decision", json=body, headers=key)
            assert again.json() == first.json()
            assert_problem(p.post(f"/api/v1/runs/{run_id}/seat/decision", json=body), 409)
            wait_run_seat(p, run_id, turn)
        # a seat speaks for itself only, and cannot steer the run
        assert_problem(
            p.post(
                f"/api/v1/runs/{run_id}/seat/decision",
                json={"action": "x", "actor": "eastern-power"},
            ),
            403,
        )
        assert_problem(p.post(f"/api/v1/runs/{run_id}/halt"), 403)
    submitted = [x for _t, ty, x in payloads(w.db, run_id) if ty == "HumanDecisionSubmitted"]
    assert [s["submitted_by"] for s in submitted] == [f"seat:{token_id}"] * 2
    assert all(token not in str(s) for s in submitted)


def wait_run_seat(p: httpx.Client, run_id: str, turn: int, timeout: float = 60) -> None:
    """Wait (as the seat) until the run went past ``turn``'s question."""
    deadline = time.monotonic() + timeout
    while True:
        view = p.get(f"/api/v1/runs/{run_id}/seat").json()
        if view["status"] == "completed" or any(q["turn"] > turn for q in view["pending"]):
            return
        assert time.monotonic() < deadline, view
        time.sleep(0.05)


def test_forks_played_here_one_or_several_as_a_batch(tmp_path: Path, fake: FakeLLMServer) -> None:
    w = _world(tmp_path, fake)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        r = c.post(
            f"/api/v1/runs/{w.strait}/fork",
            json={"at_turn": 3, "seed": 8, "decisions": {"mediator": "Calls a summit."}},
        )
        assert r.status_code == 201, r.text
        branch = r.json()["run_id"]
        assert r.json()["parent_run_id"] == w.strait
        run = wait_run(c, branch, ended)
        assert run["status"] == "completed" and run["parent_run_id"] == w.strait
        unplayed = c.post(f"/api/v1/runs/{w.strait}/fork", json={"at_turn": 2, "play": False})
        assert c.get(f"/api/v1/runs/{unplayed.json()['run_id']}").json()["turns_completed"] == 2
        many = c.post(f"/api/v1/runs/{w.strait}/fork", json={"at_turn": 5, "count": 2})
        assert many.status_code == 201, many.text
        batch = many.json()["batch_id"]
        deadline = time.monotonic() + 60
        while c.get(f"/api/v1/batches/{batch}").json()["counts"].get("completed", 0) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert len(c.get("/api/v1/runs", params={"batch": batch}).json()["runs"]) == 2
        # refusals name the field
        bad = assert_problem(c.post(f"/api/v1/runs/{w.strait}/fork", json={"at_turn": 99}), 409)
        assert bad["code"] == "fork-point-invalid"
        body = {"at_turn": 2, "count": 2, "decisions": {"mediator": "x"}}
        assert assert_problem(c.post(f"/api/v1/runs/{w.strait}/fork", json=body), 422)["field"] == (
            "count"
        )


def test_start_refusals_are_problems(tmp_path: Path, fake: FakeLLMServer) -> None:
    w = _world(tmp_path, fake)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        body = assert_problem(c.post("/api/v1/runs", json={"scenario": "../../etc"}), 404)
        assert body["field"] == "scenario" and "offered:" in body["detail"]
        body = assert_problem(
            c.post("/api/v1/runs", json={"scenario": "strait-crisis", "humans": ["ghost"]}), 422
        )
        assert body["field"] == "humans" and "ghost" in body["detail"]
        assert_problem(c.post("/api/v1/runs", json={"scenario": "strait-crisis", "turns": 0}), 422)
        assert_problem(c.post("/api/v1/runs", json={}), 422)
        assert len(c.get("/api/v1/runs").json()["runs"]) == 2  # nothing was recorded
    # without a model endpoint, an LLM scenario is refused before anything is recorded
    bare = replace(w.settings, scenario_dirs=(DATA,), llm=None)
    with live(bare) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        body = assert_problem(c.post("/api/v1/runs", json={"scenario": "llm3"}), 422)
        assert body["code"] == "credentials-missing"
        assert len(c.get("/api/v1/runs").json()["runs"]) == 2
