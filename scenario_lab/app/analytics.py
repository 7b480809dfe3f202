"""Analytics: the DuckDB projection of the log, SQL over it, reports, comparisons, exports.

Every operation first checks the analytics path (never the log itself), then brings the
analytics file up to date with the log, then reads it. SQL runs one statement on a
read-only connection that cannot touch any other file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from eventstore import InvalidRequest

from .settings import LabSettings
from .store import open_store
from .verification import require_verified, warn_unverified

if TYPE_CHECKING:
    import pyarrow as pa

    from projections import Document

SQL_FORMATS = ("table", "csv", "json", "markdown")
EXPORT_FORMATS = ("parquet", "csv", "json")
REPORT_FORMATS = ("md", "html")  # markdown (charts as SVG files beside it), one HTML page


class ProjectOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a catch-up did; ``summary`` says it in one line."""

    path: str
    events: int
    runs: int
    forks: int
    position: int
    rebuilt: bool
    reason: str
    seconds: float
    summary: str


class SqlRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One read-only statement (DuckDB dialect), or ``schema`` for the tables and
    columns with their descriptions (with ``statement`` a table's name: that table's);
    ``format`` is how a front end will render it."""

    statement: str | None = None
    schema: bool = False
    format: str = "table"
    # limits of the query: None keeps the library's default (120 s, 2GB, every row);
    # a timeout of 0 means no time limit
    timeout_s: float | None = None
    memory_limit: str | None = None
    max_rows: int | None = None


class QueryResult(msgspec.Struct, frozen=True, kw_only=True):
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool = False  # more rows than ``max_rows``: only the first are here


class ComparedRun(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    scenario_name: str | None
    scenario_sha256: str | None
    parent_run_id: str | None
    fork_turn: int | None
    status: str | None
    halt_reason: str | None
    seed: int | None
    turns_completed: int | None
    models: Any
    variation: Any


class ForkChanges(msgspec.Struct, frozen=True, kw_only=True):
    """A fork on one run's way from the shared part: what it changed."""

    fork_run_id: str
    parent_run_id: str | None
    fork_turn: int | None
    summary: str
    seed: int | None
    changes: dict[str, Any]  # the RunForked changes, as recorded
    variation: dict[str, Any]


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    """Runs side by side (the ``compare --json`` document): their common ancestor and
    shared turns, what each branch changed, the first diverging decision per actor,
    metric series (key -> turn -> run -> value), final metrics with deltas from the
    first run, and costs per run."""

    runs: tuple[ComparedRun, ...]
    same_scenario: bool
    related: bool
    common_ancestor: str | None
    shared_until_seq: int
    shared_until_turn: int | None
    changes: dict[str, tuple[ForkChanges, ...]]
    first_divergence: dict[str, Any]
    metrics: dict[str, Any]
    final_metrics: dict[str, Any]
    costs: dict[str, Any]


class ExportRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Write every analytics table (only these runs' rows, or all) as files in ``out``."""

    out: str
    format: str = "parquet"
    runs: tuple[str, ...] | None = None


class ExportResult(msgspec.Struct, frozen=True, kw_only=True):
    files: tuple[str, ...]


def analytics_path(settings: LabSettings) -> Path:
    """The analytics file's path; a ``UsageError`` when it is the log itself. Checked
    before the log or the analytics file is opened."""
    from projections import analytics_path as resolve

    return resolve(settings.db, settings.analytics)


def project(settings: LabSettings, *, rebuild: bool = False) -> ProjectOutcome:
    """Apply the log's new events to the analytics file (or rebuild it from scratch)."""
    from projections import project as catch_up

    path = analytics_path(settings)
    with open_store(settings) as store:
        warn_unverified(store)  # one damaged run must not block the analysis of the rest
        r = catch_up(store, path, rebuild=rebuild, check_leases=True)
    return ProjectOutcome(
        path=str(r.path),
        events=r.events,
        runs=r.runs,
        forks=r.forks,
        position=r.position,
        rebuilt=r.rebuilt,
        reason=r.reason,
        seconds=r.seconds,
        summary=r.summary(),
    )


def check_format(fmt: str, known: tuple[str, ...]) -> None:
    if fmt not in known:
        raise InvalidRequest(f"unknown format {fmt!r} (known: {', '.join(known)})", field="format")


def sql(settings: LabSettings, request: SqlRequest) -> QueryResult:
    """Run one read-only statement over the analytics tables, after catching them up."""
    from projections import schema_rows

    check_format(request.format, SQL_FORMATS)
    if request.schema:
        rows = tuple(schema_rows())
        name = (request.statement or "").strip()
        if name:  # `sql --schema runs`: that table's columns only
            tables = list(dict.fromkeys(r[0] for r in rows))
            if name not in tables:
                raise InvalidRequest(
                    "with {schema}, give a table's name or nothing; there is no table {name!r}",
                    hint="tables: {tables}",
                    field="statement",
                    values={"name": name, "tables": ", ".join(tables)},
                )
            rows = tuple(r for r in rows if r[0] == name)
        return QueryResult(columns=("table", "column", "type", "description"), rows=rows)
    if request.statement is None or not request.statement.strip():
        raise InvalidRequest(
            'give a {statement}, e.g. "SELECT * FROM runs" (or {schema})',
            field="statement",
            values={},
        )
    from projections import QueryLimits, run_sql

    given: dict[str, Any] = {}  # the library's defaults for the rest
    if request.timeout_s is not None:
        given["timeout_s"] = request.timeout_s or None
    if request.memory_limit is not None:
        given["memory_limit"] = request.memory_limit
    if request.max_rows is not None:
        given["max_rows"] = request.max_rows
    path = analytics_path(settings)
    project(settings)
    result = run_sql(path, request.statement, QueryLimits(**given))
    return QueryResult(
        columns=tuple(result.columns),
        rows=tuple(result.rows),
        truncated=bool(getattr(result, "truncated", False)),
    )


def sql_arrow(
    settings: LabSettings, statement: str, params: tuple[Any, ...] | None = None
) -> pa.Table:
    """One read-only statement (``?`` bound to ``params``) over the analytics tables,
    after catching them up, as an Arrow table: the way to DataFrames (pandas, polars)."""
    from projections import arrow_sql

    if not statement.strip():
        raise InvalidRequest(
            'give a {statement}, e.g. "SELECT * FROM runs"', field="statement", values={}
        )
    path = analytics_path(settings)
    project(settings)
    return arrow_sql(path, statement, params)


def render(result: QueryResult, fmt: str) -> str:
    """``result`` as ``table`` (plain aligned text), ``csv``, ``json`` or ``markdown``."""
    from projections import Result
    from projections import render as render_result

    check_format(fmt, SQL_FORMATS)
    return render_result(Result(list(result.columns), list(result.rows)), fmt)


def rich_table(result: QueryResult) -> Any:
    """``result`` as a ``rich`` table for a terminal (cells literal, never markup)."""
    from projections import Result
    from projections import rich_table as table_of

    return table_of(Result(list(result.columns), list(result.rows)))


def check_report_format(fmt: str) -> None:
    """A report's ``format`` is one of ``REPORT_FORMATS``."""
    check_format(fmt, REPORT_FORMATS)


def report_document(settings: LabSettings, run_ref: str) -> Document:
    """A run's report (summary, charts, lineage, every turn, costs) as a ``Document``:
    ``markdown()`` (charts as Mermaid), ``html()``, or ``write(path, format)``."""
    from projections import open_readonly, run_report_document

    path = analytics_path(settings)
    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        require_verified(store, [run_id])
    project(settings)
    with open_readonly(path) as con:
        return run_report_document(con, run_id)


def report(settings: LabSettings, run_ref: str) -> str:
    """A run's markdown report: summary, charts (Mermaid), lineage, every turn, costs."""
    return report_document(settings, run_ref).markdown()


def compare(settings: LabSettings, run_refs: tuple[str, ...]) -> Comparison:
    """Compare two or more runs (see ``Comparison``)."""
    from projections import compare_data, open_readonly

    if len(run_refs) < 2:
        raise InvalidRequest(
            "compare needs at least two runs",
            field="runs",
            hint="give two or more run ids, or compare two batches",
        )
    path = analytics_path(settings)
    with open_store(settings) as store:
        run_ids = [store.resolve(r) for r in run_refs]
        require_verified(store, run_ids)
    project(settings)
    with open_readonly(path) as con:
        data = compare_data(con, run_ids)
    return msgspec.convert(data, Comparison)


def compare_document(comparison: Comparison) -> Document:
    """The comparison as a report (``Document``), with a chart per metric."""
    from projections import compare_document as document_of

    return document_of(msgspec.to_builtins(comparison))


def compare_markdown(comparison: Comparison) -> str:
    """The comparison as a markdown document."""
    return compare_document(comparison).markdown()


def export(settings: LabSettings, request: ExportRequest) -> ExportResult:
    """Write the analytics tables as Parquet, CSV or JSON files, one per table."""
    from projections import export_tables, open_readonly

    check_format(request.format, EXPORT_FORMATS)
    path = analytics_path(settings)
    run_ids = None
    if request.runs:
        with open_store(settings) as store:
            run_ids = [store.resolve(r) for r in request.runs]
    project(settings)
    with open_readonly(path) as con:
        files = export_tables(con, Path(request.out), request.format, run_ids)
    return ExportResult(files=tuple(str(f) for f in files))


def batch_report_document(settings: LabSettings, batch_ref: str) -> Document:
    """A batch's report (``Document``): per-variation statistics, charts (means with
    95% intervals, fan charts over the turns), significant differences (Welch,
    Holm-adjusted), costs, runs cut short."""
    from projections import batch_report_document as document_of

    with open_store(settings) as store:
        return document_of(store, batch_ref)


def batch_report(settings: LabSettings, batch_ref: str) -> str:
    """A batch's markdown report (``batch_report_document``, charts as Mermaid)."""
    return batch_report_document(settings, batch_ref).markdown()
