"""Batches on Ray (``--executor ray``) on a local Ray cluster of 2 CPUs, started once for
this module: rule runs as tasks give the same log as the process pool; LLM runs on run
hosts share one cap on calls in flight and one budget across the cluster; a worker
killed mid-run leaves no duplicate event and no repaid call; the error paths."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from engine.rng import llm_seed  # noqa: E402
from eventstore import EventStore  # noqa: E402
from tests.engine_helpers import llm_env  # noqa: E402
from tests.fakellm import FakeLLMServer  # noqa: E402
from tests.test_batch_helpers import (  # noqa: E402
    APP_CODE,
    BATCHES,
    batch_rows,
    bcli,
    last_line,
)
from tests.test_batch_llm import LLM_BATCH, PRICES  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    """One local Ray for the module (it takes seconds to start); the CLI joins it."""
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICES))
    return path


def _show(db: Path, batch_id: str) -> dict[str, Any]:
    result = bcli("batch", "show", batch_id, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _timelines(db: Path, batch_id: str) -> dict[int, list[tuple[str, Any]]]:
    """Each run's own events by its seed (run ids differ between batches), without the
    fields that time them."""

    def clean(p: Any) -> Any:
        if isinstance(p, dict):
            return {k: clean(v) for k, v in p.items() if k not in ("latency_ms", "recorded_at")}
        return p

    out = {}
    for _run_id, events in batch_rows(db, batch_id):
        seed = next(p["seed"] for t, p in events if t == "RunStarted")
        out[seed] = [(t, clean(p)) for t, p in events if t != "RunStarted"]
    return out


def _assert_clean_log(db: Path, batch_id: str) -> None:
    """Every run's seqs run 1..n without gap or repeat, no event twice, the chain holds."""
    with sqlite3.connect(db) as conn:
        for (run_id,) in conn.execute("SELECT run_id FROM runs WHERE batch_id = ?", (batch_id,)):
            seqs = [
                s
                for (s,) in conn.execute(
                    "SELECT seq FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
                )
            ]
            assert seqs == list(range(1, len(seqs) + 1)), run_id
            turns = [
                t
                for (t,) in conn.execute(
                    "SELECT turn FROM events WHERE run_id = ? AND type = 'TurnCompleted'", (run_id,)
                )
            ]
            assert len(turns) == len(set(turns)), f"{run_id}: a turn completed twice"
        dup = conn.execute("SELECT count(*) - count(DISTINCT event_id) FROM events").fetchone()[0]
        assert dup == 0
    with EventStore.open(db) as store:
        for info in store.list_runs(batch_id=batch_id):
            assert store.verify(info.run_id).ok, info.run_id


def test_a_rule_batch_on_ray_records_what_the_process_pool_records(tmp_path: Path) -> None:
    pool_db, ray_db = tmp_path / "pool.db", tmp_path / "ray.db"
    pooled = bcli("batch", "run", BATCHES / "rules.yaml", "--db", pool_db)
    assert pooled.exit_code == 0, pooled.output
    on_ray = bcli("batch", "run", BATCHES / "rules.yaml", "--db", ray_db, "--executor", "ray")
    assert on_ray.exit_code == 0, on_ray.output
    batch_id = last_line(on_ray.stdout)
    assert _show(ray_db, batch_id)["counts"]["completed"] == 16
    # same seeds, same scenario: event for event the same runs, wherever they played
    assert _timelines(ray_db, batch_id) == _timelines(pool_db, last_line(pooled.stdout))
    _assert_clean_log(ray_db, batch_id)


