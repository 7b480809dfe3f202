"""Helpers of the engine tests: run the real CLI, read logs, compare them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli.app import app

DATA = Path(__file__).parent / "data" / "engine"
RULES3 = DATA / "rules3"
LLM3 = DATA / "llm3"
HUMAN3 = DATA / "human3"
SECRET_KEY = "sk-test-DO-NOT-LOG-4242"


def cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Any:
    """Run the real Typer app in-process; returns the click Result."""
    runner = CliRunner()
    return runner.invoke(app, [str(a) for a in args], env=env, input=input, catch_exceptions=False)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def one_line_error(result: Any, code: int, *needles: str) -> None:
    """The command failed with ``code`` and one ``error:`` line holding every needle."""
    assert result.exit_code == code, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in err, err


def llm_env(base_url: str) -> dict[str, str]:
    return {"SCENARIO_LAB_LLM_BASE_URL": base_url, "SCENARIO_LAB_LLM_API_KEY": SECRET_KEY}


def payloads(db: Path | str, run_id: str) -> list[tuple[int, str, Any]]:
    """(turn, type, payload) of a run's timeline, with timing noise removed."""
    import msgspec

    from eventstore import EventStore

    def clean(value: Any) -> Any:
        # every field, defaults included (the stored JSON omits defaults)
        if isinstance(value, msgspec.Struct):
            value = msgspec.structs.asdict(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k != "latency_ms"}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    with EventStore.open(db, create=False) as store:
        return [(r.turn, r.type, clean(r.event)) for r in store.read(run_id)]


def types_by_turn(db: Path | str, run_id: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for turn, type_, _p in payloads(db, run_id):
        out.setdefault(turn, []).append(type_)
    return out


def subprocess_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """The CLI in a separate process (for kills and concurrent submissions)."""
    full_env = {**os.environ, **env}
    return subprocess.Popen(
        [sys.executable, "-c", "from cli.app import main; main()", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )


def runs_json(db: Path | str) -> list[dict[str, Any]]:
    result = cli("runs", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))
