"""LLM batches end to end against the loopback fake: many runs in one process under one
cap and one budget, a budget stop, and resume after the batch process is SIGKILLed."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.batch.stats import batch_stats
from eventstore import EventStore
from projections import batch_report_markdown
from tests.engine_helpers import llm_env
from tests.fakellm import FakeLLMServer
from tests.test_batch_helpers import BATCHES, batch_process, batch_rows, bcli, last_line

LLM_BATCH = BATCHES / "llm.yaml"  # techco on test/small or test/large, 3 runs each
PRICES = {  # USD per 1M tokens; test/large costs four times test/small
    "test/small": {"input": 10, "output": 20},
    "test/large": {"input": 40, "output": 80},
    "test/actor": {"input": 10, "output": 20},
    "test/world": {"input": 10, "output": 20},
}


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICES))
    return path


def _show(db: Path, batch_id: str) -> dict[str, Any]:
    result = bcli("batch", "show", batch_id, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _recorded_calls(db: Path, batch_id: str) -> int:
    return sum(
        1 for _r, events in batch_rows(db, batch_id) for t, _p in events if t == "CostIncurred"
    )


def test_an_llm_batch_plays_every_variation_in_one_process(
    tmp_path: Path, fake: FakeLLMServer, prices: Path
) -> None:
    db = tmp_path / "log.db"
    result = bcli(
        "batch", "run", LLM_BATCH, "--db", db, "--prices", prices, env=llm_env(fake.base_url)
    )
    assert result.exit_code == 0, result.output
    batch_id = last_line(result.stdout)
    assert "runs done" in result.stderr and "ETA" in result.stderr
    shown = _show(db, batch_id)
    assert shown["counts"]["completed"] == 6 and shown["cut_short"] == []
    small, large = shown["variations"]
    assert (small["name"], large["name"]) == ("techco.model=test/small", "techco.model=test/large")
    assert 0 < small["cost_usd"] < large["cost_usd"]
    assert shown["cost_usd"] == pytest.approx(small["cost_usd"] + large["cost_usd"])
    techco_models = {
        r["json"]["model"]
        for r in fake.requests
        if "SECRET-techco-PRIVATE" in json.dumps(r["json"]["messages"])
    }
    assert techco_models == {"test/small", "test/large"}
    for _run_id, events in batch_rows(db, batch_id):
        started = next(p for t, p in events if t == "RunStarted")
        model = started["settings"]["model_overrides"]["techco"]
        assert started["settings"]["variation"] == {"techco.model": model}
        assert started["settings"]["credit_limit_usd"] == 1.0  # cost_per_run_limit
        assert started["settings"]["batch_id"] == batch_id
    with EventStore.open(db) as store:
        assert all(store.verify(r.run_id).ok for r in store.list_runs(batch_id=batch_id))
        stats = batch_stats(store, batch_id)
        report = batch_report_markdown(store, batch_id)
    assert set(stats.metrics) >= {"cooperation"}
    assert [v.metrics["cooperation"].n for v in stats.variations] == [3, 3]
    assert "techco.model=test/large" in report and "## Cost per variation" in report


def test_the_budget_stops_the_batch_before_any_call_crosses_it(
    tmp_path: Path, fake: FakeLLMServer, prices: Path
) -> None:
    db = tmp_path / "log.db"
    env = llm_env(fake.base_url)
    args = ("--db", db, "--prices", prices, "--parallel", "1")
    result = bcli("batch", "run", LLM_BATCH, *args, "--budget", "0.12", env=env)
    assert result.exit_code == 3, result.output  # halted: exit 3
    batch_id = last_line(result.stdout)
    shown = _show(db, batch_id)
    assert shown["cost_usd"] <= 0.12
    assert shown["budget_spent"] is True
    by_status: dict[str, list[dict[str, Any]]] = {}
    for run in shown["runs"]:
        by_status.setdefault(run["status"], []).append(run)
    [halted] = by_status["halted"]
    assert halted["why"].startswith("halted by the batch budget")
    assert "--credit-limit" not in halted["why"]
    assert by_status["completed"] and by_status["not_started"]
    # played one at a time in plan order: nothing started after the budget stop
    assert max(r["index"] for r in by_status["completed"]) < halted["index"]
    assert min(r["index"] for r in by_status["not_started"]) > halted["index"]
    assert all(
        r["why"] == "not started: the batch budget was spent" for r in by_status["not_started"]
    )
    assert "cut short:" in result.stderr and "halted by the batch budget" in result.stderr
    with EventStore.open(db) as store:
        report = batch_report_markdown(store, batch_id)
    assert "not started: the batch budget was spent" in report
    # resuming under the same budget starts nothing; a larger one plays the rest
    requests = fake.request_count
    again = bcli("batch", "resume", batch_id, *args, env=env)
    assert again.exit_code == 3, again.output  # still cut short: exit 3
    assert fake.request_count == requests and _show(db, batch_id)["counts"] == shown["counts"]
    more = bcli("batch", "resume", batch_id, *args, "--budget", "5", env=env)
    assert more.exit_code == 0, more.output
    counts = _show(db, batch_id)["counts"]
    # the run the old budget halted goes on too
    assert counts["not_started"] == 0 and counts["halted"] == 0
    assert counts["completed"] == 6


def _wait_for_events(db: Path, n: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("SELECT count(*) FROM events").fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass  # the schema is being created
        time.sleep(0.01)
    raise AssertionError(f"the batch never reached {n} events")


@pytest.mark.slow
def test_resume_after_sigkill_plays_no_run_twice_and_repeats_no_call(
    tmp_path: Path, prices: Path
) -> None:
    db = tmp_path / "log.db"
    with FakeLLMServer(latency_s=0.1) as fake:
        env = llm_env(fake.base_url)
        proc = batch_process("batch", "run", LLM_BATCH, "--db", db, "--prices", prices, env=env)
        _wait_for_events(db, 24)  # the first three runs are mid turn 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        listed = json.loads(bcli("batch", "list", "--db", db, "--json").stdout)
        batch_id = listed[0]["batch_id"]
        before = _show(db, batch_id)["counts"]
        assert before["interrupted"] >= 1 and before["not_started"] >= 1
        recorded_before = _recorded_calls(db, batch_id)
        requests_before = fake.request_count
        result = bcli("batch", "resume", batch_id, "--db", db, "--prices", prices, env=env)
        assert result.exit_code == 0, result.output
        assert last_line(result.stdout) == batch_id
        made_by_resume = fake.request_count - requests_before
    # every request the resume made was one the log had not recorded
    assert made_by_resume == _recorded_calls(db, batch_id) - recorded_before
    shown = _show(db, batch_id)
    assert shown["counts"]["completed"] == 6
    rows = batch_rows(db, batch_id)
    assert len(rows) == 6  # each planned run exists once
    for _run_id, events in rows:
        types = [t for t, _p in events]
        assert types.count("RunStarted") == 1 and types.count("RunCompleted") == 1
        made = [(p["turn"], p["actor"]) for t, p in events if t == "DecisionMade"]
        assert sorted(made) == sorted(
            {(t, a) for t in (1, 2, 3) for a in ("techco", "regulator", "ngo")}
        )
    resumed = sum(1 for _r, events in rows for t, _p in events if t == "RunResumed")
    assert resumed == before["interrupted"]
    with EventStore.open(db) as store:
        assert all(store.verify(r.run_id).ok for r in store.list_runs(batch_id=batch_id))
