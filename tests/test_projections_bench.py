"""The projections benchmark runs (``--quick``) and prints one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_projections.py"


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
    assert result["benchmark"] == "projections"
    for key in (
        "rebuild_events_per_s",
        "baseline_arrow_load_events_per_s",
        "catch_up_ms",
        "final_metrics_query_ms",
        "report_50x5_ms",
        "compare_50x5_branches_ms",
    ):
        assert isinstance(result[key], int | float) and result[key] > 0, key
