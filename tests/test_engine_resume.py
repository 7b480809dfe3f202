"""Killing a run at any moment and resuming it; human seats filled from another process."""

from __future__ import annotations

import json
import shlex
import signal
import time
from pathlib import Path

import pytest

from eventstore import EventStore
from tests.check_helpers import consistent, event_count, wait_for_events
from tests.engine_helpers import (
    HUMAN3,
    LLM3,
    cli,
    last_line,
    llm_env,
    payloads,
    runs_json,
    subprocess_cli,
)
from tests.fakellm import FakeLLMServer

# the tests that take ``db`` run on SQLite and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.backends


def _recorded_calls(db: Path | str, run_id: str) -> int:
    return sum(1 for _t, ty, _p in payloads(db, run_id) if ty == "CostIncurred")


def _after_the_holder_is_gone(db: Path | str) -> list[dict[str, object]]:
    """``runs --json`` once no run shows as running: a PostgreSQL server ends a killed
    client's session (and its lease) when it reads the closed socket, a moment after
    the kill; a file lock is gone with the process."""
    deadline = time.monotonic() + 10
    rows = runs_json(db)
    while any(r["status"] == "running" for r in rows) and time.monotonic() < deadline:
        time.sleep(0.02)
        rows = runs_json(db)
    return rows


