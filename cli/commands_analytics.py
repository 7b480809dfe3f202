"""Analytics: ``project``, ``sql``, ``report``, ``compare``, ``export``.

Each command first brings the analytics file (DuckDB, beside the log) up to date with the
log, then reads it; ``sql`` runs one statement through a read-only connection that cannot
touch any other file. The analytics path is checked first: never the log itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    DEFAULT_DB,
    DbOption,
    OutOption,
    emit_json,
    fail,
    handle_errors,
    make_lab,
    status,
    stdout_to,
)

if TYPE_CHECKING:
    from scenario_lab.app import Document, Lab, QueryResult

AnalyticsOption = Annotated[
    Path | None,
    typer.Option(
        "--analytics",
        envvar="SCENARIO_LAB_ANALYTICS",
        help="The analytics file (DuckDB); default: the log's path with .duckdb.",
    ),
]
ReportFormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="md: markdown (with -o, its charts as SVG files in <name>_files/ beside it); "
        "html: one self-contained page with interactive charts.",
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        envvar="SCENARIO_LAB_SQL_TIMEOUT",
        min=0,
        help="Stop the query after this many seconds (default 120; 0: no limit).",
    ),
]
MemoryOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        envvar="SCENARIO_LAB_SQL_MEMORY",
        help="The most memory DuckDB may use for the query: e.g. 500MB, 8GB, or 50% "
        "(of the machine's memory); default 2GB.",
    ),
]


def _write_report(doc: Document, output: Path | None, fmt: str) -> None:
    """A report to stdout (markdown with Mermaid charts, or HTML), or to ``output`` with
    its charts (``Document.write``)."""
    if output is None:
        typer.echo(doc.html() if fmt == "html" else doc.markdown(), nl=False)
        return
    main, *charts = doc.write(output, fmt)
    status(f"wrote {main}" + (f" and {len(charts)} charts in {charts[0].parent}" if charts else ""))


def project_cmd(
    db: DbOption = DEFAULT_DB,
    analytics: AnalyticsOption = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the tables and build them from the whole log.")
    ] = False,
) -> None:
    """Bring the analytics tables up to date with the log (or rebuild them)."""
    status(make_lab(db, analytics=analytics).project(rebuild=rebuild).summary)


def _print_table(result: QueryResult) -> None:
    from scenario_lab.app import render, rich_table

    if not sys.stdout.isatty() or not result.columns:
        typer.echo(render(result, "table"), nl=False)
        return
    from rich.console import Console

    Console().print(rich_table(result))


def sql(
    statement: Annotated[
        str | None, typer.Argument(help="The SQL query (with --schema: a table's name).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    analytics: AnalyticsOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, csv, json or markdown.")
    ] = "table",
    schema: Annotated[
        bool,
        typer.Option(
            "--schema",
            help="List the tables and columns with their descriptions (of one table: "
            "`sql --schema runs`).",
        ),
    ] = False,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    out: OutOption = None,
) -> None:
    """Run one read-only SQL query over the analytics tables (DuckDB dialect).

    The query cannot write or read files; write tables to files with `scenario-lab export`. It
    stops at its time and memory limits (default 120 s and 2GB).
    """
    from scenario_lab.app import SqlRequest, render

    if as_json:
        if fmt not in ("table", "json"):
            raise fail("give either --json or --format, not both", 2)
        fmt = "json"
    lab = make_lab(db, analytics=analytics)
    result = lab.sql(
        SqlRequest(
            statement=statement,
            schema=schema,
            format=fmt,
            timeout_s=timeout,
            memory_limit=memory_limit,
        )
    )
    with stdout_to(out):
        if fmt == "table":
            _print_table(result)
        else:
            typer.echo(render(result, fmt), nl=False)


BatchesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--batch",
        help="A batch (id or unique prefix); twice, A then B, to compare two batches "
        "(differences are B - A).",
    ),
]
PairedOption = Annotated[
    bool | None,
    typer.Option(
        "--paired/--welch",
        help="Two batches: insist on a paired comparison (refused when their runs do not "
        "share seeds), or treat them as independent (Welch). Default: paired when they pair.",
    ),
]


def report(
    run: Annotated[
        str | None, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    analytics: AnalyticsOption = None,
    output: OutOption = None,
    batch: BatchesOption = None,
    paired: PairedOption = None,
    fmt: ReportFormatOption = "md",
) -> None:
    """A report of a run (summary, charts, lineage, turns, costs), of a --batch, or of
    two batches compared (--batch A --batch B: per metric and turn B - A with its 95% CI,
    effect size, and both sets' fan charts)."""
    from scenario_lab.app import check_report_format

    check_report_format(fmt)
    lab = make_lab(db, analytics=analytics)
    if batch:
        if run is not None:
            raise fail("give either RUN or --batch, not both", 2)
        if len(batch) == 1:
            if paired is not None:
                raise fail("--paired/--welch compare two batches: give --batch twice", 2)
            _write_report(lab.batch_report_document(batch[0]), output, fmt)
            return
        _write_report(_batch_comparison(lab, batch, paired), output, fmt)
        return
    if run is None:
        raise fail("give a RUN id, or --batch BATCH", 2)
    _write_report(lab.report_document(run), output, fmt)


def _batch_comparison(lab: Lab, batches: list[str], paired: bool | None) -> Document:
    from scenario_lab.app import CompareBatches

    comparison = lab.compare_batches(CompareBatches(batches=tuple(batches), paired=paired))
    return lab.batch_comparison_document(comparison)


def compare(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Two or more run ids (or unique prefixes).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    analytics: AnalyticsOption = None,
    output: OutOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The comparison as JSON.")] = False,
    fmt: ReportFormatOption = "md",
    batch: BatchesOption = None,
    paired: PairedOption = None,
) -> None:
    """Compare runs (common ancestor, what each branch changed, diverging decisions,
    metrics), or two batches (--batch A --batch B: per metric and turn B - A with its 95%
    CI, paired where the batches pair run by run, else Welch; effect size; fan charts)."""
    from scenario_lab.app import CompareBatches, check_report_format

    check_report_format(fmt)
    if as_json and fmt != "md":
        raise fail("give either --json or --format, not both", 2)
    lab = make_lab(db, analytics=analytics)
    if batch:
        if runs:
            raise fail("give either runs or --batch, not both", 2)
        if as_json:
            found = lab.compare_batches(CompareBatches(batches=tuple(batch), paired=paired))
            _emit(found, output)
            return
        _write_report(_batch_comparison(lab, batch, paired), output, fmt)
        return
    if paired is not None:
        raise fail("--paired/--welch compare two batches: give --batch twice", 2)
    if not runs:
        raise fail("give two or more runs, or --batch A --batch B", 2)
    from scenario_lab.app import compare_document

    comparison = lab.compare(tuple(runs))
    if as_json:
        _emit(comparison, output)
        return
    _write_report(compare_document(comparison), output, fmt)


def _emit(value: object, output: Path | None) -> None:
    with stdout_to(output):
        emit_json(value)


def export(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Runs to export (all runs when omitted).")
    ] = None,
    db: DbOption = DEFAULT_DB,
    analytics: AnalyticsOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet, csv or json.")] = "parquet",
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", "--output", help="The folder to write one file per table into."
        ),
    ] = Path("export"),
    as_json: Annotated[
        bool, typer.Option("--json", help="The files written, as one JSON array.")
    ] = False,
) -> None:
    """Export the analytics tables (of some runs, or all) as Parquet, CSV or JSON files;
    prints the files written."""
    from scenario_lab.app import ExportRequest

    request = ExportRequest(out=str(out), format=fmt, runs=tuple(runs) if runs else None)
    files = make_lab(db, analytics=analytics).export(request).files
    if as_json:
        emit_json([str(f) for f in files])
        return
    for f in files:
        typer.echo(f)


def register(app: typer.Typer) -> None:
    app.command("project")(handle_errors(project_cmd))
    app.command("sql")(handle_errors(sql))
    app.command("report")(handle_errors(report))
    app.command("compare")(handle_errors(compare))
    app.command("export")(handle_errors(export))
