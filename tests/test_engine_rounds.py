"""A turn's rounds of model calls: metrics and validation checks share one round, and the
log is the same whatever order the answers of a round come back in, after a crash too."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from engine.audit.check import check_run
from engine.llm import LLMSettings, PriceTable, Router
from engine.play import ordering
from engine.play.phase import Halt
from engine.play.player import RunPlayer
from engine.play.session import prepare_resume, start_run
from engine.scenario.load import load_scenario
from eventstore import EventStore, TurnCompleted
from tests.engine_helpers import LLM3, llm_env, payloads, subprocess_cli
from tests.fakellm import FakeLLMServer

CHECKS = ("consistency", "plausibility")


def _scenario(tmp_path: Path, turns: int, **validation: Any) -> Path:
    """llm3 (3 AI actors; a judged, a keyword and a pattern metric) with two checks."""
    root = tmp_path / "scenario"
    shutil.copytree(LLM3, root)
    data = yaml.safe_load((root / "scenario.yaml").read_text())
    (root / "scenario.yaml").write_text(yaml.safe_dump({**data, "turns": turns}))
    rules = {
        "validation_model": "test/checker",
        "checks": {name: {"description": f"{name}?", "severity": "high"} for name in CHECKS},
        **validation,
    }
    (root / "validation-rules.yaml").write_text(yaml.safe_dump(rules))
    return root


def _schema(request: dict[str, Any]) -> str:
    return str(request.get("response_format", {}).get("json_schema", {}).get("name", ""))


def _verdict(passed: bool) -> str:
    issues = [] if passed else ["troops teleport"]
    return json.dumps(
        {"passed": passed, "issues": issues, "severity": "high", "explanation": "judged"}
    )


def _play(
    db: Path,
    root: Path,
    base_url: str,
    *,
    run_id: str | None = None,
    credit_limit: float | None = None,
    prices: PriceTable | None = None,
) -> str:
    """Start (or, with ``run_id``, go on with) a run in this process; returns its id."""

    async def main() -> str:
        async with Router(LLMSettings.from_env(llm_env(base_url))) as router:
            with EventStore.open(db) as store:
                rid = run_id or start_run(
                    store, load_scenario(root), seed=3, credit_limit_usd=credit_limit
                )
                player = RunPlayer(store, rid, client=router, prices=prices or PriceTable.load())
                await player.play()
                return rid

    return anyio.run(main)


def _round_types(db: Path, run_id: str) -> dict[int, list[str]]:
    """Per turn, the metric and check events in log order (M: judged metric, m: computed)."""
    out: dict[int, list[str]] = {}
    for turn, type_, p in payloads(db, run_id):
        if type_ == "MetricRecorded" and p["method"] != "rules":
            out.setdefault(turn, []).append("M" if p["method"] == "llm" else "m")
        elif type_ == "ValidationRecorded":
            out.setdefault(turn, []).append(p["check"])
    return out


# both computed metrics, then the judged one, then the checks in their order
ROUND = ["m", "m", "M", *CHECKS]


def test_metrics_and_validation_checks_are_asked_in_one_round(tmp_path: Path) -> None:
    checks_asked = threading.Event()
    overlapped: list[bool] = []

    def respond(request: dict[str, Any]) -> str | None:
        if _schema(request) == "validation":
            checks_asked.set()
        elif _schema(request) == "metric":
            # the metric's answer waits for a check to be asked: one round, not two
            overlapped.append(checks_asked.wait(timeout=5))
        return None

    root = _scenario(tmp_path, turns=1)
    with FakeLLMServer(responder=respond) as fake:
        run_id = _play(tmp_path / "log.db", root, fake.base_url)
    assert overlapped == [True]
    assert _round_types(tmp_path / "log.db", run_id) == {1: ROUND}


@pytest.mark.parametrize("slow", ["metric", "validation"])
def test_the_log_does_not_depend_on_which_answer_of_a_round_comes_first(
    tmp_path: Path, slow: str
) -> None:
    def respond(request: dict[str, Any]) -> str | None:
        if _schema(request) == slow:
            time.sleep(0.2)  # the others of the round answer first
        return None

    root = _scenario(tmp_path, turns=2)
    with FakeLLMServer(responder=respond) as fake:
        run_id = _play(tmp_path / "slow.db", root, fake.base_url)
    with FakeLLMServer() as fake:
        reference = _play(tmp_path / "ref.db", root, fake.base_url)
    assert payloads(tmp_path / "slow.db", run_id) == payloads(tmp_path / "ref.db", reference)
    assert _round_types(tmp_path / "slow.db", run_id) == {1: ROUND, 2: ROUND}
    with EventStore.open(tmp_path / "slow.db") as store:
        assert check_run(store, run_id) == len(payloads(tmp_path / "slow.db", run_id))


def _count(db: Path, type_: str, turn: int) -> int:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE type = ? AND turn = ?", (type_, turn)
            ).fetchone()
            return int(row[0])
    except sqlite3.OperationalError:
        return 0  # the log is being created


# kill points inside turn 1's last round: its calls in flight (the computed metrics
# recorded), and the judged metric recorded while the checks are in flight
@pytest.mark.parametrize(("kill_when", "count"), [("WorldUpdated", 1), ("MetricRecorded", 3)])
def test_sigkill_in_the_round_then_resume_pays_no_recorded_call_twice(
    tmp_path: Path, kill_when: str, count: int
) -> None:
    def respond(request: dict[str, Any]) -> str | None:
        # the metric answers after 0.5 s, the checks after 2 s: time to kill in between
        delay = {"metric": 0.5, "validation": 2.0}.get(_schema(request), 0.0)
        time.sleep(delay)
        return None

    root = _scenario(tmp_path, turns=2)
    db = tmp_path / "log.db"
    with FakeLLMServer(responder=respond) as fake:
        env = llm_env(fake.base_url)
        proc = subprocess_cli("run", root, "--db", db, "--seed", "3", env=env)
        deadline = time.monotonic() + 60
        while _count(db, kill_when, 1) < count:
            assert time.monotonic() < deadline and proc.poll() is None, "no kill point"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        with EventStore.open(db) as store:
            [run] = store.list_runs()
            run_id = run.run_id
            prepare_resume(store, run_id)
        recorded_before = sum(1 for _t, ty, _p in payloads(db, run_id) if ty == "CostIncurred")
        requests_before = fake.request_count
        _play(db, root, fake.base_url, run_id=run_id)
        made_by_resume = fake.request_count - requests_before
    rows = payloads(db, run_id)
    recorded_after = sum(1 for _t, ty, _p in rows if ty == "CostIncurred")
    assert made_by_resume == recorded_after - recorded_before  # only unrecorded calls
    assert [t for t, ty, _p in rows if ty == "TurnCompleted"] == [0, 1, 2]
    assert _round_types(db, run_id) == {1: ROUND, 2: ROUND}


def test_a_failed_critical_check_halts_even_when_a_metric_crossed_the_credit_limit(
    tmp_path: Path,
) -> None:
    # The judged metric's model is dear: its call alone would cross the limit. The checks'
    # model is free, so in the same round every check is recorded, one of them failed.
    root = _scenario(tmp_path, turns=1, halt_on_critical=True)
    metrics = yaml.safe_load((root / "metrics.yaml").read_text())
    metrics["metrics"][0]["extraction"]["model"] = "test/dear"
    (root / "metrics.yaml").write_text(yaml.safe_dump(metrics))
    # the other test models are free (a price of 0: known, so a credit limit may hold)
    prices = PriceTable.load().merged({"test/*": (0.0, 0.0), "test/dear": (1000.0, 1000.0)})

    def respond(request: dict[str, Any]) -> str | None:
        if _schema(request) == "validation":
            return _verdict("plausibility" not in json.dumps(request["messages"]))
        return None

    db = tmp_path / "log.db"
    with FakeLLMServer(responder=respond) as fake:
        run_id = _play(db, root, fake.base_url, credit_limit=0.01, prices=prices)
        with EventStore.open(db) as store:
            halted = [r.event for r in store.read(run_id)][-1]
        # the verdict is weighed now: a resume, finding every check recorded, would not
        assert (halted.reason, halted.detail) == (
            "validation",
            "critical validation failed in turn 1: plausibility",
        )
        assert _round_types(db, run_id) == {1: ["m", "m", *CHECKS]}
        with EventStore.open(db) as store:
            prepare_resume(store, run_id, credit_limit_usd=100.0)
        _play(db, root, fake.base_url, run_id=run_id, prices=prices)
    rows = payloads(db, run_id)
    assert rows[-1][1] == "RunCompleted"
    assert _round_types(db, run_id) == {1: ["m", "m", *CHECKS, "M"]}


# -- ordering: the rule every round follows ---------------------------------------------


def _ordered(
    delays: list[float], fail: dict[int, Exception] | None = None
) -> tuple[list[int], Exception | None]:
    """What ``in_order`` writes (each task's index) over tasks that finish after
    ``delays``, the ones in ``fail`` raising after their append; and what it raised."""
    written: list[int] = []

    def write(events: Any, blobs: Any) -> None:
        written.extend(e.turn for e in events)

    async def work(index: int) -> None:
        await anyio.sleep(delays[index])
        ordering.append([TurnCompleted(turn=index)], None, write)
        if fail and index in fail:
            raise fail[index]

    try:
        anyio.run(ordering.in_order, list(range(len(delays))), work, write)
    except Exception as e:
        return written, e
    return written, None


def test_events_land_in_task_order_whatever_order_tasks_finish_in() -> None:
    assert _ordered([0.03, 0.0, 0.02, 0.01]) == ([0, 1, 2, 3], None)


def test_the_first_halt_in_task_order_is_raised_not_the_first_in_time() -> None:
    one, two = Halt("credit_limit", "one"), Halt("credit_limit", "two")
    # task 2 halts first in time; both halted tasks' events are still written
    assert _ordered([0.0, 0.03, 0.0], {1: one, 2: two}) == ([0, 1, 2], one)


def test_an_error_stops_the_writing_and_wins_over_a_halt() -> None:
    broken, over = ValueError("broken"), Halt("budget", "over")
    # task 1 fails first: nothing held behind task 0 is written after that
    assert _ordered([0.02, 0.0], {0: over, 1: broken}) == ([], broken)
