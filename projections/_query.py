"""Read-only SQL over the analytics file, and the text formats results print in."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from eventstore import UsageError

from ._catalog import TABLES, VIEWS
from ._duck import connect
from ._errors import QueryError
from ._limits import Deadline, QueryLimits, out_of_memory, timed_out

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.table import Table

FORMATS = ("table", "csv", "json", "markdown")
_SCHEMA_HINT = "list tables and columns with `scenario-lab sql --schema`"


class Result:
    """Column names and rows of one query; ``truncated`` when it had more rows than its
    ``QueryLimits.max_rows`` (the rest were never read)."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]], *, truncated: bool = False):
        self.columns = columns
        self.rows = rows
        self.truncated = truncated

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def open_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection: queries cannot change the projection."""
    return connect(path, read_only=True)


def open_sandboxed(path: Path, *, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection for SQL a person wrote: it cannot change the projection,
    nor read or write any other file (COPY ... TO, read_csv, ATTACH, extensions), nor
    change its settings to allow that (nor raise its ``memory_limit``, a DuckDB size).
    ``export`` writes files on its own connection.

    DuckDB shares one configuration among a process's connections to a file: while one
    is open, another with a different ``memory_limit`` is refused."""
    return connect(path, read_only=True, external_access=False, memory_limit=memory_limit)


def run_sql(path: Path, sql: str, limits: QueryLimits | None = None) -> Result:
    """One statement a person wrote, on a sandboxed connection to the analytics file at
    ``path`` (brought up to date by the caller), within ``limits`` (default: the default
    ``QueryLimits``). Past a limit: ``QueryLimitExceeded``; the file stays as it was."""
    limits = limits or QueryLimits()
    with open_sandboxed(path, memory_limit=limits.memory_limit) as con:
        return query_one(con, sql, limits)


