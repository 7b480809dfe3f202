"""Analytics over the log: DuckDB tables built incrementally, SQL, reports, exports.

    path = analytics_path("scenario-lab.db")           # scenario-lab.duckdb beside the log
    project(store, path)                                # catch up (or rebuild=True)
    result = run_sql(path, "SELECT * FROM runs", QueryLimits(timeout_s=30, max_rows=1000))
    print(render(result, "table"))                      # SQL a person wrote: sandboxed
    with open_readonly(path) as con:
        print(run_report(con, run_id))
        print(compare_markdown(compare_data(con, [a, b])))
        run_report_document(con, run_id).write(Path("report.md"))  # + report_files/*.svg
        export_tables(con, Path("out"), "parquet")

Every table and column is described in ``TABLES``/``VIEWS``, which also generate the
schema and ``docs/projections.md``.
"""

from ._batch_compare import batch_comparison_document
from ._batch_report import batch_report_document, batch_report_markdown
from ._catalog import SCHEMA_VERSION, TABLES, VIEWS, Table, View
from ._compare import compare_data
from ._compare_report import compare_document, compare_markdown
from ._docs import render_docs
from ._errors import AnalyticsError, QueryError, QueryLimitExceeded
from ._export import EXPORT_FORMATS, export_tables
from ._limits import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT_S, QueryLimits
from ._project import ProjectResult, analytics_path, check_analytics_path, project
from ._query import (
    FORMATS,
    Result,
    arrow_sql,
    cell,
    markdown_table,
    open_readonly,
    open_sandboxed,
    query,
    query_one,
    render,
    rich_table,
    run_sql,
    schema_rows,
)
from ._report import run_report, run_report_document
from .charts import REPORT_FORMATS, Document

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIMEOUT_S",
    "EXPORT_FORMATS",
    "FORMATS",
    "REPORT_FORMATS",
    "SCHEMA_VERSION",
    "TABLES",
    "VIEWS",
    "AnalyticsError",
    "Document",
    "ProjectResult",
    "QueryError",
    "QueryLimitExceeded",
    "QueryLimits",
    "Result",
    "Table",
    "View",
    "analytics_path",
    "arrow_sql",
    "batch_comparison_document",
    "batch_report_document",
    "batch_report_markdown",
    "cell",
    "check_analytics_path",
    "compare_data",
    "compare_document",
    "compare_markdown",
    "export_tables",
    "markdown_table",
    "open_readonly",
    "open_sandboxed",
    "project",
    "query",
    "query_one",
    "render",
    "render_docs",
    "rich_table",
    "run_report",
    "run_report_document",
    "run_sql",
    "schema_rows",
]
