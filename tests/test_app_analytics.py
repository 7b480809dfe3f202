"""Analytics and the audit trail through the application API: typed results that are
exactly what the CLI prints as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from engine.audit.trail import audit as trail
from eventstore import EventStore, canonical_json
from scenario_lab.app import (
    AuditQuery,
    ExportRequest,
    ForkRun,
    InvalidRequest,
    NotFound,
    QueryError,
    SqlRequest,
    StartRun,
    TurnOutOfRange,
    UsageError,
    audit_markdown,
    compare_markdown,
    render,
)
from tests.app_helpers import STRAIT, make_lab, play
from tests.engine_helpers import LLM3, cli
from tests.fakellm import FakeLLMServer


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, str, str]:
    lab = make_lab(tmp_path)
    run_id = play(lab, StartRun(scenario=str(STRAIT), seed=3, turns=4)).run_id
    branch = lab.fork_run(ForkRun(run=run_id, at_turn=2, seed=8))
    import anyio

    anyio.run(lab.play_run, branch.run_id)
    return tmp_path, run_id, branch.run_id


def test_project_sql_and_its_renderings(two_runs: tuple[Path, str, str]) -> None:
    tmp_path, run_id, branch = two_runs
    lab = make_lab(tmp_path)
    caught = lab.project()
    assert caught.events > 0 and caught.summary
    result = lab.sql(SqlRequest(statement="SELECT run_id FROM runs ORDER BY run_id"))
    assert result.columns == ("run_id",) and sorted(r[0] for r in result.rows) == sorted(
        [run_id, branch]
    )
    assert json.loads(render(result, "json")) == [{"run_id": r[0]} for r in result.rows]
    schema = lab.sql(SqlRequest(schema=True))
    assert schema.columns[0] == "table" and len(schema.rows) > 50
    with pytest.raises(InvalidRequest) as bad_format:
        lab.sql(SqlRequest(statement="SELECT 1", format="xml"))
    assert bad_format.value.field == "format"
    with pytest.raises(InvalidRequest) as empty:
        lab.sql(SqlRequest(statement=" "))
    assert empty.value.one_line({"statement": "query"}).startswith("give a query")
    with pytest.raises(QueryError):
        lab.sql(SqlRequest(statement="SELEC 1"))


def test_report_compare_and_export(two_runs: tuple[Path, str, str], tmp_path: Path) -> None:
    path, run_id, branch = two_runs
    lab = make_lab(path)
    assert f"`{run_id}`" in lab.report(run_id[:6]) or run_id in lab.report(run_id)
    comparison = lab.compare((run_id, branch))
    assert comparison.related and comparison.common_ancestor == run_id
    assert [r.run_id for r in comparison.runs] == [run_id, branch]
    assert "# Comparison of" in compare_markdown(comparison)
    printed = cli("compare", run_id, branch, "--db", path / "log.db", "--json").stdout
    assert printed == canonical_json(comparison) + "\n"
    with pytest.raises(InvalidRequest) as one:
        lab.compare((run_id,))
    assert one.value.field == "runs"
    out = tmp_path / "exported"
    files = lab.export(ExportRequest(out=str(out), format="csv", runs=(branch,))).files
    assert files and all(Path(f).parent == out and f.endswith(".csv") for f in files)
    with pytest.raises(InvalidRequest):
        lab.export(ExportRequest(out=str(out), format="xlsx"))


def test_the_analytics_file_is_never_the_log(two_runs: tuple[Path, str, str]) -> None:
    path, _run_id, _branch = two_runs
    lab = make_lab(path, analytics=path / "log.db")
    with pytest.raises(UsageError):
        lab.project()


def test_audit_entries_are_typed_and_are_what_the_cli_prints(tmp_path: Path) -> None:
    with FakeLLMServer() as fake:
        lab = make_lab(tmp_path, base_url=fake.base_url)
        run_id = play(lab, StartRun(scenario=str(LLM3), turns=2)).run_id
    entries = lab.audit_trail(AuditQuery(run=run_id))
    assert entries and all(e.outcome == "decided" for e in entries)
    first = entries[0]
    assert first.calls and first.calls[0].raw_response and first.prompt["messages"]
    assert first.model == "test/actor" and first.model_calls == len(first.costs)
    with EventStore.open(tmp_path / "log.db") as store:
        expected = trail(store, run_id)
    assert [json.dumps(msgspec.to_builtins(e)) for e in entries] == [
        json.dumps(e) for e in expected
    ]
    printed = cli("audit", run_id, "--db", tmp_path / "log.db", "--json").stdout.splitlines()
    assert printed == [json.dumps(msgspec.to_builtins(e), ensure_ascii=False) for e in entries]
    assert "## turn 1" in audit_markdown(entries)
    only = lab.audit_trail(AuditQuery(run=run_id, actor="ngo", turn=2))
    assert {(e.actor, e.turn) for e in only} == {("ngo", 2)}
    with pytest.raises(NotFound):
        lab.audit_trail(AuditQuery(run=run_id, actor="nobody"))
    with pytest.raises(TurnOutOfRange):
        lab.audit_trail(AuditQuery(run=run_id, turn=5))
    assert lab.check_run(run_id).events > 0