# kill points: right after setup; mid turn 1 (requests recorded, answers in flight);
# mid turn 2; at the last turn
@pytest.mark.parametrize("kill_at_events", [2, 6, 24, 45])
def test_sigkill_then_resume_completes_without_paying_twice(
    db: Path | str, kill_at_events: int
) -> None:
    with FakeLLMServer(latency_s=0.15) as fake:
        env = llm_env(fake.base_url)
        proc = subprocess_cli("run", LLM3, "--db", db, "--seed", "2", env=env)
        wait_for_events(db, kill_at_events, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        [summary] = _after_the_holder_is_gone(db)
        run_id = summary["run_id"]
        assert summary["status"] == "interrupted"  # no live process holds it
        recorded_before = _recorded_calls(db, run_id)
        requests_before = fake.request_count
        result = cli("resume", run_id, "--db", db, env=env)
        assert result.exit_code == 0, result.output
        made_by_resume = fake.request_count - requests_before
    recorded_after = _recorded_calls(db, run_id)
    # every request the resumed process made was a call the log had not recorded yet
    assert made_by_resume == recorded_after - recorded_before
    [summary] = runs_json(db)
    assert summary["status"] == "completed" and summary["turns_completed"] == 3
    rows = payloads(db, run_id)
    made = [(t, p["actor"]) for t, ty, p in rows if ty == "DecisionMade"]
    assert sorted(made) == sorted(
        {(t, a) for t in (1, 2, 3) for a in ("techco", "regulator", "ngo")}
    )
    for turn in (1, 2, 3):
        assert [ty for t, ty, _p in rows if t == turn].count("WorldUpdated") == 1
        assert [ty for t, ty, _p in rows if t == turn].count("TurnCompleted") == 1
    assert cli("verify", run_id, "--db", db).exit_code == 0
    consistent(db, run_id)  # checked as played: killed, then resumed


def test_ctrl_c_stops_a_run_in_one_line_that_says_how_to_go_on(db: Path | str) -> None:
    with FakeLLMServer(latency_s=0.3) as fake:
        env = llm_env(fake.base_url)
        proc = subprocess_cli("run", LLM3, "--db", db, "--seed", "2", env=env)
        wait_for_events(db, 6, proc)  # mid turn 1, answers in flight
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130
        [summary] = runs_json(db)
        run_id = summary["run_id"]
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == (
            f"error: interrupted; `scenario-lab resume {run_id} --db {shlex.quote(str(db))}` goes on"
        )
        assert summary["status"] == "interrupted"
        resumed = cli("resume", run_id, "--db", db, env=env)
        assert resumed.exit_code == 0, resumed.output
    assert runs_json(db)[0]["status"] == "completed"
    assert cli("verify", run_id, "--db", db).exit_code == 0
    consistent(db, run_id)


def test_a_running_run_shows_as_running(db: Path | str) -> None:
    with FakeLLMServer(latency_s=0.3) as fake:
        proc = subprocess_cli("run", LLM3, "--db", db, env=llm_env(fake.base_url))
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                if event_count(db):
                    rows = runs_json(db)
                    if rows:
                        break
                time.sleep(0.05)
            assert rows[0]["status"] == "running"
            resumed = cli("resume", rows[0]["run_id"], "--db", db, env=llm_env(fake.base_url))
            assert resumed.exit_code == 2 and "live process" in resumed.stderr
        finally:
            proc.kill()
            proc.communicate(timeout=10)


def test_human_seat_filled_from_a_second_process(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    result = cli("run", HUMAN3, "--db", db)
    assert result.exit_code == 3, result.output  # halted: exit 3
    run_id = last_line(result.stdout)
    [summary] = runs_json(db)
    assert summary["status"] == "halted" and summary["halt_reason"] == "human_input"
    shown = cli("decide", run_id, "--db", db, "--actor", "player", "--show")
    assert shown.exit_code == 0
    assert "PLAYER-ONLY-SECRET" in shown.stdout and "Restore power" in shown.stdout
    early = cli("resume", run_id, "--db", db)
    assert early.exit_code == 3 and "waits for human input from player" in early.stderr
    proc = subprocess_cli(
        "decide",
        run_id,
        "--db",
        db,
        "--actor",
        "player",
        "--action",
        "Reroute power to hospitals.",
        "--reasoning",
        "Lives first.",
        "--by",
        "alice",
        env={},
    )
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    twice = cli("decide", run_id, "--db", db, "--actor", "player", "--action", "Again.")
    assert twice.exit_code == 2 and "already decided turn 1" in twice.stderr
    other = cli("decide", run_id, "--db", db, "--actor", "govt", "--action", "x")
    assert other.exit_code == 2 and "'govt' is not a human seat" in other.stderr
    nobody = cli("decide", run_id, "--db", db, "--actor", "nobody", "--action", "x")
    assert nobody.exit_code == 2 and "has no actor 'nobody'" in nobody.stderr
    resumed = cli("resume", run_id, "--db", db)
    assert resumed.exit_code == 3, resumed.output  # halted again: exit 3
    # the run goes on to turn 2, where it waits for the human again
    [summary] = runs_json(db)
    assert summary["status"] == "halted" and summary["turns_completed"] == 1
    rows = payloads(db, run_id)
    submitted = [p for t, ty, p in rows if ty == "HumanDecisionSubmitted"]
    assert (
        submitted[0]["action"] == "Reroute power to hospitals."
        and submitted[0]["submitted_by"] == "alice"
    )
    world = [p for t, ty, p in rows if ty == "WorldUpdated" and t == 1]
    assert world  # the turn completed with the human's decision
    audit = cli("audit", run_id, "--db", db, "--actor", "player", "--json")
    entry = json.loads(audit.stdout.splitlines()[0])
    assert entry["brain"] == "human" and entry["submitted_by"] == "alice"
    assert "PLAYER-ONLY-SECRET" in json.dumps(entry["prompt"])
    consistent(db, run_id)  # halted for the human, answered from another process, resumed


def test_interactive_run_asks_inline(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    answers = "".join("Hold the line.\nsteady\nkeep power\n" for _ in range(3))
    result = cli("run", HUMAN3, "--db", db, "--interactive", input=answers)
    assert result.exit_code == 0, result.output
    [summary] = runs_json(db)
    assert summary["status"] == "completed"
    with EventStore.open(db) as store:
        subs = [
            r.event for r in store.read(summary["run_id"]) if r.type == "HumanDecisionSubmitted"
        ]
    assert [s.action for s in subs] == ["Hold the line."] * 3
    assert all(s.submitted_via == "interactive" for s in subs)
    consistent(db, summary["run_id"])  # the answers typed at the prompt are given again
