"""Exit codes through the real CLI: a halted run exits 3 (resumable) whatever halted it,
the hint it prints works as printed (with the endpoint it was given), nothing to play
is a one-line error that writes no branch, and the codes are the ones --help and
README state."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cli.errors import EXIT_CODES, EXIT_HALTED, EXIT_USAGE
from tests.engine_helpers import LLM3, SECRET_KEY, cli, last_line, runs_json
from tests.fakellm import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent
STRAIT = ROOT / "scenarios" / "strait-crisis"
TABLETOP = ROOT / "scenarios" / "tabletop-human"
KEY_ONLY = {"SCENARIO_LAB_LLM_API_KEY": SECRET_KEY, "SCENARIO_LAB_LLM_BASE_URL": ""}


def _then_command(stderr: str) -> list[str]:
    """The arguments of the ``then: scenario-lab ...`` line a halted run printed."""
    (line,) = [x for x in stderr.splitlines() if x.strip().startswith("then: ")]
    args = shlex.split(line.strip().removeprefix("then: "))
    assert args[0] == "scenario-lab", line
    return args[1:]


@pytest.fixture
def fake() -> FakeLLMServer:
    with FakeLLMServer() as srv:
        yield srv


def test_an_endpoint_outage_halts_with_exit_3_in_a_real_process_and_the_hint_resumes(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    fake.fail_next(1000, "400")  # refused, not retried: every call of turn 1 fails
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.app import main; main()",
            "run",
            str(LLM3),
            "--db",
            str(db),
            "--llm-base-url",
            fake.base_url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **KEY_ONLY},
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == EXIT_HALTED, proc.stderr
    assert "halted (llm_unavailable)" in proc.stderr
    run_id = last_line(proc.stdout)
    # the endpoint came from a flag, not the environment: the hint must carry it
    args = _then_command(proc.stderr)
    assert args[:2] == ["resume", run_id] and fake.base_url in args, args
    fake.reset()
    resumed = cli(*args, env=KEY_ONLY)
    assert resumed.exit_code == 0, resumed.output
    assert f"run {run_id} completed" in resumed.stderr


def test_the_hint_leaves_out_what_the_environment_already_gives(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    fake.fail_next(1000, "400")
    env = {**KEY_ONLY, "SCENARIO_LAB_LLM_BASE_URL": fake.base_url}
    result = cli("run", LLM3, "--db", db, "--concurrency", "3", env=env)
    assert result.exit_code == EXIT_HALTED, result.output
    args = _then_command(result.stderr)
    assert "--llm-base-url" not in args and args[-4:] == ["--concurrency", "3", "--db", str(db)]


def test_a_credit_limit_halt_exits_3_and_its_hint_raises_the_limit(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    prices = tmp_path / "prices.json"
    per_million = {"input": 1000.0, "output": 1000.0}
    prices.write_text(json.dumps({"test/actor": per_million, "test/world": per_million}))
    args = ["--llm-base-url", fake.base_url, "--prices", prices, "--credit-limit", "0.5"]
    result = cli("run", LLM3, "--db", db, *args, env=KEY_ONLY)
    assert result.exit_code == EXIT_HALTED, result.output
    assert "halted (credit_limit)" in result.stderr
    args = _then_command(result.stderr)
    assert "--credit-limit" in args and fake.base_url in args and str(prices) in args
    # the printed command works: the run goes on, to its end or the doubled limit
    resumed = cli(*args, env=KEY_ONLY)
    assert resumed.exit_code in (0, EXIT_HALTED) and "error" not in resumed.stderr, resumed.output
    assert "$1.0000" in resumed.stderr or "completed" in resumed.stderr


def test_a_batch_cut_short_by_its_budget_exits_3_and_its_hint_goes_on(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    prices = tmp_path / "prices.json"
    per_million = {"input": 100.0, "output": 100.0}
    models = ("test/small", "test/large", "test/actor", "test/world")
    prices.write_text(json.dumps({m: per_million for m in models}))
    batch = ROOT / "tests" / "data" / "batches" / "llm.yaml"
    args = ["--llm-base-url", fake.base_url, "--prices", prices, "--parallel", "1"]
    result = cli("batch", "run", batch, "--db", db, *args, "--budget", "0.05", env=KEY_ONLY)
    assert result.exit_code == EXIT_HALTED, result.output
    then = _then_command(result.stderr)
    assert then[:2] == ["batch", "resume"] and fake.base_url in then and str(prices) in then
    finished = cli(*then, "--budget", "1000", env=KEY_ONLY)
    assert finished.exit_code == 0, finished.output


def test_a_human_seat_halt_exits_3_and_so_does_a_resume_that_cannot_answer_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    halted = cli("run", TABLETOP, "--db", db, "--seed", "1")
    assert halted.exit_code == EXIT_HALTED, halted.output
    assert "halted (human_input)" in halted.stderr
    run_id = last_line(halted.stdout)
    again = cli("resume", run_id, "--db", db)
    assert again.exit_code == EXIT_HALTED, again.output
    assert again.stderr.startswith("error: ") and len(again.stderr.strip().splitlines()) == 1


def test_a_completed_run_exits_0(tmp_path: Path) -> None:
    result = cli("run", STRAIT, "--db", tmp_path / "log.db", "--turns", "2")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("extra", [[], ["--count", "3"]])
def test_forking_at_the_last_turn_to_play_is_a_one_line_error_and_writes_no_branch(
    tmp_path: Path, extra: list[str]
) -> None:
    db = tmp_path / "log.db"
    run_id = last_line(cli("run", STRAIT, "--db", db, "--turns", "3").stdout)
    before = runs_json(db)
    result = cli("fork", run_id, "--at-turn", "3", "--play", "--db", db, *extra)
    assert result.exit_code == EXIT_USAGE, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "no turn left to play" in err and "--turns" in err
    assert runs_json(db) == before


def test_forking_at_the_last_turn_with_more_turns_or_without_playing_still_works(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    run_id = last_line(cli("run", STRAIT, "--db", db, "--turns", "3").stdout)
    longer = cli("fork", run_id, "--at-turn", "3", "--play", "--turns", "4", "--db", db)
    assert longer.exit_code == 0 and "completed 4 turns" in longer.stderr, longer.output
    kept = cli("fork", run_id, "--at-turn", "3", "--db", db)
    assert kept.exit_code == 0, kept.output


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    result = cli("--version")
    assert result.exit_code == 0 and result.stdout == f"scenario-lab {version('scenario-lab')}\n"


def test_help_and_readme_state_every_exit_code() -> None:
    help_text = cli("--help").stdout
    readme = (ROOT / "README.md").read_text()
    for code, meaning in EXIT_CODES:
        assert re.search(rf"^\s*{code}\s+{re.escape(meaning)}$", help_text, re.M), code
        assert f"| {code} | {meaning} |" in readme, code
    for command in (["run"], ["resume"], ["fork"], ["batch", "run"], ["batch", "resume"]):
        assert "Exit codes:" in cli(*command, "--help").stdout, command
