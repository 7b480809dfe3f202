"""``replay --check`` on runs that stopped and went on: each is checked as it was played.

Kills at random steps are ``test_resume_check_property``; SIGKILL at fixed points,
Ctrl-C, a human seat answered from another process and at the run's own prompt are
checked in ``test_engine_resume``, a credit-limit halt and decisions no model answered
in ``test_engine_e2e``. Here: a world update and a talk no model answered, a run that
failed, a batch halted by its budget, and a divergence after a resume, still named.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.audit.check import check_run
from engine.errors import NondeterminismError
from engine.llm import ChatRequest, ChatResponse, LLMClient
from eventstore import (
    CallFailed,
    DecisionMade,
    EventStore,
    MessageSent,
    RunFailed,
    RunHalted,
    RunResumed,
)
from tests.check_helpers import consistent, play_here, talker, talks_scenario, wait_for_events
from tests.engine_helpers import cli, llm_env, runs_json, subprocess_cli
from tests.fakellm import FakeLLMServer
from tests.test_batch_helpers import BATCHES, bcli, last_line

PRICES = {  # USD per 1M tokens, as the batch tests price them
    "test/small": {"input": 10, "output": 20},
    "test/large": {"input": 40, "output": 80},
    "test/actor": {"input": 10, "output": 20},
    "test/world": {"input": 10, "output": 20},
}


class Outage:
    """A fake model that is down for some kinds of call: their connection drops."""

    def __init__(self) -> None:
        self.down: set[str] = set()  # schema names: world_update, talkplan, ...

    def __call__(self, request: dict[str, Any]) -> str | None:
        name = request.get("response_format", {}).get("json_schema", {}).get("name")
        if name in self.down:
            raise ConnectionResetError("the fake model is down for this call")
        return talker(request)


@pytest.fixture
def outage() -> Outage:
    return Outage()


@pytest.fixture
def fake(outage: Outage) -> Iterator[FakeLLMServer]:
    with FakeLLMServer(responder=outage) as server:
        yield server


def _events(db: Path, run_id: str) -> list[Any]:
    with EventStore.open(db) as store:
        return store.read_events(run_id)


def test_a_world_update_no_model_answered_halts_and_checks_after_resume(
    tmp_path: Path, fake: FakeLLMServer, outage: Outage
) -> None:
    db, scenario = tmp_path / "log.db", talks_scenario(tmp_path, validation=True)
    outage.down = {"world_update"}
    run_id, halted = play_here(fake.base_url, db, scenario, None)
    assert (halted.status, halted.halt_reason) == ("halted", "llm_unavailable")
    assert "the world model gave no usable answer in turn 1" in halted.halt_detail
    outage.down = set()
    _id, done = play_here(fake.base_url, db, scenario, run_id)
    assert done.status == "completed"
    events = _events(db, run_id)
    [failed] = [e for e in events if isinstance(e, CallFailed) and e.purpose == "world_update"]
    assert (failed.error_kind, failed.request_id) == ("llm_unavailable", "w1")
    assert failed.call is not None and failed.call.attempts[0].outcome == "connection"
    # the check made an "engine produced MetricRecorded but the log has RunResumed" here
    with EventStore.open(db) as store:
        assert check_run(store, run_id) == len(events)
    consistent(db, run_id)


def test_a_talk_no_model_answered_is_recorded_and_the_run_checks(
    tmp_path: Path, fake: FakeLLMServer, outage: Outage
) -> None:
    db, scenario = tmp_path / "log.db", talks_scenario(tmp_path)
    outage.down = {"talkplan"}
    run_id, done = play_here(fake.base_url, db, scenario, None)
    assert done.status == "completed"  # a silent talker does not stop a run
    events = _events(db, run_id)
    failed = [e for e in events if isinstance(e, CallFailed)]
    assert {(f.turn, f.actor, f.purpose, f.error_kind) for f in failed} == {
        (t, a, "communication", "llm_unavailable")
        for t in (1, 2)
        for a in ("techco", "regulator", "ngo")
    }
    assert not [e for e in events if isinstance(e, MessageSent)]
    consistent(db, run_id)


class _Broken:
    """A client that breaks (a bug, not an outage) after ``calls`` calls."""

    def __init__(self, inner: LLMClient, calls: int):
        self.inner = inner
        self.left = calls

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("the client broke")
        return await self.inner.complete(request)


def test_a_run_that_failed_checks_up_to_its_failure(tmp_path: Path, fake: FakeLLMServer) -> None:
    db, scenario = tmp_path / "log.db", talks_scenario(tmp_path, validation=True)
    with pytest.raises(RuntimeError, match="the client broke"):
        play_here(fake.base_url, db, scenario, None, wrap=lambda inner: _Broken(inner, 20))
    [summary] = runs_json(db)
    run_id = summary["run_id"]
    assert summary["status"] == "failed"
    events = _events(db, run_id)
    assert isinstance(events[-1], RunFailed) and events[-1].turn == 2
    consistent(db, run_id)


def test_a_batch_halted_by_its_budget_and_resumed_checks_consistent(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db, prices = tmp_path / "log.db", tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    env = llm_env(fake.base_url)
    args = ("--db", db, "--prices", prices, "--parallel", "1")
    result = bcli("batch", "run", BATCHES / "llm.yaml", *args, "--budget", "0.12", env=env)
    assert result.exit_code == 3, result.output  # halted: exit 3
    batch_id = last_line(result.stdout)
    more = bcli("batch", "resume", batch_id, *args, "--budget", "5", env=env)
    assert more.exit_code == 0, more.output
    with EventStore.open(db) as store:
        runs = [r.run_id for r in store.list_runs(batch_id=batch_id)]
        halted = [
            r
            for r in runs
            if any(isinstance(e, RunHalted) and e.reason == "budget" for e in store.read_events(r))
        ]
        assert len(runs) == 6 and len(halted) == 1
        for run in runs:
            assert check_run(store, run) > 0


def _killed_and_resumed(tmp_path: Path, fake: FakeLLMServer) -> tuple[Path, str]:
    """A talks run killed mid turn 1, then resumed to its end."""
    db, scenario = tmp_path / "log.db", talks_scenario(tmp_path)
    fake.latency_s = 0.05
    env = llm_env(fake.base_url)
    proc = subprocess_cli("run", scenario, "--db", db, "--turns", "2", "--seed", "3", env=env)
    wait_for_events(db, 12, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    run_id = runs_json(db)[0]["run_id"]
    resumed = cli("resume", run_id, "--db", db, env=env)
    assert resumed.exit_code == 0, resumed.output
    assert any(isinstance(e, RunResumed) for e in _events(db, run_id))
    consistent(db, run_id)
    return db, run_id


def _edit(db: Path, sql: str, *args: Any) -> int:
    """Change the log as anyone with the file could."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).rowcount