class _Counting:
    """A responder that counts each distinct call answered and the calls in flight."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.hold_s = hold_s
        self.answered: Counter[str] = Counter()
        self.active = 0
        self.most_active = 0
        self.lock = threading.Lock()

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        return json.dumps([request["model"], request.get("seed"), request["messages"]])

    def __call__(self, request: dict[str, Any]) -> None:
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.hold_s)  # bounded: the hold of one call
        finally:
            with self.lock:
                self.active -= 1
                self.answered[self.key(request)] += 1
        return None  # the fake's default, schema-valid answer


def _recorded_calls(db: Path, batch_id: str) -> int:
    return sum(
        1 for _r, events in batch_rows(db, batch_id) for t, _p in events if t == "CostIncurred"
    )


def test_llm_runs_on_two_hosts_share_one_cap_on_calls_in_flight(
    tmp_path: Path, prices: Path
) -> None:
    db = tmp_path / "log.db"
    counting = _Counting(hold_s=0.05)
    with FakeLLMServer() as fake:
        fake.responder = counting
        result = bcli(
            "batch", "run", LLM_BATCH, "--db", db, "--prices", prices,
            "--executor", "ray", "--parallel", "6", "--concurrency", "2",
            env=llm_env(fake.base_url),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    batch_id = last_line(result.stdout)
    shown = _show(db, batch_id)
    assert shown["counts"]["completed"] == 6 and shown["cost_usd"] > 0
    # six runs on two hosts, yet never more than two calls in flight across them
    assert counting.most_active == 2
    assert sum(counting.answered.values()) == _recorded_calls(db, batch_id)
    _assert_clean_log(db, batch_id)


def test_one_budget_across_the_cluster_stops_the_batch_before_a_call_crosses_it(
    tmp_path: Path, prices: Path
) -> None:
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        args = ("--db", db, "--prices", prices, "--executor", "ray")
        env = llm_env(fake.base_url)
        result = bcli(
            "batch", "run", LLM_BATCH, *args, "--parallel", "4", "--budget", "0.12", env=env
        )
        assert result.exit_code == 3, result.output  # cut short, resumable
        batch_id = last_line(result.stdout)
        shown = _show(db, batch_id)
        assert shown["budget_spent"] is True and 0 < shown["cost_usd"] <= 0.12
        whys = [r["why"] for r in shown["runs"] if r["status"] != "completed"]
        assert whys and all("batch budget" in w for w in whys), whys
        more = bcli("batch", "resume", batch_id, *args, "--budget", "5", env=env)
        assert more.exit_code == 0, more.output
    assert _show(db, batch_id)["counts"]["completed"] == 6
    _assert_clean_log(db, batch_id)


class _KillOnce(_Counting):
    """Answers like ``_Counting``; the world model's call of turn 2 of the first run to
    get there instead kills the Ray worker playing that run (SIGKILL) and goes
    unanswered. Its run's decisions of that turn are in the log by then (the world
    update follows them), and with one run per host nothing else of that worker is in
    flight: every answered call must end up in the log exactly once."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db
        self.killed: tuple[str, int] | None = None

    def __call__(self, request: dict[str, Any]) -> None:
        if self.killed is None and request["model"] == "test/world":
            with self.lock:
                run_id = self._run_at_turn_2(request.get("seed"))
                if run_id is not None and self.killed is None:
                    lock = self.db.with_name(self.db.name + ".locks") / f"{run_id}.lock"
                    pid = int(lock.read_text())
                    assert pid != os.getpid()
                    os.kill(pid, signal.SIGKILL)
                    self.killed = (run_id, pid)
                    raise ConnectionAbortedError("the worker that asked is dead")
        return super().__call__(request)

    def _run_at_turn_2(self, seed: int | None) -> str | None:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("SELECT run_id, payload FROM events WHERE type = 'RunStarted'")
            for run_id, payload in rows:
                if llm_seed(json.loads(payload)["seed"], 2, "world") == seed:
                    return str(run_id)
        return None


def test_a_worker_killed_mid_run_resumes_elsewhere_without_repaid_calls(
    tmp_path: Path, prices: Path
) -> None:
    db = tmp_path / "log.db"
    killer = _KillOnce(db)
    with FakeLLMServer() as fake:
        fake.responder = killer
        result = bcli(
            "batch", "run", LLM_BATCH, "--db", db, "--prices", prices,
            "--executor", "ray", "--parallel", "2",
            env=llm_env(fake.base_url),
        )  # fmt: skip
    assert killer.killed is not None, "no worker was killed"
    assert result.exit_code == 0, result.output
    batch_id = last_line(result.stdout)
    shown = _show(db, batch_id)
    assert shown["counts"]["completed"] == 6 and len(shown["runs"]) == 6
    run_id, pid = killer.killed
    rows = dict(batch_rows(db, batch_id))[run_id]
    assert [t for t, _p in rows].count("RunResumed") == 1  # picked up where it stopped
    # no call answered twice, and every answered call is in the log once
    assert max(killer.answered.values()) == 1
    assert sum(killer.answered.values()) == _recorded_calls(db, batch_id)
    _assert_clean_log(db, batch_id)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_without_the_ray_extra_the_executor_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when not installed
    db = tmp_path / "log.db"
    result = bcli("batch", "run", BATCHES / "rules.yaml", "--db", db, "--executor", "ray")
    assert result.exit_code == 2
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "--executor ray needs Ray" in line and "pip install 'scenario-lab[ray]'" in line
    assert "Traceback" not in result.output


