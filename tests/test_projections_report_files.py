"""Run reports and comparisons as files: the markdown links chart files that exist (SVG,
relative paths) and that show the metric's series; the HTML form stands alone; long runs
open with a summary; the CLI's --format/-o and their errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from cli.commands_analytics import register
from eventstore import EventStore
from projections import compare_data, compare_document, open_readonly, project, run_report_document
from tests.chart_helpers import assert_self_contained, image_links, svg_texts, vega_cache
from tests.projection_logs import family

__all__ = ["vega_cache"]  # a fixture

app = typer.Typer()
register(app)


@app.callback()
def _group() -> None:
    """A group, so command names are parsed as with the real app."""


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "log.db"
    with EventStore.open(path) as store:
        family(store)
        project(store, path.with_suffix(".duckdb"))
    return path


@pytest.fixture(scope="module")
def con(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_readonly(db.with_suffix(".duckdb")) as c:
        yield c


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of its own for the commands, which open its analytics file for writing."""
    path = tmp_path_factory.mktemp("cli") / "log.db"
    with EventStore.open(path) as store:
        family(store)
    return path


def test_a_run_report_file_links_an_svg_per_metric(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    written = run_report_document(con, "twig-c").write(tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    links = image_links(text)
    assert links == [
        "report_files/metric-tension.svg",
        "report_files/metric-trade-flow.svg",
        "report_files/metric-resolve.svg",
    ]
    assert written == [tmp_path / "report.md", *(tmp_path / link for link in links)]
    assert "xychart-beta" not in text and "graph LR" in text  # the lineage stays Mermaid
    resolve = svg_texts(tmp_path / links[2])
    assert {"resolve", "turn", "actor", "mediator", "north", "south"} <= set(resolve)
    assert {"tension", "turn"} <= set(svg_texts(tmp_path / links[0]))


def test_a_comparison_file_overlays_the_branches_and_marks_where_they_part(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    doc = compare_document(compare_data(con, ["root-a", "branch-b", "twig-c"]))
    doc.write(tmp_path / "compare.md")
    text = (tmp_path / "compare.md").read_text()
    links = image_links(text)
    assert len(links) == 5 and all(link.startswith("compare_files/") for link in links)
    assert text.index("## Metric trajectories") < text.index(f"]({links[0]})")
    texts = svg_texts(tmp_path / "compare_files" / "compare-trade-flow.svg")
    assert {"trade_flow", "run", "root-a", "branch-b", "twig-c"} <= set(texts)
    assert "identical up to turn 2" in texts
    # printed, a comparison has its tables and no chart section
    assert "## Metric trajectories" not in doc.markdown()


def test_html_reports_stand_alone_with_a_chart_per_metric(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, vega_cache: Path
) -> None:
    run_report_document(con, "twig-c").write(tmp_path / "r.html", "html")
    text = (tmp_path / "r.html").read_text()
    parts = assert_self_contained(text)
    assert [s["title"]["text"] for s in parts.specs()] == ["tension", "trade_flow", "resolve"]
    assert "window.vegaEmbed" in text and "<h2>Summary</h2>" in text
    assert "<li><strong><code>twig-c</code></strong>" in text  # the lineage as a list
    assert "```mermaid" not in text


def test_a_long_run_opens_with_a_summary_before_the_turns(
    con: duckdb.DuckDBPyConnection,
) -> None:
    text = run_report_document(con, "twig-c").markdown()
    order = [
        text.index(h)
        for h in ("## Summary", "## Metric trajectories", "## Lineage", "## Turn 1 ", "## Costs")
    ]
    assert order == sorted(order)
    summary = text[text.index("## Summary") : text.index("## Metric trajectories")]
    assert "- Outcome: halted (credit_limit) after turn 5 of 4" in summary
    assert "- Cost: $0.01015 for 35 model calls (43,953 input / 5,929 output tokens)" in summary
    assert "| tension | 3.94 (turn 0) | 8.29 (turn 5) | +4.35 | 3.94 (turn 0) | 8.43 (turn 1) |" in summary  # fmt: skip
    points = re.findall(r"^- \*\*Turn (\d+):\*\*", summary, re.MULTILINE)
    assert points == ["2", "3", "4"]  # the three turns of the largest moves, in order
    assert "  Decisions: North: north fleet exports" in summary


def test_a_short_run_has_no_summary(con: duckdb.DuckDBPyConnection) -> None:
    assert "## Summary" not in run_report_document(con, "other-d").markdown()  # 3 turns


def test_report_writes_markdown_and_charts_or_html(cli_db: Path, tmp_path: Path) -> None:
    db = cli_db
    result = run("report", "twig-c", "--db", db, "-o", tmp_path / "r.md")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        f"wrote {tmp_path / 'r.md'} and 3 charts in {tmp_path / 'r_files'}"
    )
    assert len(list((tmp_path / "r_files").glob("*.svg"))) == 3
    printed = run("report", "twig-c", "--db", db)
    assert "xychart-beta" in printed.stdout and "![" not in printed.stdout
    compared = run("compare", "root-a", "twig-c", "--db", db, "--format", "html")
    assert compared.exit_code == 0 and compared.stdout.startswith("<!DOCTYPE html>")
    assert set(tmp_path.iterdir()) == {
        tmp_path / "r.md",
        tmp_path / "r_files",
    }  # printing wrote nothing


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["report", "twig-c", "-f", "pdf"], "unknown format 'pdf' (known: md, html)"),
        (["compare", "root-a", "twig-c", "--json", "-f", "html"], "either --json or --format"),
        (
            ["report", "twig-c", "-o", "{tmp}/missing/r.md"],
            "the folder {tmp}/missing does not exist",
        ),
        (["report", "twig-c", "-o", "{tmp}/taken.md"], "cannot write {tmp}/taken_files"),
    ],
)
def test_report_errors_are_one_line(
    cli_db: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    db = cli_db
    (tmp_path / "taken_files").write_text("a file where the chart folder would go")
    result = run(*(a.format(tmp=tmp_path) for a in args), "--db", db)
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert needle.format(tmp=tmp_path) in err
    assert not (tmp_path / "taken.md").exists() and not (tmp_path / "missing").exists()
