"""Log lines as a user meets them: the real CLI in a subprocess, stderr and stdout apart.

Lines go to stderr (or ``--log-file``), never stdout; in JSON each line is one object
carrying its run, turn, phase (and actor, for a model call); a bad setting is one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine_helpers import LLM3, RULES3, SECRET_KEY
from tests.fakellm import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent


def scenario_lab(*args: Any, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, so stderr and stdout are the real, separate streams."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO_LAB_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **(env or {})},
        timeout=120,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """The log lines of ``text`` (JSON objects); the CLI's own status lines are skipped."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_lines_carry_the_run_turn_and_phase(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    out = scenario_lab(
        "--log-level", "info", "--log-format", "json", "run", RULES3, "--db", db, "--turns", "2"
    )
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    lines = json_lines(out.stderr)
    events = [line["event"] for line in lines]
    assert events[0] == "run.start" and "run.play" in events and "run.complete" in events
    assert events[-1] == "run.end"
    assert all(line["run"] == run_id for line in lines if line["logger"] != "asyncio")
    assert all({"timestamp", "level", "logger"} <= set(line) for line in lines)
    phases = [(line["turn"], line["phase"]) for line in lines if line["event"] == "phase.end"]
    order = ["start", "talks", "decisions", "world_update", "measure"]
    assert phases == [(t, p) for t in (1, 2) for p in order]
    assert [line["turn"] for line in lines if line["event"] == "turn.end"] == [1, 2]
    assert all(line["elapsed_ms"] >= 0 for line in lines if line["event"].endswith(".end"))


def test_text_lines_are_key_value(tmp_path: Path) -> None:
    out = scenario_lab("--log-level", "info", "run", RULES3, "--db", tmp_path / "l.db")
    assert out.returncode == 0, out.stderr
    ends = [line for line in out.stderr.splitlines() if " turn.end " in line]
    assert len(ends) == 4
    assert all("turn=" in line and "run=" in line and "elapsed_ms=" in line for line in ends)