def test_an_unknown_executor_or_a_stray_address_is_refused_before_anything_is_recorded(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    bad = bcli("batch", "run", BATCHES / "rules.yaml", "--db", db, "--executor", "dask")
    assert bad.exit_code == 2
    assert "error: --executor dask is not an executor: choose process or ray" in bad.stderr
    stray = bcli("batch", "run", BATCHES / "rules.yaml", "--db", db, "--address", "10.0.0.1:6379")
    assert stray.exit_code == 2 and "it goes with --executor ray" in stray.stderr
    assert not db.exists()


@pytest.mark.slow
def test_a_bad_address_is_one_line_and_the_batch_resumes_on_a_good_one(tmp_path: Path) -> None:
    # in a process of its own: this module's process has joined a cluster already
    db = tmp_path / "log.db"
    args = ["batch", "run", str(BATCHES / "rules.yaml"), "--db", str(db), "--executor", "ray"]
    proc = subprocess.run(
        [sys.executable, "-c", APP_CODE, *args, "--address", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: cannot reach the Ray cluster at 127.0.0.1:1")
    assert "ray start --head" in line and "Traceback" not in proc.stderr
    batch_id = next(
        x.split()[1].rstrip(":") for x in proc.stderr.splitlines() if x.startswith("batch ")
    )
    address = ray.get_runtime_context().gcs_address
    again = bcli("batch", "resume", batch_id, "--db", db, "--executor", "ray", "--address", address)
    assert again.exit_code == 0, again.output
    assert _show(db, batch_id)["counts"]["completed"] == 16


def test_a_rule_worker_killed_mid_run_is_retried_and_the_batch_has_exactly_its_runs(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from _scenarios import rules_scenario

    from eventstore import is_held
    from tests.test_batch_helpers import write_batch

    scenario = rules_scenario(tmp_path / "scenario", 5, 40, "ray-kill-rules")
    fields = {"experiment_name": "kill", "base_scenario": str(scenario)}
    file = write_batch(tmp_path, "b.yaml", {**fields, "runs_per_variation": 8, "seed": 3})
    db = tmp_path / "log.db"
    killed: list[int] = []

    def kill_one_holder() -> None:
        locks = db.with_name(db.name + ".locks")
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for lock in locks.glob("*.lock") if locks.exists() else ():
                run_id = lock.name.removesuffix(".lock")
                if run_id.startswith("batch-") or not is_held(db, run_id):
                    continue
                pid = int(lock.read_text() or 0)
                if pid and pid != os.getpid():
                    os.kill(pid, signal.SIGKILL)  # a Ray worker, mid-run
                    killed.append(pid)
                    return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one_holder)
    killer.start()
    result = bcli("batch", "run", file, "--db", db, "--executor", "ray")
    killer.join(timeout=130)
    assert killed, "no worker was killed"
    assert result.exit_code == 0, result.output
    batch_id = last_line(result.stdout)
    shown = _show(db, batch_id)
    assert shown["counts"]["completed"] == 8 and len(shown["runs"]) == 8
    for _run_id, events in batch_rows(db, batch_id):
        kinds = Counter(t for t, _p in events)
        assert kinds["RunStarted"] == kinds["RunCompleted"] == 1
    _assert_clean_log(db, batch_id)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_ray_benchmark_prints_its_ratios() -> None:
    from tests.test_benchmarks_smoke import quick_run

    result = quick_run("bench_batch_ray.py", timeout=230)
    rules, llm = result["rules"], result["llm"]
    assert rules["runs"] == 20 and rules["events"] == 20 * 205  # 5 actors, 20 turns
    assert rules["ratio"] > 0 and rules["events_per_s_pool"] > 0
    assert llm["calls_ray"] == llm["calls_process"] == 6 * 15  # 4 actors + world, 3 turns
    assert llm["steady_ratio"] > 0 and llm["ray_to_process_ratio"] > 0


def test_workers_get_the_log_as_db_names_it_a_url_unchanged_a_file_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.batch.ray_executor import log_location

    monkeypatch.chdir(tmp_path)
    assert log_location("postgresql://lab@db.example/scenario_lab") == (
        "postgresql://lab@db.example/scenario_lab"
    )
    assert log_location("runs/log.db") == str(tmp_path.resolve() / "runs" / "log.db")


def test_nothing_imports_ray_until_the_executor_is_used() -> None:
    code = (
        "import sys, engine.fold, engine.batch.play, scenario_lab.app, cli.app; "
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
