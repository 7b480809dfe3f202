"""White-cell review as a scenario's setting (``white_cell: true`` in scenario.yaml):
runs of it hold each world update for a facilitator, over the API and from the CLI, and
a run's own setting overrides the scenario's either way."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import Settings
from tests.engine_helpers import cli, last_line, payloads
from tests.server_helpers import STRAIT, bearer, live, make_world


@pytest.fixture
def scenarios(tmp_path: Path) -> Path:
    """A folder offering ``strait-review``: strait-crisis with ``white_cell: true``."""
    folder = tmp_path / "scenarios"
    shutil.copytree(STRAIT, folder / "strait-review")
    yaml = folder / "strait-review" / "scenario.yaml"
    yaml.write_text(yaml.read_text() + "\nwhite_cell: true\n")
    return folder


def _white_cell(db: Path, run_id: str) -> bool:
    [started] = [p for _t, ty, p in payloads(db, run_id) if ty == "RunStarted"]
    return bool(started["settings"]["white_cell"])


def _ended(c: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = c.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "halted"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def test_the_scenarios_setting_holds_world_updates_and_a_run_overrides_it(
    tmp_path: Path, scenarios: Path
) -> None:
    w = make_world(tmp_path)
    settings = replace(w.settings, scenario_dirs=(scenarios,))
    with live(settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        held = c.post("/api/v1/runs", json={"scenario": "strait-review", "turns": 1})
        assert held.status_code == 201, held.text
        held_id = held.json()["run_id"]
        run = _ended(c, held_id)
        assert (run["status"], run["halt_reason"]) == ("halted", "white_cell")
        assert c.get(f"/api/v1/runs/{held_id}/world-update").json()["proposal"]["turn"] == 1
        free = c.post(
            "/api/v1/runs", json={"scenario": "strait-review", "turns": 1, "white_cell": False}
        ).json()["run_id"]
        assert _ended(c, free)["status"] == "completed"
        forced = c.post(
            "/api/v1/runs", json={"scenario": "strait-crisis", "turns": 1, "white_cell": True}
        ).json()["run_id"]
        assert _ended(c, forced)["halt_reason"] == "white_cell"
    assert _white_cell(w.db, held_id) and not _white_cell(w.db, free)
    assert _white_cell(w.db, forced)


def test_the_cli_plays_the_scenarios_setting_and_its_flags_override_it(
    tmp_path: Path, scenarios: Path
) -> None:
    db = tmp_path / "log.db"
    review = scenarios / "strait-review"
    held = cli("run", review, "--turns", "1", "--db", db)
    assert held.exit_code == 3, held.output  # halted, resumable once reviewed
    assert "world-update" in held.stderr  # where to review it: the server
    held_id = last_line(held.stdout)
    assert _white_cell(db, held_id)
    free = cli("run", review, "--turns", "1", "--no-white-cell", "--db", db)
    assert free.exit_code == 0, free.output
    assert not _white_cell(db, last_line(free.stdout))
    forced = cli("run", STRAIT, "--turns", "1", "--white-cell", "--db", db)
    assert forced.exit_code == 3, forced.output
    assert _white_cell(db, last_line(forced.stdout))
    plain = cli("run", STRAIT, "--turns", "1", "--db", db)
    assert plain.exit_code == 0 and not _white_cell(db, last_line(plain.stdout))
    # as the CLI's hint says: a server approves it and the run goes on there
    with live(Settings(db=db, accounts=False, poll_interval_s=0.02)) as srv, srv.client() as c:
        assert c.post(f"/api/v1/runs/{held_id}/world-update").status_code == 200
        assert _ended(c, held_id)["status"] == "completed"
