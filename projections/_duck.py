"""Opening the analytics file and bulk-loading Arrow tables into it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ._catalog import TABLES
from ._errors import AnalyticsError

LOCK_WAIT_S = 30.0

_ARROW: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR": pa.string(),
    "VARCHAR[]": pa.list_(pa.string()),
    # DuckDB parses ISO-8601 text with its offset faster than pyarrow converts it
    "TIMESTAMPTZ": pa.string(),
    "MAP(VARCHAR, DOUBLE)": pa.map_(pa.string(), pa.float64()),
}


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the analytics file; waits while another process holds it.

    DuckDB lets one process write a file, or several read it, at a time. A catch-up by
    another command finishes in seconds, so waiting beats failing.
    """
    if not read_only and not path.parent.exists():
        raise AnalyticsError(
            f"cannot create the analytics file {path}: folder {path.parent} does not exist",
            hint="create the folder or choose another --analytics path",
        )
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as e:
            message = str(e).splitlines()[0]
            if "lock" in message.lower() and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            hint = (
                "another scenario-lab process is using it; try again when it is done"
                if "lock" in message.lower()
                else "point --analytics at a DuckDB file or a new file name, or delete it "
                "(it is rebuilt from the log)"
            )
            raise AnalyticsError(
                f"cannot open the analytics file {path}: {message}", hint=hint
            ) from e
        except duckdb.Error as e:
            raise AnalyticsError(
                f"cannot open the analytics file {path}: {str(e).splitlines()[0]}",
                hint="delete it: it is rebuilt from the log",
            ) from e
    try:
        # timestamps print in UTC whatever the machine's zone, so outputs are stable
        con.execute("SET TimeZone = 'UTC'")
    except BaseException:
        con.close()
        raise
    return con


def arrow_type(sql_type: str) -> pa.DataType:
    return _ARROW[sql_type]


def arrow_table(table: str, columns: dict[str, list[Any]]) -> pa.Table:
    """The Arrow table of column lists; an event table's rows are its runs' own (see
    ``OWN_ROW_COLUMNS``): ``source_run_id`` is ``run_id``'s array, ``inherited`` false."""
    types = TABLES[table].columns
    arrays = {name: pa.array(values, _ARROW[types[name][0]]) for name, values in columns.items()}
    if TABLES[table].kind == "event" and "source_run_id" not in arrays:
        arrays["source_run_id"] = arrays["run_id"]
        arrays["inherited"] = pa.repeat(False, len(arrays["run_id"]))
    return pa.Table.from_pydict(arrays)


def select_list(table: str) -> str:
    """The columns of ``table`` as a SELECT list over its Arrow batch (casts included)."""
    out = []
    for name, (sql_type, _) in TABLES[table].columns.items():
        out.append(f"CAST({name} AS {sql_type})" if sql_type == "TIMESTAMPTZ" else name)
    return ", ".join(out)


def insert_arrow(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    """``INSERT INTO table SELECT ... FROM`` the Arrow table: one bulk load, no row loop."""
    if data.num_rows == 0:
        return
    con.register("_arrow_batch", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT {select_list(table)} FROM _arrow_batch")
    finally:
        con.unregister("_arrow_batch")
