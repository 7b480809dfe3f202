"""What a ``run`` process loads and does around its model calls: nothing it does not
use (SQLAlchemy to create a log, httpx's own command line, DuckDB, rich when not on a
terminal), and a new log made without SQLAlchemy has exactly the schema its metadata
describes. (The times are measured by ``benchmarks/bench_engine.py``, ``cli_run``.)"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

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

DRIVER = """
import atexit, json, os, sys
def dump():
    loaded = sorted(k for k, v in sys.modules.items() if v is not None)
    # work done at first use only: the event catalogue's blob paths (~10 ms)
    blobrefs = sys.modules.get("eventstore._blobrefs")
    if blobrefs is not None and "_paths" in getattr(blobrefs.BLOB_PATHS, "__dict__", "_paths"):
        loaded.append("<blob paths worked out>")
    # and the CA certificates (25-50 ms to parse): at the first TLS handshake, and the
    # fake speaks plain HTTP
    transport = sys.modules.get("engine.llm.transport")
    if transport is not None and transport.tls_context().cert_store_stats()["x509_ca"]:
        loaded.append("<CA certificates parsed>")
    with open(os.environ["MODULES_OUT"], "w") as f:
        json.dump(loaded, f)
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


@pytest.mark.parametrize("log", ["new", "existing"])
def test_a_run_loads_nothing_it_does_not_use(tmp_path: Path, log: str) -> None:
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
    loaded = set(json.loads(out.read_text()))
    assert "httpx" in loaded  # the run did call the model
    wrong = sorted(m for m in loaded if m.split(".")[0] in NOT_LOADED or m in NOT_LOADED)
    assert not wrong, wrong
    assert "<blob paths worked out>" not in loaded
    assert "<CA certificates parsed>" not in loaded
