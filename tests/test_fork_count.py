"""Monte-Carlo continuations through the CLI, and the batch report of them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.engine_helpers import RULES3, cli, last_line, payloads


def test_fork_count_plays_branches_with_different_seeds(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    parent = last_line(cli("run", RULES3, "--db", db, "--seed", "2").stdout)
    result = cli(
        "fork", parent, "--db", db, "--at-turn", "2", "--play", "--count", "4", "--parallel", "2"
    )
    assert result.exit_code == 0, result.output
    batch_id = last_line(result.stdout)
    runs = json.loads(cli("runs", "--db", db, "--json").stdout)
    branches = [r for r in runs if r["parent_run_id"] == parent]
    assert len(branches) == 4 and all(r["status"] == "completed" for r in branches)
    assert all(r["batch_id"] == batch_id for r in branches)
    seeds = {
        p["seed"] for b in branches for _t, ty, p in payloads(db, b["run_id"]) if ty == "RunForked"
    }
    assert len(seeds) == 4  # each continuation draws differently
    shown = json.loads(cli("batch", "show", batch_id, "--db", db, "--json").stdout)
    assert shown
    report = cli("report", "--batch", batch_id, "--db", db)
    assert report.exit_code == 0 and "# Batch" in report.stdout and "tension" in report.stdout


def test_fork_count_usage_errors(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    parent = last_line(cli("run", RULES3, "--db", db).stdout)
    no_play = cli("fork", parent, "--db", db, "--at-turn", "1", "--count", "3")
    assert no_play.exit_code == 2 and "--count needs --play" in no_play.stderr
    both = cli("report", parent, "--batch", "x", "--db", db)
    assert both.exit_code == 2 and "not both" in both.stderr
    neither = cli("report", "--db", db)
    assert neither.exit_code == 2