def _check_fails(db: Path, run_id: str) -> NondeterminismError:
    with EventStore.open(db) as store, pytest.raises(NondeterminismError) as caught:
        check_run(store, run_id)
    return caught.value


def test_a_changed_message_after_a_resume_is_named(tmp_path: Path, fake: FakeLLMServer) -> None:
    db, run_id = _killed_and_resumed(tmp_path, fake)
    changed = _edit(
        db,
        "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'regulator answers', "
        "'regulator refuses') AS BLOB) WHERE run_id = ? AND type = 'MessageSent' AND turn = 2 "
        "AND CAST(payload AS TEXT) LIKE '%regulator answers%'",
        run_id,
    )
    assert changed == 1
    err = _check_fails(db, run_id)
    assert (err.turn, err.actor, err.step) == (2, "regulator", "MessageSent")
    assert "field content differs" in str(err)


def test_a_changed_answer_after_a_resume_is_named(tmp_path: Path, fake: FakeLLMServer) -> None:
    db, run_id = _killed_and_resumed(tmp_path, fake)
    target = next(
        e
        for e in _events(db, run_id)
        if isinstance(e, DecisionMade) and e.turn == 2 and e.actor == "ngo"
    )
    assert target.call is not None
    changed = _edit(
        db,
        "UPDATE blobs SET data = CAST(replace(CAST(data AS TEXT), 'ngo acts', 'ngo retreats') "
        "AS BLOB) WHERE sha256 = ?",
        target.call.response_hash,
    )
    assert changed == 1
    err = _check_fails(db, run_id)
    assert (err.turn, err.actor, err.step) == (2, "ngo", "decision")
    assert "d2-ngo" in str(err) and "was changed" in str(err)


def test_an_event_the_engine_would_not_write_is_named_in_any_session(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db, run_id = _killed_and_resumed(tmp_path, fake)
    # a decision's action rewritten in the log itself, after the resume
    changed = _edit(
        db,
        "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'techco acts', "
        "'techco invades') AS BLOB) WHERE run_id = ? AND type = 'DecisionMade' AND turn = 2 "
        "AND CAST(payload AS TEXT) LIKE '%techco acts%'",
        run_id,
    )
    assert changed == 1
    err = _check_fails(db, run_id)
    assert (err.turn, err.actor, err.step) == (2, "techco", "DecisionMade")
    assert "field action differs" in str(err)
