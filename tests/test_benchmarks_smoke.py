"""The store and CLI benchmarks run (``--quick``) and print one JSON object each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
}


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("script", sorted(EXPECTED_KEYS))
def test_benchmark_quick_run_prints_one_json_object(script: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    assert EXPECTED_KEYS[script] <= result.keys()
    assert result["benchmark"] == script.removeprefix("bench_").removesuffix(".py")
    numbers = {k: v for k, v in result.items() if k.endswith(("_per_s", "_ms", "ratio"))}
    assert all(isinstance(v, int | float) and v > 0 for v in numbers.values()), numbers
