"""Helpers of the application API tests: a ``Lab`` over a fresh log, played runs."""

from __future__ import annotations

from pathlib import Path

import anyio

from scenario_lab.app import Lab, LabSettings, LLMSettings, RunOutcome, StartRun
from tests.engine_helpers import SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
STRAIT = ROOT / "scenarios" / "strait-crisis"
TABLETOP = ROOT / "scenarios" / "tabletop-human"
SWEEP = ROOT / "scenarios" / "strait-crisis-sweep.yaml"


def make_lab(tmp_path: Path, base_url: str | None = None, **settings: object) -> Lab:
    """A ``Lab`` over ``tmp_path/log.db``; with ``base_url``, every model call goes there."""
    llm = LLMSettings(base_url=base_url, api_key=SECRET_KEY) if base_url else None
    return Lab(LabSettings(db=tmp_path / "log.db", llm=llm, **settings))  # type: ignore[arg-type]


def play(lab: Lab, request: StartRun) -> RunOutcome:
    """Record a run and play it to its end."""
    created = lab.create_run(request)
    return anyio.run(lab.play_run, created.run_id)


def no_runs(lab: Lab) -> bool:
    """Nothing recorded: no log file at all, or one without runs."""
    return not lab.settings.db.exists() or not lab.list_runs().runs
