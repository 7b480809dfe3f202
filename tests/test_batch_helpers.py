"""Helpers of the batch tests: the batch commands as an app, in-process or as a process.

The app is built here from ``cli.commands_batch.register`` so the tests do not depend
on which commands ``cli.app`` registers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.testing import CliRunner

from cli.commands_batch import register

BATCHES = Path(__file__).parent / "data" / "batches"
ENGINE_DATA = Path(__file__).parent / "data" / "engine"
APP_CODE = (
    "import typer; from cli.commands_batch import register; "
    "app = typer.Typer(); register(app); app()"
)


def batch_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def bcli(*args: Any, env: dict[str, str] | None = None) -> Any:
    """``scenario-lab <args>`` (batch commands only) in-process; the click Result."""
    return CliRunner().invoke(batch_app(), [str(a) for a in args], env=env, catch_exceptions=False)


def batch_process(*args: Any, env: dict[str, str]) -> subprocess.Popen[str]:
    """The batch commands in a separate process (to kill it)."""
    return subprocess.Popen(
        [sys.executable, "-c", APP_CODE, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def write_batch(folder: Path, name: str, fields: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(fields, sort_keys=False))
    return path


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def batch_rows(db: Path, batch_id: str) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """(run_id, [(type, payload)...]) of every run of the batch, straight from SQLite."""
    conn = sqlite3.connect(db)
    try:
        runs = [
            r[0]
            for r in conn.execute(
                "SELECT run_id FROM runs WHERE batch_id = ? ORDER BY run_id", (batch_id,)
            )
        ]
        out = []
        for run_id in runs:
            rows = conn.execute(
                "SELECT type, payload FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
            out.append((run_id, [(t, json.loads(p)) for t, p in rows]))
        return out
    finally:
        conn.close()
