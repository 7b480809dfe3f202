"""Reports and comparisons against golden files, from a deterministic synthetic log.

Event ids and ``recorded_at`` come from the store, so the two header rows that show
wall-clock facts are normalised. ``UPDATE_GOLDEN=1 pytest tests/test_report.py``
rewrites the files after an intended change; review the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from eventstore import EventStore
from projections import compare_data, compare_markdown, open_readonly, project, run_report
from tests.projection_logs import family

GOLDEN = Path(__file__).parent / "golden"
_CLOCK = re.compile(r"^\| (Started|Duration) \| .* \|$", re.MULTILINE)


def normalise(text: str) -> str:
    return _CLOCK.sub(r"| \1 | (clock) |", text)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs: run with UPDATE_GOLDEN=1 and review the diff"


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    tmp = tmp_path_factory.mktemp("report")
    with EventStore.open(tmp / "log.db") as store:
        family(store)
        project(store, tmp / "log.duckdb")
    with open_readonly(tmp / "log.duckdb") as c:
        yield c


@pytest.mark.parametrize("run_id", ["root-a", "twig-c"])
def test_run_report_matches_golden(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    check_golden(f"report-{run_id}.md", normalise(run_report(con, run_id)))


def test_compare_branches_matches_golden(con: duckdb.DuckDBPyConnection) -> None:
    check_golden(
        "compare-branches.md", compare_markdown(compare_data(con, ["root-a", "branch-b", "twig-c"]))
    )


def test_compare_unrelated_matches_golden(con: duckdb.DuckDBPyConnection) -> None:
    check_golden("compare-unrelated.md", compare_markdown(compare_data(con, ["root-a", "other-d"])))


def test_report_sections(con: duckdb.DuckDBPyConnection) -> None:
    text = run_report(con, "twig-c")
    for needle in (
        "## Lineage",
        "graph LR",
        "## Initial situation",
        "## Turn 4",
        "### Decisions",
        "### World update",
        "### Metrics",
        "xychart-beta",
        "### By actor",
        "### By model",
        "### By phase",
        "*Inherited from `branch-b`.*",
        "| Status | halted (credit_limit) |",
    ):
        assert needle in text, needle


def test_a_root_without_forks_has_no_lineage_diagram(con: duckdb.DuckDBPyConnection) -> None:
    assert "graph LR" not in run_report(con, "other-d")
