"""Starting and steering runs over HTTP, against a real uvicorn: runs play as tasks of
the server (model calls to the loopback fake LLM), halt/resume/stop, forks played here
(one, or several as a batch), and human seats answered from a join link, after which
the run goes on by itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from scenario_lab.app import LLMSettings
from tests.engine_helpers import DATA, llm_env, payloads
from tests.fakellm import FakeLLMServer
from tests.server_helpers import World, assert_problem, bearer, live, make_world, wait_run


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(latency_s=0.05) as server:
        yield server


def _world(tmp_path: Path, fake: FakeLLMServer) -> World:
    w = make_world(tmp_path)
    llm = LLMSettings.from_env(llm_env(fake.base_url))
    return replace(w, settings=replace(w.settings, scenario_dirs=(DATA,), llm=llm))


def ended(run: dict[str, Any]) -> bool:
    return run["status"] in ("completed", "failed", "halted")


def test_a_started_run_plays_in_the_server_with_the_fake_llm(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    w = _world(tmp_path, fake)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        body = {"scenario": "llm3", "seed": 4, "turns": 2, "name": "Demo", "tags": ["demo"]}
        r = c.post("/api/v1/runs", json=body)
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        tagged = c.get("/api/v1/runs", params={"tag": "demo"}).json()["runs"]
        assert [(t["run_id"], t["name"]) for t in tagged] == [(run_id, "Demo")]
        assert c.get("/api/v1/runs", params={"tag": ["demo", "other"]}).json()["runs"] == []
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
        body = {"at_turn": 2, "count": 2, "play": False}
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


def _injected(db: Path, run_id: str) -> tuple[list[Any], list[Any]]:
    rows = payloads(db, run_id)
    queued = [p for _t, ty, p in rows if ty == "InjectQueued"]
    delivered = [
        p for _t, ty, p in rows if ty == "ExogenousEventTriggered" and p["kind"] == "injected"
    ]
    return queued, delivered


def test_live_injects_reach_the_next_phase_with_who_gave_them(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    from tests.engine_helpers import cli

    w = _world(tmp_path, fake)
    fake.latency_s = 0.3
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        # into a run the server plays: delivered at its next phase boundary
        run_id = c.post("/api/v1/runs", json={"scenario": "llm3", "turns": 2}).json()["run_id"]
        wait_run(c, run_id, lambda r: r["turn"] >= 1)
        r = c.post(
            f"/api/v1/runs/{run_id}/inject",
            json={"description": "A leaked memo surfaces.", "visibility": ["ngo"]},
        )
        assert r.status_code == 202, r.text
        assert r.json()["delivery"] == "next phase"
        fake.latency_s = 0.01
        assert wait_run(c, run_id, ended)["status"] == "completed"
        # into a run waiting for a seat: recorded now, delivered when it plays on
        held = c.post(
            "/api/v1/runs",
            json={"scenario": "strait-crisis", "turns": 1, "humans": ["western-power"]},
        ).json()["run_id"]
        wait_run(c, held, ended)
        body = {"description": "A tanker runs aground.", "effects": {"tension": 2.0}}
        r = c.post(f"/api/v1/runs/{held}/inject", json=body)
        assert r.status_code == 202 and r.json()["delivery"] == "when the run plays on"
        # refusals: unknown variable or actor, empty text, an ended run
        bad = {"description": "x", "effects": {"nope": 1}}
        assert (
            assert_problem(c.post(f"/api/v1/runs/{held}/inject", json=bad), 422)["field"]
            == "effects"
        )
        bad = {"description": "x", "visibility": ["ghost"]}
        assert (
            assert_problem(c.post(f"/api/v1/runs/{held}/inject", json=bad), 422)["field"]
            == "visible_to"
        )
        assert_problem(c.post(f"/api/v1/runs/{held}/inject", json={"description": ""}), 422)
        assert_problem(c.post(f"/api/v1/runs/{w.strait}/inject", json={"description": "x"}), 409)
        token = c.post(f"/api/v1/runs/{run_id}/seats", json={"actor": "regulator"}).json()["token"]
    queued, delivered = _injected(w.db, run_id)
    assert [q["injected_by"] for q in queued] == ["key:facilitator-key"]
    assert [d["inject_id"] for d in delivered] == [queued[0]["inject_id"]]
    assert delivered[0]["visible_to"] == ["ngo"]
    # a seat the inject was not shown to does not see it; the replay check accepts it
    with live(w.settings) as srv, srv.client(headers=bearer(token)) as p:
        assert "leaked memo" not in p.get(f"/api/v1/runs/{run_id}/events").text
    check = cli("replay", run_id, "--db", w.db, "--check")
    assert check.exit_code == 0, check.output
    queued, delivered = _injected(w.db, held)
    assert len(queued) == 1 and delivered == []  # not played on yet
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        assert len(c.get(f"/api/v1/runs/{held}").json()["seats_pending"]) == 1
        view = c.get(f"/api/v1/runs/{held}/seat", params={"actor": "western-power"}).json()
        answer = {"actor": "western-power", "action_name": view["pending"][0]["choices"][0]["name"]}
        r = c.post(f"/api/v1/runs/{held}/seat/decision", json=answer)
        assert r.status_code == 200 and r.json()["run_continues"] is True, r.text
        assert wait_run(c, held, ended)["status"] == "completed"
    queued, delivered = _injected(w.db, held)
    assert [d["inject_id"] for d in delivered] == [queued[0]["inject_id"]]
    assert delivered[0]["effects"] == {"tension": 2.0} and delivered[0]["turn"] == 1
    # the hotwash names the inject, who gave it, what moved, and the human's decision
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        review = c.get(f"/api/v1/runs/{held}/after-action").json()
        [inj] = review["injects"]
        assert inj["turn"] == 1 and inj["injected_by"] == "key:facilitator-key"
        assert inj["effects"] == {"tension": 2.0}
        [mine] = review["decisions"]["western-power"]
        assert mine["by"] == "human (key:facilitator-key)" and mine["turn"] == 1
        assert set(review["decisions"]) >= {"eastern-power", "western-power"}
        assert review["status"] == "completed" and review["turns_completed"] == 1
        md = c.get(f"/api/v1/runs/{held}/after-action", params={"format": "markdown"})
        assert md.headers["content-type"].startswith("text/markdown")
        for heading in ("## Key decisions", "## Turning points", "## Injects", "## Cost"):
            assert heading in md.text
        assert "A tanker runs aground." in md.text
        strait = c.get(f"/api/v1/runs/{w.strait}/after-action").json()
        assert strait["turning_points"] and strait["injects"] == []
        moves = [abs(m["change"]) for m in strait["turning_points"]]
        assert moves == sorted(moves, reverse=True)
        assert_problem(c.get("/api/v1/runs/nope/after-action"), 404)
        assert_problem(c.get(f"/api/v1/runs/{held}/after-action", params={"format": "pdf"}), 422)


def test_white_cell_review_holds_each_world_update_for_a_facilitator(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    from tests.engine_helpers import cli

    w = _world(tmp_path, fake)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        body = {"scenario": "strait-crisis", "turns": 2, "white_cell": True}
        run_id = c.post("/api/v1/runs", json=body).json()["run_id"]
        run = wait_run(c, run_id, ended)
        assert run["halt_reason"] == "white_cell" and run["turn"] == 1
        waiting = c.get(f"/api/v1/runs/{run_id}/world-update").json()
        proposed = waiting["proposal"]
        assert proposed["turn"] == 1 and proposed["variables"] and waiting["review"] is None
        # it does not go on unreviewed
        body = assert_problem(c.post(f"/api/v1/runs/{run_id}/resume"), 409)
        assert "waits for a review" in body["detail"]
        # turn 1: edited (a variable and the narrative); turn 2: approved as proposed
        edit = {"narrative": "The white cell rules: calm returns.", "variables": {"tension": 1.0}}
        r = c.post(f"/api/v1/runs/{run_id}/world-update", json=edit)
        assert r.status_code == 200, r.text
        assert r.json()["review"]["edited"] is True
        wait_run(c, run_id, lambda r: r["turn"] == 2 and ended(r))
        assert_problem(
            c.post(f"/api/v1/runs/{run_id}/world-update", json={"variables": {"nope": 1}}), 422
        )
        assert c.post(f"/api/v1/runs/{run_id}/world-update").status_code == 200
        assert wait_run(c, run_id, ended)["status"] == "completed"
        assert c.get(f"/api/v1/runs/{run_id}/world-update").json()["proposal"] is None
        assert_problem(c.post(f"/api/v1/runs/{run_id}/world-update"), 409)
    rows = payloads(w.db, run_id)
    kinds = [ty for _t, ty, _p in rows]
    assert kinds.count("WorldUpdateProposed") == 2 and kinds.count("WorldUpdateReviewed") == 2
    applied = [p for _t, ty, p in rows if ty == "WorldUpdated"]
    assert applied[0]["narrative"] == "The white cell rules: calm returns."
    assert applied[0]["variables"]["tension"] == 1.0 and applied[0]["source"] == "white_cell"
    reviews = [p for _t, ty, p in rows if ty == "WorldUpdateReviewed"]
    assert [r["reviewed_by"] for r in reviews] == ["key:facilitator-key"] * 2
    # the proposal of turn 2 is what applied in turn 2
    proposals = [p for _t, ty, p in rows if ty == "WorldUpdateProposed"]
    assert applied[1]["narrative"] == proposals[1]["narrative"]
    check = cli("replay", run_id, "--db", w.db, "--check")
    assert check.exit_code == 0, check.output


def test_a_started_run_marks_anthropic_prompts_unless_told_not_to(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    w = _world(tmp_path, fake)
    claude = "anthropic/claude-3.5-haiku"
    marked: dict[bool, bool] = {}
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        for on in (True, False):
            fake.reset()
            body = {"scenario": "llm3", "turns": 1, "models": {"ngo": claude}}
            if not on:
                body["cache_markers"] = False
            r = c.post("/api/v1/runs", json=body)
            assert r.status_code == 201, r.text
            assert wait_run(c, r.json()["run_id"], ended)["status"] == "completed"
            sent = [q["json"] for q in fake.requests if q["json"] is not None]
            assert any(b["model"] == claude for b in sent)
            marked[on] = any("cache_control" in json.dumps(b) for b in sent)
    assert marked == {True: True, False: False}