def test_model_calls_are_logged_with_their_actor_tokens_and_cost(tmp_path: Path) -> None:
    with FakeLLMServer() as fake:
        env = {"SCENARIO_LAB_LLM_BASE_URL": fake.base_url, "SCENARIO_LAB_LLM_API_KEY": SECRET_KEY}
        out = scenario_lab(
            "--log-level", "info", "--log-format", "json",
            "run", LLM3, "--db", tmp_path / "l.db", "--turns", "1",
            env=env,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        lines = json_lines(out.stderr)
        calls = [line for line in lines if line["event"] == "model.call"]
        assert len(calls) == fake.request_count
    # httpx's own line of each request carries the context of the call it belongs to
    http = [line for line in lines if line["event"].startswith("HTTP Request: POST")]
    assert len(http) == len(calls) and all(line["logger"] == "httpx" for line in http)
    asked = sorted(line["actor"] for line in http if line["phase"] == "decisions")
    assert asked == ["ngo", "regulator", "techco"]
    decisions = [c for c in calls if c["purpose"] == "decision"]
    assert sorted(c["actor"] for c in decisions) == ["ngo", "regulator", "techco"]
    for c in calls:
        assert c["phase"] in ("decisions", "world_update", "measure") and c["turn"] == 1
        assert c["input_tokens"] > 0 and c["output_tokens"] > 0 and c["attempts"] == 1
        assert c["failed_attempts"] == 0 and c["latency_ms"] >= 0 and "cost_usd" in c
        assert c["model"].startswith("test/")
    assert all(c["phase"] == "decisions" for c in decisions)


def test_a_failed_model_call_is_logged_with_its_attempts_and_not_twice_by_default(
    tmp_path: Path,
) -> None:
    outs = []
    with FakeLLMServer() as fake:
        fake.fail_next(200, "401")  # refused outright: no retry, every call fails
        env = {"SCENARIO_LAB_LLM_BASE_URL": fake.base_url, "SCENARIO_LAB_LLM_API_KEY": SECRET_KEY}
        for level in ("info", "warning"):
            args = ["--log-level", level, "--log-format", "json"]
            outs.append(scenario_lab(*args, "run", LLM3, "--db", tmp_path / f"{level}.db", env=env))
    lines = json_lines(outs[0].stderr)
    failed = [line for line in lines if line["event"] == "model.call_failed"]
    assert failed, outs[0].stderr
    assert all(f["level"] == "info" and f["outcomes"] == "http_401" for f in failed)
    assert all(f["attempts"] == 1 and "401" in f["error"] for f in failed)
    assert {f["actor"] for f in failed if f["purpose"] == "decision"} == {
        "ngo",
        "regulator",
        "techco",
    }
    # the CLI reports what failed itself: at the default level no log line repeats it
    assert json_lines(outs[1].stderr) == []


def test_log_file_gets_the_lines_and_stderr_none(tmp_path: Path) -> None:
    log = tmp_path / "scenario-lab.log"
    for _ in range(2):
        out = scenario_lab(
            "--log-level", "info", "--log-format", "json", "--log-file", log,
            "run", RULES3, "--db", tmp_path / "l.db", "--turns", "1",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json_lines(out.stderr) == []
    lines = json_lines(log.read_text())
    assert [line["event"] for line in lines].count("run.start") == 2  # appended


def test_settings_come_from_the_environment_too(tmp_path: Path) -> None:
    log = tmp_path / "env.log"
    env = {
        "SCENARIO_LAB_LOG_LEVEL": "INFO",
        "SCENARIO_LAB_LOG_FORMAT": "json",
        "SCENARIO_LAB_LOG_FILE": str(log),
    }
    out = scenario_lab("run", RULES3, "--db", tmp_path / "l.db", "--turns", "1", env=env)
    assert out.returncode == 0, out.stderr
    assert "run.start" in [line["event"] for line in json_lines(log.read_text())]


def test_stdout_stays_data_at_the_debug_level(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    run = scenario_lab("--log-level", "debug", "run", RULES3, "--db", db, "--turns", "1")
    assert run.stdout.strip().count("\n") == 0  # the run id alone
    assert "run.start" in run.stderr
    run_id = run.stdout.strip()
    out = scenario_lab(
        "--log-level", "debug", "--log-format", "json", "replay", run_id, "--db", db, "--json"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["turn"] == 1  # one document, nothing else


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--log-level", "loud"], {}, "log level 'loud' is not one of debug, info, warning"),
        ([], {"SCENARIO_LAB_LOG_LEVEL": "verbose"}, "(--log-level or SCENARIO_LAB_LOG_LEVEL)"),
        (["--log-format", "xml"], {}, "log format 'xml' is not one of text, json"),
        (["--log-file", "/nonexistent/dir/x.log"], {}, "cannot write the log file"),
    ],
)
def test_a_bad_setting_is_one_line(args: list[str], env: dict[str, str], expected: str) -> None:
    out = scenario_lab(*args, "runs", "--db", "/nonexistent/never.db", env=env)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith("error: ")
    assert expected in out.stderr


def test_a_batch_in_worker_processes_logs_through_the_parent(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        f"experiment_name: log test\nbase_scenario: {RULES3}\nruns_per_variation: 2\n"
        "max_parallel: 2\nseed: 5\nvariations:\n  - type: scenario_parameter\n"
        "    parameter: turns\n    values: [1, 2]\n"
    )
    log = tmp_path / "batch.log"
    out = scenario_lab(
        "--log-level", "info", "--log-format", "json", "--log-file", log,
        "batch", "run", sweep, "--db", tmp_path / "l.db",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = json_lines(log.read_text())
    events = [line["event"] for line in lines]
    assert events.count("batch.worker.start") >= 1 and events.count("batch.run") == 4
    assert "batch.workers.start" in events and "batch.workers.finish" in events
    batch = {line["batch"] for line in lines if "batch" in line}
    assert len(batch) == 1
    # lines from inside the workers carry the run and batch they belong to
    ends = [line for line in lines if line["event"] == "run.end"]
    assert len(ends) == 4 and all(line["batch"] in batch and line["run"] for line in ends)
