"""Analytics: ``project``, ``sql``, ``report``, ``compare``, ``export``.

Each command first brings the analytics file (DuckDB, beside the log) up to date with the
log, then reads it; ``sql`` runs one statement through a read-only connection that cannot
touch any other file. Every command resolves the analytics path with ``_analytics``
first, which refuses the log itself before anything is opened.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import DEFAULT_DB, DbOption, emit_json, fail, handle_errors, open_store, status

AnalyticsOption = Annotated[
    Path | None,
    typer.Option(
        "--analytics",
        envvar="SCENARIO_LAB_ANALYTICS",
        help="The analytics file (DuckDB); default: the log's path with .duckdb.",
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
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
# how to raise each limit of a query (QueryLimitExceeded.limit)
_RAISE = {
    "timeout": "raise it with --timeout SECONDS or SCENARIO_LAB_SQL_TIMEOUT (0: no limit)",
    "memory": "raise it with --memory-limit SIZE or SCENARIO_LAB_SQL_MEMORY, e.g. 8GB",
}


def _analytics(db: Path, analytics: Path | None) -> Path:
    """The analytics file's path; a ``UsageError`` when it is the log itself. Every
    command calls this before it opens the log or the analytics file."""
    from projections import analytics_path

    return analytics_path(db, analytics)


def _catch_up(db: Path, path: Path, *, rebuild: bool = False, quiet: bool = True) -> None:
    """Apply new events to the analytics file at ``path`` (from ``_analytics``).

    Quiet except for ``project``: the other commands' stderr is kept for their errors.
    """
    from projections import project

    with open_store(db) as store:
        result = project(store, path, rebuild=rebuild, check_leases=True)
    if not quiet:
        status(result.summary())


def _resolve(db: Path, runs: list[str]) -> list[str]:
    with open_store(db) as store:
        return [store.resolve(r) for r in runs]


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as e:
        raise fail(f"cannot write {output}: {e.strerror}") from None
    status(f"wrote {output}")


def _check_report_format(fmt: str) -> None:
    from projections import REPORT_FORMATS

    if fmt not in REPORT_FORMATS:
        raise fail(f"unknown format {fmt!r} (known: {', '.join(REPORT_FORMATS)})", 2)


def _write_report(doc: Any, output: Path | None, fmt: str) -> None:
    """A report (``projections.Document``) to stdout (markdown with Mermaid, or HTML),
    or to ``output`` with its charts (``Document.write``)."""
    if output is None:
        typer.echo(doc.html() if fmt == "html" else doc.markdown(), nl=False)
        return
    main, *charts = doc.write(output, fmt)
    status(f"wrote {main}" + (f" and {len(charts)} charts in {charts[0].parent}" if charts else ""))


def project_cmd(
    db: DbOption = Path(DEFAULT_DB),
    analytics: AnalyticsOption = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the tables and build them from the whole log.")
    ] = False,
) -> None:
    """Bring the analytics tables up to date with the log (or rebuild them)."""
    _catch_up(db, _analytics(db, analytics), rebuild=rebuild, quiet=False)


def _print_table(result: Any) -> None:
    from projections import render, rich_table

    if not sys.stdout.isatty() or not result.columns:
        typer.echo(render(result, "table"), nl=False)
        return
    from rich.console import Console

    Console().print(rich_table(result))


def sql(
    statement: Annotated[str | None, typer.Argument(help="The SQL query.")] = None,
    db: DbOption = Path(DEFAULT_DB),
    analytics: AnalyticsOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, csv, json or markdown.")
    ] = "table",
    schema: Annotated[
        bool, typer.Option("--schema", help="List the tables and columns with their descriptions.")
    ] = False,
    timeout: TimeoutOption = None,
    memory_limit: MemoryOption = None,
) -> None:
    """Run one read-only SQL query over the analytics tables (DuckDB dialect).

    The query cannot write or read files; write tables to files with ``export``. It
    stops at its time and memory limits (default 120 s and 2GB).
    """
    from projections import (
        FORMATS,
        QueryLimitExceeded,
        QueryLimits,
        Result,
        render,
        run_sql,
        schema_rows,
    )

    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})", 2)
    if schema:
        result = Result(["table", "column", "type", "description"], list(schema_rows()))
    elif statement is None or not statement.strip():
        raise fail('give a query, e.g. scenario-lab sql "SELECT * FROM runs" (or --schema)', 2)
    else:
        given: dict[str, Any] = {}  # the library's defaults for the rest
        if timeout is not None:
            given["timeout_s"] = timeout or None
        if memory_limit is not None:
            given["memory_limit"] = memory_limit
        limits = QueryLimits(**given)
        path = _analytics(db, analytics)
        _catch_up(db, path)
        try:
            result = run_sql(path, statement, limits)
        except QueryLimitExceeded as e:
            raise fail(f"{e.message} ({_RAISE[e.limit]})") from None
    if fmt == "table":
        _print_table(result)
    else:
        typer.echo(render(result, fmt), nl=False)


def report(
    run: Annotated[str | None, typer.Argument(help="Run id (or a unique prefix).")] = None,
    db: DbOption = Path(DEFAULT_DB),
    analytics: AnalyticsOption = None,
    output: OutOption = None,
    batch: Annotated[
        str | None, typer.Option("--batch", help="Report a batch: statistics per variation.")
    ] = None,
    fmt: ReportFormatOption = "md",
) -> None:
    """A report of a run (summary, charts, lineage, turns, costs), or of a --batch."""
    from projections import open_readonly, run_report_document

    _check_report_format(fmt)
    if batch is not None:
        if run is not None:
            raise fail("give either RUN or --batch, not both", 2)
        from engine.batch.report import batch_report_document

        with open_store(db) as store:
            _write_report(batch_report_document(store, batch), output, fmt)
        return
    if run is None:
        raise fail("give a RUN id, or --batch BATCH", 2)
    path = _analytics(db, analytics)
    (run_id,) = _resolve(db, [run])
    _catch_up(db, path)
    with open_readonly(path) as con:
        doc = run_report_document(con, run_id)
    _write_report(doc, output, fmt)


def compare(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
    db: DbOption = Path(DEFAULT_DB),
    analytics: AnalyticsOption = None,
    output: OutOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The comparison as JSON.")] = False,
    fmt: ReportFormatOption = "md",
) -> None:
    """Compare runs: common ancestor, what each branch changed, diverging decisions, metrics."""
    import json

    from projections import compare_data, compare_document, open_readonly

    _check_report_format(fmt)
    if as_json and fmt != "md":
        raise fail("give either --json or --format, not both", 2)
    if len(runs) < 2:
        raise fail("compare needs at least two runs", 2)
    path = _analytics(db, analytics)
    run_ids = _resolve(db, runs)
    _catch_up(db, path)
    with open_readonly(path) as con:
        data = compare_data(con, run_ids)
    if as_json:
        if output is None:
            emit_json(data)
        else:
            _write(json.dumps(data, ensure_ascii=False) + "\n", output)
        return
    _write_report(compare_document(data), output, fmt)


def export(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Runs to export (all runs when omitted).")
    ] = None,
    db: DbOption = Path(DEFAULT_DB),
    analytics: AnalyticsOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet, csv or json.")] = "parquet",
    out: Annotated[
        Path, typer.Option("--out", help="The folder to write one file per table into.")
    ] = Path("export"),
) -> None:
    """Export the analytics tables (of some runs, or all) as Parquet, CSV or JSON files."""
    from projections import EXPORT_FORMATS, export_tables, open_readonly

    if fmt not in EXPORT_FORMATS:
        raise fail(f"unknown format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})", 2)
    path = _analytics(db, analytics)
    run_ids = _resolve(db, runs) if runs else None
    _catch_up(db, path)
    with open_readonly(path) as con:
        files = export_tables(con, out, fmt, run_ids)
    for f in files:
        typer.echo(str(f))


def register(app: typer.Typer) -> None:
    app.command("project")(handle_errors(project_cmd))
    app.command("sql")(handle_errors(sql))
    app.command("report")(handle_errors(report))
    app.command("compare")(handle_errors(compare))
    app.command("export")(handle_errors(export))
