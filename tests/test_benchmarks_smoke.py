"""Every benchmark runs (``--quick``) and prints one JSON object with its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

EXPECTED_KEYS = {
    "bench_append.py": {
        "events",
        "store_events_per_s",
        "raw_sqlite_events_per_s",
        "ratio",
        "target_ratio",
        "meets_target",
    },
    "bench_fork.py": {
        "small_parent_events",
        "large_parent_events",
        "small_fork_ms",
        "large_fork_ms",
        "fork_ratio",
        "small_replay_ms",
        "large_replay_ms",
        "replay_ratio",
        "meets_target",
    },
    "bench_replay.py": {"events", "baseline_events_per_s", "replay_events_per_s", "ratio"},
    "bench_verify.py": {"events", "verify_events_per_s", "sha256_events_per_s", "ratio"},
    "bench_cli_startup.py": {"help_ms", "python_pass_ms", "target_ms", "meets_target"},
    "bench_server.py": {"sse_p99_ms", "runs_page_p95_ms", "events_page_p95_ms", "run_get_ratio"},
    "bench_prompt_cache.py": {
        "prompt_tokens_per_decision",
        "stable_prefix_tokens_by_actor",
        "decision_previous_turn_prefix_share",
        "decision_cacheable_share_after_turn_1",
        "by_purpose",
        "recorded_with_fake_cache",
    },
}


def quick_run(script: str, timeout: float) -> dict[str, Any]:
    """The one JSON object ``script --quick`` prints."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    assert result["benchmark"] == script.removeprefix("bench_").removesuffix(".py")
    return result


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("script", sorted(EXPECTED_KEYS))
def test_benchmark_quick_run_prints_one_json_object(script: str) -> None:
    result = quick_run(script, timeout=50)
    assert EXPECTED_KEYS[script] <= result.keys()
    numbers = {k: v for k, v in result.items() if k.endswith(("_per_s", "_ms", "ratio"))}
    assert all(isinstance(v, int | float) and v > 0 for v in numbers.values()), numbers


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_batch_benchmark_plays_both_batches() -> None:
    result = quick_run("bench_batch.py", timeout=110)
    rules, llm = result["rules"], result["llm"]
    assert rules["runs"] == 20 and rules["events"] == 20 * 205  # 5 actors, 20 turns
    for key in ("wall_s_2_workers", "events_per_s_1_worker", "speedup_ratio"):
        assert isinstance(rules[key], int | float) and rules[key] > 0, key
    assert llm["calls"] == 6 * 15 and 0 < llm["ratio"] <= 1.05  # 4 actors + world, 3 turns


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_projections_benchmark_measures_every_part() -> None:
    result = quick_run("bench_projections.py", timeout=110)
    for key in (
        "rebuild_events_per_s",
        "baseline_arrow_load_events_per_s",
        "catch_up_ms",
        "final_metrics_query_ms",
        "report_50x5_ms",
        "compare_50x5_branches_ms",
    ):
        assert isinstance(result[key], int | float) and result[key] > 0, key


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_engine_benchmark_measures_overhead_concurrency_and_rules() -> None:
    result = quick_run("bench_engine.py", timeout=50)
    overhead, concurrency, rules = result["overhead"], result["concurrency"], result["rules"]
    assert overhead["decisions"] == 9 and overhead["engine_ms_per_decision"] > 0
    # 3 runs x 1 turn x (6 actors + the world update)
    assert concurrency["calls"] == 21 and 0 < concurrency["ratio"] <= 1.05
    assert concurrency["phase_bound"] <= 1.0
    assert rules["events"] > 0 and rules["wall_s"] > 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_cli_run_benchmark_times_the_start_and_the_end() -> None:
    result = quick_run("bench_cli_run.py", timeout=110)
    for case in ("baseline", "now_new_log", "now_existing_log"):
        for key in ("start_to_first_call_ms", "last_answer_to_exit_ms", "cpu_ms"):
            low, median, high = result[case][key]
            assert 0 < low <= median <= high, (case, key)
