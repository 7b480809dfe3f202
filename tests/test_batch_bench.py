"""The batch benchmark runs (``--quick``) and prints one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_batch.py"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_quick_run_prints_one_json_object() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert result["benchmark"] == "batch"
    rules, llm = result["rules"], result["llm"]
    assert rules["runs"] == 20 and rules["events"] == 20 * 205  # 5 actors, 20 turns
    for key in ("wall_s_2_workers", "events_per_s_1_worker", "speedup_ratio"):
        assert isinstance(rules[key], int | float) and rules[key] > 0, key
    assert llm["calls"] == 6 * 15 and 0 < llm["ratio"] <= 1.05  # 4 actors + world, 3 turns
