"""The analytics commands through Typer: project, sql, report, compare, export, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from cli.commands_analytics import register
from eventstore import EventStore, RunLease
from projections._catalog import TABLES
from tests.engine_helpers import RULES3, cli, last_line
from tests.projection_logs import family, write_run

app = typer.Typer()
register(app)


@app.callback()
def _group() -> None:
    """A group, so command names are parsed as with the real app."""


def run(*args: Any, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def one_line_error(result: Any, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    with EventStore.open(path) as store:
        family(store)
    return path


def test_project_reports_what_it_applied(db: Path) -> None:
    first = run("project", "--db", db)
    assert first.exit_code == 0 and "rebuilt (new analytics file)" in first.stderr
    assert (db.parent / "log.duckdb").exists()
    again = run("project", "--db", db)
    assert "up to date" in again.stderr
    rebuilt = run("project", "--db", db, "--rebuild")
    assert "rebuilt" in rebuilt.stderr and "4 runs, 2 forks" in rebuilt.stderr


def test_analytics_path_from_option_and_environment(db: Path, tmp_path: Path) -> None:
    run("project", "--db", db, "--analytics", tmp_path / "x.duckdb")
    assert (tmp_path / "x.duckdb").exists()
    run("project", "--db", db, env={"SCENARIO_LAB_ANALYTICS": str(tmp_path / "y.duckdb")})
    assert (tmp_path / "y.duckdb").exists()


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("csv", lambda out: out.splitlines()[0] == "run_id,turns_completed"),
        ("json", lambda out: json.loads(out)[0] == {"run_id": "branch-b", "turns_completed": 4}),
        ("markdown", lambda out: out.startswith("| run_id | turns_completed |\n|---|---|\n")),
        ("table", lambda out: out.splitlines()[1].startswith("--------")),
    ],
)
def test_sql_formats(db: Path, fmt: str, check: Any) -> None:
    result = run(
        "sql",
        "SELECT run_id, turns_completed FROM runs ORDER BY run_id",
        "--db",
        db,
        "--format",
        fmt,
    )
    assert result.exit_code == 0, result.output
    assert check(result.stdout), result.stdout


def test_sql_lists_are_json_in_cells(db: Path) -> None:
    out = run(
        "sql", "SELECT models FROM runs WHERE run_id = 'root-a'", "--db", db, "-f", "csv"
    ).stdout
    assert out.splitlines()[1] == '"[""anthropic/claude-3.5-haiku"", ""openai/gpt-4o-mini""]"'


def test_sql_is_read_only(db: Path) -> None:
    one_line_error(run("sql", "DELETE FROM runs", "--db", db), 1, "read-only")
    assert (
        run("sql", "SELECT count(*) AS n FROM runs", "--db", db, "-f", "json").stdout
        == '[{"n": 4}]\n'
    )


def test_sql_error_is_one_line(db: Path) -> None:
    one_line_error(run("sql", "SELECT nope FROM runs", "--db", db), 1, "nope")
    one_line_error(run("sql", "SELEC 1", "--db", db), 1, "syntax error")


def test_sql_schema_lists_every_table_and_column(db: Path) -> None:
    out = run("sql", "--schema", "-f", "csv").stdout
    assert "decisions,brain,VARCHAR," in out
    assert "final_metrics,,view," in out


def test_sql_usage_errors(db: Path) -> None:
    one_line_error(run("sql", "--db", db), 2, "give a query")
    one_line_error(run("sql", "SELECT 1", "--db", db, "--format", "xml"), 2, "unknown format")


def test_missing_log_is_one_line(tmp_path: Path) -> None:
    for args in (
        ["project"],
        ["sql", "SELECT 1"],
        ["report", "x"],
        ["compare", "a", "b"],
        ["export"],
    ):
        one_line_error(run(*args, "--db", tmp_path / "none.db"), 1, "no log at")


def test_unknown_run_is_one_line(db: Path) -> None:
    one_line_error(run("report", "zzz", "--db", db), 2, "no run 'zzz'")
    one_line_error(run("compare", "root-a", "zzz", "--db", db), 2, "no run 'zzz'")
    one_line_error(run("export", "zzz", "--db", db, "--out", db.parent / "x"), 2, "no run 'zzz'")
    one_line_error(run("compare", "root-a", "--db", db), 2, "at least two runs")


def test_a_running_run_without_a_live_process_is_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with EventStore.open(db) as store:
        write_run(store, "live", turns=1, finish="running")
        write_run(store, "dead", turns=1, finish="running")
    with RunLease(db, "live"):
        out = run(
            "sql", "SELECT run_id, status FROM runs ORDER BY run_id", "--db", db, "-f", "csv"
        ).stdout
    assert out.splitlines()[1:] == ["dead,interrupted", "live,running"]
    out = run(
        "sql", "SELECT status FROM runs WHERE run_id = 'live'", "--db", db, "-f", "csv"
    ).stdout
    assert out.splitlines()[1] == "interrupted"  # the lease is gone


def test_report_to_file_and_stdout(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    result = run("report", "twig", "--db", db, "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Run `twig-c`: Strait Crisis")
    assert (
        run("report", "twig", "--db", db).stdout.split("| Started")[0] == text.split("| Started")[0]
    )


def test_compare_markdown_and_json(db: Path) -> None:
    md = run("compare", "branch-b", "twig-c", "--db", db).stdout
    assert "Common ancestor: `branch-b`" in md
    data = json.loads(run("compare", "branch-b", "twig-c", "--db", db, "--json").stdout)
    assert data["common_ancestor"] == "branch-b" and data["shared_until_turn"] == 3
    assert data["changes"]["twig-c"][0]["changes"] == {"model_overrides": {"south": "x/y"}}
    assert data["changes"]["branch-b"] == []
    unrelated = json.loads(run("compare", "root-a", "other-d", "--db", db, "--json").stdout)
    assert unrelated["related"] is False and unrelated["common_ancestor"] is None


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_export_writes_one_file_per_table(db: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    result = run("export", "branch-b", "--db", db, "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.iterdir())
    tables = [name for name, table in TABLES.items() if table.kind != "meta"]
    assert files == sorted(f"{name}.{fmt}" for name in tables) and len(files) >= 16
    reader = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}[fmt]
    con = duckdb.connect()
    try:
        runs = con.execute(f"SELECT run_id FROM {reader}('{out / f'runs.{fmt}'}')").fetchall()
        inherited = con.execute(
            f"SELECT count(*) FROM {reader}('{out / f'decisions.{fmt}'}') WHERE inherited"
        ).fetchone()
    finally:
        con.close()
    assert runs == [("branch-b",)]
    assert inherited is not None and inherited[0] > 0


def test_export_all_runs(db: Path, tmp_path: Path) -> None:
    run("export", "--db", db, "--format", "csv", "--out", tmp_path / "all")
    assert len((tmp_path / "all" / "runs.csv").read_text().splitlines()) == 5


def test_a_real_engine_run_projects_and_reports(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    result = cli("run", RULES3, "--db", db, "--seed", "5")
    assert result.exit_code == 0, result.output
    run_id = last_line(result.stdout)
    branch = last_line(
        cli("fork", run_id, "--db", db, "--at-turn", "1", "--seed", "6", "--play").stdout
    )
    report = run("report", branch, "--db", db)
    assert report.exit_code == 0, report.output
    assert "graph LR" in report.stdout and "xychart-beta" in report.stdout
    status = run(
        "sql",
        "SELECT status, depth FROM runs WHERE run_id = ?".replace("?", f"'{branch}'"),
        "--db",
        db,
        "-f",
        "csv",
    )
    assert status.stdout.splitlines()[1] == "completed,1"
