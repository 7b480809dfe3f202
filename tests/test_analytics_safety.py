"""The analytics commands never harm the log or other files, and ``sql`` only reads.

An ``--analytics`` path that is the log (however spelled) is refused before anything is
opened; a file that is not a DuckDB database is left alone, with no advice to delete it;
``sql`` runs one statement on a connection that cannot touch the file system, while
``export`` still writes its files.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from eventstore import EventStore, UsageError
from projections import project
from tests.projection_logs import family
from tests.test_projections_cli import one_line_error, run


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    with EventStore.open(path) as store:
        family(store)
    return path


def _events(db: Path) -> int:
    """The log's event count, read with plain SQLite: the log is still a sound log."""
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA quick_check").fetchone() == ("ok",)
        row = con.execute("SELECT count(*) FROM events").fetchone()
    finally:
        con.close()
    return int(row[0])


def _commands(tmp_path: Path) -> list[list[object]]:
    return [
        ["project", "--rebuild"],
        ["sql", "SELECT 1"],
        ["report", "root-a"],
        ["compare", "root-a", "branch-b"],
        ["export", "--out", tmp_path / "out"],
    ]


def test_every_command_refuses_the_log_as_analytics_file(db: Path, tmp_path: Path) -> None:
    before = _events(db)
    for args in _commands(tmp_path):
        result = run(*args, "--db", db, "--analytics", db)
        one_line_error(result, 2, f"the analytics file {db} is the log itself", "log.duckdb")
        assert "delete" not in result.stderr
    assert _events(db) == before
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "log.duckdb").exists()  # nothing was opened or created


def test_the_environment_variable_is_checked_too(db: Path) -> None:
    result = run("sql", "SELECT 1", "--db", db, env={"SCENARIO_LAB_ANALYTICS": str(db)})
    one_line_error(result, 2, "is the log itself")


@pytest.mark.parametrize("spelling", ["relative", "dot-dot", "symlink", "wal"])
def test_the_log_is_recognised_however_it_is_spelled(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    if spelling == "relative":
        analytics, needle = "../log.db", "is the log itself"
    elif spelling == "dot-dot":
        analytics, needle = str(sub / ".." / "log.db"), "is the log itself"
    elif spelling == "symlink":
        os.symlink(db, sub / "link.duckdb")
        analytics, needle = "link.duckdb", "is the log itself"
    else:
        analytics, needle = str(db) + "-wal", "is the log's write-ahead file"
    before = _events(db)
    for args in _commands(tmp_path):
        one_line_error(run(*args, "--db", db, "--analytics", analytics), 2, needle)
    assert _events(db) == before


def test_project_refuses_the_log_as_analytics_file(db: Path) -> None:
    with EventStore.open(db) as store, pytest.raises(UsageError, match="is the log itself"):
        project(store, db)
    assert _events(db) > 0


@pytest.mark.parametrize("kind", ["text", "another log", "folder"])
def test_a_file_that_is_not_duckdb_is_left_alone(db: Path, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "mine.duckdb"
    if kind == "text":
        target.write_text("my notes on the strait crisis, not a database\n")
        needle = "exists and is not a DuckDB database"
    elif kind == "another log":
        with EventStore.open(target) as store:
            family(store)
        needle = "is a SQLite database, not a DuckDB one"
    else:
        target.mkdir()
        (target / "keep.txt").write_text("x")
        needle = "is a folder"
    before = target.read_bytes() if target.is_file() else None
    for args in _commands(tmp_path):
        result = run(*args, "--db", db, "--analytics", target)
        one_line_error(result, 1, f"the analytics file {target} {needle}", "--analytics")
        assert "delete" not in result.stderr.lower()
        assert "download" not in result.stderr.lower()
    if before is not None:
        assert target.read_bytes() == before
    else:
        assert (target / "keep.txt").read_text() == "x"


def test_sql_cannot_write_files_but_export_can(db: Path, tmp_path: Path) -> None:
    leak = tmp_path / "leak.csv"
    for statement in (
        f"COPY runs TO '{leak}'",
        f"COPY (SELECT * FROM events) TO '{leak}' (FORMAT parquet)",
    ):
        result = run("sql", statement, "--db", db)
        one_line_error(result, 1, "Permission Error", "disabled by configuration", "export")
        assert not leak.exists()
    out = tmp_path / "out"
    result = run("export", "--db", db, "--format", "csv", "--out", out)
    assert result.exit_code == 0, result.output
    assert len((out / "runs.csv").read_text().splitlines()) == 5
    # the same process again: the sandbox is a property of each sql connection
    one_line_error(run("sql", f"COPY runs TO '{leak}'", "--db", db), 1, "Permission Error")
    assert not leak.exists()


@pytest.mark.parametrize("reader", ["read_csv", "read_text", "glob"])
def test_sql_cannot_read_files(db: Path, tmp_path: Path, reader: str) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n1,2\n")
    result = run("sql", f"SELECT * FROM {reader}('{secret}')", "--db", db, "-f", "csv")
    one_line_error(result, 1, "Permission Error", "disabled by configuration")
    assert "1,2" not in result.stdout


@pytest.mark.parametrize(
    "statement", ["SET enable_external_access = true", "SET lock_configuration = false"]
)
def test_sql_cannot_lift_the_sandbox(db: Path, statement: str) -> None:
    one_line_error(run("sql", statement, "--db", db), 1, "the configuration has been locked")


def test_sql_runs_one_statement_at_a_time(db: Path, tmp_path: Path) -> None:
    one_line_error(
        run("sql", "SELECT 1; SELECT 2", "--db", db), 2, "one statement at a time (got 2)"
    )
    leak = tmp_path / "leak.csv"
    one_line_error(
        run("sql", f"SELECT 1; SELECT 2; COPY runs TO '{leak}'", "--db", db), 2, "(got 3)"
    )
    assert not leak.exists()
    one_line_error(run("sql", ";", "--db", db), 2, "no SQL statement")
    ok = run("sql", "SELECT count(*) AS n FROM runs; -- all of them", "--db", db, "-f", "json")
    assert ok.exit_code == 0 and ok.stdout == '[{"n": 4}]\n', ok.output


def test_someone_elses_duckdb_database_is_left_alone(db: Path, tmp_path: Path) -> None:
    import duckdb

    target = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(target)) as con:  # their own tables, one named like ours
        con.execute("CREATE TABLE runs AS SELECT 42 AS answer")
    for args in _commands(tmp_path):
        result = run(*args, "--db", db, "--analytics", target)
        one_line_error(result, 1, "is a DuckDB database scenario-lab did not make", "--analytics")
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("SELECT answer FROM runs").fetchall() == [(42,)]