def one_line(error: BaseException) -> str:
    """DuckDB's message without its multi-line context (LINE 1: ..., carets)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def query(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | None = None,
    limits: QueryLimits | None = None,
) -> Result:
    """Run ``sql``; a DuckDB error becomes a one-line ``QueryError``. With ``limits``, a
    query past its time limit is interrupted, one past the connection's memory limit
    fails, either as ``QueryLimitExceeded``, and at most ``max_rows`` rows are read
    (the memory limit itself is the connection's: ``open_sandboxed``)."""
    timeout = limits.timeout_s if limits else None
    max_rows = limits.max_rows if limits else None
    deadline = Deadline(con, timeout)
    try:
        with deadline:
            cur = con.execute(sql, params) if params is not None else con.execute(sql)
            if cur.description is None:
                return Result([], [])
            columns = [d[0] for d in cur.description]
            if max_rows is None:
                return Result(columns, cur.fetchall())
            # DuckDB streams a result: rows past the cap are never computed
            rows = cur.fetchmany(max_rows + 1)
            return Result(columns, rows[:max_rows], truncated=len(rows) > max_rows)
    except duckdb.Error as e:
        raise _query_error(e, deadline, limits) from e


def _query_error(e: duckdb.Error, deadline: Deadline, limits: QueryLimits | None) -> QueryError:
    """The library's error for a DuckDB error of a query run under ``deadline``."""
    timeout = limits.timeout_s if limits else None
    if isinstance(e, duckdb.InterruptException):
        if deadline.fired and timeout is not None:
            return timed_out(timeout)
        return QueryError(one_line(e))
    if isinstance(e, duckdb.OutOfMemoryException):
        if limits is None:
            return QueryError(one_line(e))
        return out_of_memory(limits.memory_limit)
    if isinstance(e, duckdb.PermissionException):
        return QueryError(
            one_line(e),
            hint="sql reads the analytics tables and no other file; "
            "write tables to files with `scenario-lab export`",
        )
    if "read-only mode" in str(e):  # a write: the tables are the log's, rebuilt from it
        return QueryError(
            "sql is read-only: the analytics tables are built from the log and cannot be changed",
            hint="write a query's result to a file with `scenario-lab sql ... --out FILE`, "
            "or tables with `scenario-lab export`",
        )
    return QueryError(one_line(e), hint=_SCHEMA_HINT)


def arrow_sql(
    path: Path, sql: str, params: Sequence[Any] | None = None, limits: QueryLimits | None = None
) -> pa.Table:
    """``run_sql``'s one statement (with ``params`` bound), its result as an Arrow table:
    what DataFrame libraries read without a copy per cell."""
    limits = limits or QueryLimits()
    with open_sandboxed(path, memory_limit=limits.memory_limit) as con:
        _check_one_statement(con, sql)
        deadline = Deadline(con, limits.timeout_s)
        try:
            with deadline:
                # a relation, not a cursor: Arrow straight from DuckDB's result, no row copy
                rel = con.sql(sql, params=params)
                if rel is None:  # a statement without a result (SET, PRAGMA ...)
                    import pyarrow as pa

                    return pa.table({})
                # DuckDB 1.x names it fetch_arrow_table; 2.x to_arrow_table
                fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table  # type: ignore[attr-defined]
                result: pa.Table = fetch()
                return result
        except duckdb.Error as e:
            raise _query_error(e, deadline, limits) from e


def query_one(
    con: duckdb.DuckDBPyConnection, sql: str, limits: QueryLimits | None = None
) -> Result:
    """Run SQL a person wrote: exactly one statement (DuckDB would run them all and
    keep only the last result); more is a ``UsageError``, a DuckDB error a ``QueryError``.
    ``limits`` as ``query``'s."""
    _check_one_statement(con, sql)
    return query(con, sql, limits=limits)


def _check_one_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    try:
        count = len(con.extract_statements(sql))
    except duckdb.Error as e:
        raise QueryError(one_line(e), hint=_SCHEMA_HINT) from e
    if count > 1:
        raise UsageError(
            f"sql runs one statement at a time (got {count})",
            hint="run each statement with its own `scenario-lab sql`",
        )
    if count == 0:
        raise UsageError(
            "the query has no SQL statement",
            hint='give one, e.g. scenario-lab sql "SELECT * FROM runs"',
        )


def plain(value: Any) -> Any:
    """A value as JSON can hold it (lists, maps, timestamps, decimals)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def cell(value: Any) -> str:
    """A value as text in a table cell or CSV field."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | dict):
        return json.dumps(plain(value), ensure_ascii=False)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; cells are escaped, newlines become <br>."""
    out = [
        "| " + " | ".join(_md_escape(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        out.append("| " + " | ".join(_md_escape(cell(v)) for v in row) + " |")
    return "\n".join(out) + "\n"


def render(result: Result, fmt: str) -> str:
    """The result as ``table`` (plain aligned text), ``csv``, ``json`` or ``markdown``."""
    if fmt == "json":
        return json.dumps([plain(d) for d in result.dicts()], ensure_ascii=False) + "\n"
    if not result.columns:
        return ""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([cell(v) for v in row] for row in result.rows)
        return buf.getvalue()
    if fmt == "markdown":
        return markdown_table(result.columns, result.rows)
    if fmt == "table":
        return _plain_text(rich_table(result, plain=True))
    raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def rich_table(result: Result, *, plain: bool = False) -> Table:
    """The result as a ``rich`` table, one line per row (a cell's newlines read as
    spaces). Cells are literal text: a value like ``[/b]`` or ``:x:`` is shown as it is,
    never read as rich markup or an emoji code. ``plain``: ASCII, a header, a rule of
    dashes under each column and no borders (the ``table`` format); otherwise rich's
    default look, for a terminal."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if plain:
        table = Table(
            box=_plain_box(),
            show_edge=False,
            pad_edge=False,
            padding=(0, 1, 0, 0),  # with the box's blank divider: two spaces apart
            highlight=False,
        )
    else:
        table = Table(box=box.HEAVY_HEAD, highlight=False)
    for name in result.columns:
        table.add_column(Text(name), no_wrap=plain, overflow="ignore" if plain else "fold")
    for row in result.rows:
        table.add_row(*(Text(cell(v).replace("\n", " ")) for v in row))
    return table


def _plain_box() -> Any:
    from rich.box import Box

    # the eight lines of a box: top, header, under the header, between rows, row,
    # above a footer, footer, bottom; each: left edge, line, divider, right edge
    return Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


def _plain_text(table: Table) -> str:
    """A rich table as plain text: no colour or control codes, never wrapped (a pipe has
    no width), no trailing spaces."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(
        file=buf,
        width=1_000_000,
        color_system=None,
        force_terminal=False,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )
    console.print(table)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def schema_rows() -> list[tuple[str, str, str, str]]:
    """(table or view, column, type, description) of everything queryable."""
    out: list[tuple[str, str, str, str]] = []
    for name, table in TABLES.items():
        out.append((name, "", "table", table.description))
        out += [(name, col, typ, desc) for col, (typ, desc) in table.columns.items()]
    for name, view in VIEWS.items():
        out.append((name, "", "view", view.description))
        out += [(name, col, "", desc) for col, desc in view.columns.items()]
    return out
