"""Reliability: runs the server plays survive the server. A ``serve`` process killed
with SIGKILL mid-run leaves the run interrupted; a new server lists it so, and resuming
it over the API finishes it without paying again for any recorded call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.engine_helpers import DATA, llm_env, payloads
from tests.fakellm import FakeLLMServer
from tests.server_helpers import wait_run

SERVE = [sys.executable, "-c", "from cli.app import main; main()", "serve"]


def _serve(db: Path, base_url: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*SERVE, "--db", str(db), "--port", "0", "--scenarios", str(DATA)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **llm_env(base_url)},
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "healthz", timeout=5)
            return proc, url
        except httpx.ConnectError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


@pytest.mark.slow
def test_a_killed_server_leaves_its_run_interrupted_and_resume_finishes_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "lab.db"
    with FakeLLMServer(latency_s=0.2) as fake:
        base_url = fake.base_url
        proc, url = _serve(db, base_url)
        try:
            with httpx.Client(base_url=url, timeout=30) as c:
                r = c.post("/api/v1/runs", json={"scenario": "llm3", "turns": 3, "seed": 2})
                assert r.status_code == 201, r.text
                run_id = r.json()["run_id"]
                wait_run(c, run_id, lambda run: run["turns_completed"] >= 1)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        proc, url = _serve(db, base_url)
        try:
            with httpx.Client(base_url=url, timeout=30) as c:
                run = c.get(f"/api/v1/runs/{run_id}").json()
                assert run["status"] == "interrupted", run
                assert c.post(f"/api/v1/runs/{run_id}/resume").status_code == 200
                run = wait_run(c, run_id, lambda r: r["status"] != "running")
                assert run["status"] == "completed" and run["turns_completed"] == 3
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    rows = payloads(db, run_id)
    # each recorded call was paid once: no request id has two costs
    costs = Counter(
        (p["purpose"], p.get("actor"), p.get("request_id"), t)
        for t, ty, p in rows
        if ty == "CostIncurred"
    )
    assert costs and max(costs.values()) == 1, costs
    assert [ty for _t, ty, _p in rows].count("RunResumed") == 1
