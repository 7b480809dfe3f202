"""What a ``run`` process loads and does around its model calls: nothing it does not
use (SQLAlchemy to create a log, httpx's own command line, DuckDB, rich when not on a
terminal), before its first model call only what that call needs, the log opened once,
and a new log made without SQLAlchemy has exactly the schema its metadata describes.
(The times are measured by ``benchmarks/bench_cli_run.py`` and ``bench_engine.py``.)"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine_helpers import LLM3, SECRET_KEY
from tests.fakellm import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent

# what a run must not load: each costs 50-500 ms of start-up and the run needs none
NOT_LOADED = (
    "sqlalchemy",
    "duckdb",
    "pyarrow",
    "httpx._main",
    "pygments",
    "rich",
    "projections",
)

# modules the first model call does not need: they load when the run gets to them
NOT_BEFORE_FIRST_CALL = (
    "engine.play.phase_world",  # the world update, after every decision
    "engine.play.phase_metrics",
    "engine.play.phase_validation",
    "engine.play.outputs",  # the world update's, metrics' and checks' answers
    "engine.summary",
    "engine.batch",
    "scenario_lab.app.after_action",
    "scenario_lab.app.analytics",
    "scenario_lab.app.audit",
    "scenario_lab.app.batches",
    "scenario_lab.app.reads",
    "scenario_lab.app.steer",
    "scenario_lab.app.visibility",
)

DRIVER = """
import atexit, json, os, socket, sqlite3, sys

def loaded():
    return sorted(k for k, v in sys.modules.items() if v is not None)

seen = {"connects": [], "at_first_call": None}
_sqlite_connect = sqlite3.connect
def sqlite_connect(path, *args, **kwargs):  # every connection to an SQLite file
    seen["connects"].append(os.path.basename(str(path)))
    return _sqlite_connect(path, *args, **kwargs)
sqlite3.connect = sqlite_connect
_connect = socket.socket.connect
def connect(self, address):  # the first model call's connection (asyncio's sock_connect)
    if seen["at_first_call"] is None:
        seen["at_first_call"] = loaded()
    return _connect(self, address)
socket.socket.connect = connect

def dump():
    at_exit = loaded()
    # work done at first use only: the event catalogue's blob paths (~10 ms)
    blobrefs = sys.modules.get("eventstore._blobrefs")
    if blobrefs is not None and "_paths" in getattr(blobrefs.BLOB_PATHS, "__dict__", "_paths"):
        at_exit.append("<blob paths worked out>")
    # and the CA certificates (25-50 ms to parse): at the first TLS handshake, and the
    # fake speaks plain HTTP
    transport = sys.modules.get("engine.llm.transport")
    if transport is not None and transport.tls_context().cert_store_stats()["x509_ca"]:
        at_exit.append("<CA certificates parsed>")
    with open(os.environ["MODULES_OUT"], "w") as f:
        json.dump({**seen, "at_exit": at_exit}, f)
atexit.register(dump)
from cli.app import main
main()
"""


def _schema(path: Path) -> set[tuple[str, str, str, str | None]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return {*rows, ("version", str(version), "", None)}


def test_a_new_log_has_the_schema_sqlalchemy_would_create(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from eventstore._schema import SCHEMA_VERSION, create_sqlite_schema, metadata, sqlite_ddl
    from eventstore._schema_sqlite import SQLITE_DDL

    assert sqlite_ddl() == SQLITE_DDL, "regenerate eventstore/_schema_sqlite.py"
    ours = tmp_path / "ours.db"
    create_sqlite_schema(str(ours))
    theirs = tmp_path / "theirs.db"
    engine = sa.create_engine(f"sqlite:///{theirs}")
    with engine.begin() as conn:
        metadata().create_all(conn)
        conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
    engine.dispose()
    assert _schema(ours) == _schema(theirs)


def _run(tmp_path: Path, log: str) -> dict[str, Any]:
    """What the last of one (new log) or two (existing log) ``run`` processes did."""
    db = tmp_path / "log.db"
    out = tmp_path / "modules.json"
    env = {**os.environ, "SCENARIO_LAB_LLM_API_KEY": SECRET_KEY, "MODULES_OUT": str(out)}
    with FakeLLMServer() as fake:
        args = ["run", str(LLM3), "--db", str(db), "--turns", "1", "--llm-base-url", fake.base_url]
        for _ in range(1 if log == "new" else 2):
            proc = subprocess.run(
                [sys.executable, "-c", DRIVER, *args],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
    seen: dict[str, Any] = json.loads(out.read_text())
    return seen


@pytest.mark.parametrize("log", ["new", "existing"])
def test_a_run_loads_nothing_it_does_not_use(tmp_path: Path, log: str) -> None:
    seen = _run(tmp_path, log)
    loaded = set(seen["at_exit"])
    assert "httpx" in loaded  # the run did call the model
    assert "engine.play.phase_world" in loaded  # and played the turn to its end
    wrong = sorted(m for m in loaded if m.split(".")[0] in NOT_LOADED or m in NOT_LOADED)
    assert not wrong, wrong
    assert "<blob paths worked out>" not in loaded
    assert "<CA certificates parsed>" not in loaded
    # before its first call, only what that call needs
    first = seen["at_first_call"]
    assert first is not None and "engine.play.phase_talks" in first
    early = sorted(m for m in first if m.startswith(NOT_BEFORE_FIRST_CALL))
    assert not early, early


@pytest.mark.parametrize("log", ["new", "existing"])
def test_a_run_opens_its_log_once(tmp_path: Path, log: str) -> None:
    # create_run's checks, its recording and the play share one connection: closing it
    # in between would checkpoint and delete the write-ahead log (fsyncs) only for the
    # first append to make it again. A new log is first made in a private file.
    connects = _run(tmp_path, log)["connects"]
    assert connects.count("log.db") == 1, connects
    private = [c for c in connects if c != "log.db"]
    assert len(private) == (1 if log == "new" else 0), connects
    assert all(c.startswith(".log.db.") and c.endswith(".new") for c in private), connects
