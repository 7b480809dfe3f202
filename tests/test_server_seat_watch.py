"""A run the server plays waits for a human seat; ``scenario-lab decide`` in another
process answers it (it only appends to the log), and the server notices and plays on by
itself, with no ``resume`` from anyone. Real uvicorn, the real CLI in subprocesses."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.engine_helpers import payloads
from tests.server_helpers import bearer, live, make_world, wait_run

CLI = [sys.executable, "-c", "from cli.app import main; main()"]


def _decide(db: Path, run_id: str) -> None:
    done = subprocess.run(
        [*CLI, "decide", run_id, "--actor", "grid-operator", "--action-name", "public_briefing",
         "--action", "We brief the public", "--db", str(db)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _waiting_at(turn: int) -> Any:
    def check(run: dict[str, Any]) -> bool:
        return (
            run["status"] == "halted"
            and run["halt_reason"] == "human_input"
            and [s["turn"] for s in run["seats_pending"]] == [turn]
        )

    return check


def test_a_cli_answer_makes_the_servers_waiting_run_go_on(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        r = c.post("/api/v1/runs", json={"scenario": "tabletop-human", "turns": 2})
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        wait_run(c, run_id, _waiting_at(1))
        _decide(w.db, run_id)  # another process: the server learns of it from the log
        wait_run(c, run_id, _waiting_at(2))
        _decide(w.db, run_id)
        run = wait_run(c, run_id, lambda run: run["status"] == "completed")
        assert run["turns_completed"] == 2
    types = [ty for _t, ty, _x in payloads(w.db, run_id)]
    # the server resumed it after each answer; nobody else did
    assert types.count("HumanDecisionSubmitted") == 2
    assert types.count("RunResumed") == 2


def test_a_seat_still_waited_for_keeps_the_run_halted(tmp_path: Path) -> None:
    """The server played the run and halted it; answering the API's seat of another run
    or nothing at all leaves it waiting (no resume without every answer)."""
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        run_id = c.post("/api/v1/runs", json={"scenario": "tabletop-human", "turns": 1}).json()[
            "run_id"
        ]
        wait_run(c, run_id, _waiting_at(1))
        _decide(w.db, w.tabletop)  # the log grows, but not for this run
        time.sleep(1.0)  # many polls of the watch
        run = c.get(f"/api/v1/runs/{run_id}").json()
        assert _waiting_at(1)(run), run
        _decide(w.db, run_id)
        wait_run(c, run_id, lambda run: run["status"] == "completed")


def test_a_server_that_starts_plays_on_runs_whose_seats_were_answered_or_are_answered_later(
    tmp_path: Path,
) -> None:
    """At start-up the server watches every run of its log halted for seats: one answered
    while no server ran goes on at once; one still waiting goes on after a CLI decide."""
    w = make_world(tmp_path)  # w.tabletop: started by the CLI, halted for its seat
    _decide(w.db, w.tabletop)  # answered while no server runs
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        wait_run(c, w.tabletop, _waiting_at(2))  # played on turn 1 by itself
        _decide(w.db, w.tabletop)
        wait_run(c, w.tabletop, lambda run: run["turns_completed"] >= 2)
    types = [ty for _t, ty, _x in payloads(w.db, w.tabletop)]
    assert types.count("HumanDecisionSubmitted") == 2 and types.count("RunResumed") == 2
