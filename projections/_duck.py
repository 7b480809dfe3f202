"""Opening the analytics file and bulk-loading Arrow tables into it."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ._catalog import TABLES
from ._errors import AnalyticsError
from ._limits import out_of_memory

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


# Every DuckDB file has these bytes after its 8-byte header checksum.
_DUCKDB_MAGIC = b"DUCK"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _not_duckdb(path: Path) -> str | None:
    """Why the existing ``path`` cannot be an analytics file, or None (missing, or a
    DuckDB file). Checked before DuckDB opens it: DuckDB would try to download an
    extension for a SQLite file, and advice to delete must never reach someone's data."""
    if path.is_dir():
        return "is a folder"
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None  # missing, or unreadable: DuckDB creates it or says why
    if len(head) < 12 or head[8:12] == _DUCKDB_MAGIC:
        # shorter: empty, or another process is creating it under its lock, which
        # DuckDB waits for; an empty file holds nothing to lose
        return None
    if head.startswith(_SQLITE_MAGIC):
        return "is a SQLite database, not a DuckDB one"
    return "exists and is not a DuckDB database"


def connect(
    path: Path,
    *,
    read_only: bool = False,
    external_access: bool = True,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection to the analytics file; waits while another process holds it.

    DuckDB lets one process write a file, or several read it, at a time. A catch-up by
    another command finishes in seconds, so waiting beats failing.

    ``external_access=False`` (for a user's SQL): the connection cannot read or write
    any other file (COPY, read_csv, ATTACH, extensions), and its configuration is
    locked so the SQL cannot switch that back on, nor raise ``memory_limit`` (a DuckDB
    size, e.g. ``2GB`` or ``25%`` of the machine's memory; None: DuckDB's default).
    """
    why = _not_duckdb(path)
    if why:
        raise AnalyticsError(
            f"the analytics file {path} {why}",
            hint="it was left as it is; choose another --analytics path, e.g. a new file name",
        )
    if not read_only and not path.parent.exists():
        raise AnalyticsError(
            f"cannot create the analytics file {path}: folder {path.parent} does not exist",
            hint="create the folder or choose another --analytics path",
        )
    if not read_only and not path.exists():
        _create(path)
    # DuckDB settings belong to the database instance, which connections to the same
    # file in one process share: given at connect, a sandbox never changes another
    # connection's instance (DuckDB refuses to mix the two instead).
    config: dict[str, str | bool | int | float | list[str]] = {}
    if not external_access:
        config["enable_external_access"] = False
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    # what to do if the file is a DuckDB file that cannot be opened: only a file
    # scenario-lab made is safe to delete, and that cannot be told from outside
    unusable = (
        "choose another --analytics path, or, if scenario-lab made this file, delete it "
        "(it is rebuilt from the log)"
    )
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
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
                else unusable
            )
            raise AnalyticsError(
                f"cannot open the analytics file {path}: {message}", hint=hint
            ) from e
        except duckdb.OutOfMemoryException as e:
            if memory_limit is None:
                raise AnalyticsError(f"cannot open the analytics file {path}: {e}") from e
            raise out_of_memory(memory_limit) from e
        except duckdb.Error as e:
            raise AnalyticsError(
                f"cannot open the analytics file {path}: {str(e).splitlines()[0]}",
                hint=unusable,
            ) from e
    try:
        # timestamps print in UTC whatever the machine's zone, so outputs are stable
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB draws a progress bar on stdout (even into a pipe) for a query past ~2 s:
        # it would end up inside the CSV or JSON a command prints
        # (in a Jupyter kernel without ipywidgets DuckDB refuses to touch the setting,
        # and then has no progress bar to draw either)
        with contextlib.suppress(duckdb.InvalidInputException):
            con.execute("SET enable_progress_bar = false")
        if not external_access:
            con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _create(path: Path) -> None:
    """Make an empty analytics file at ``path`` all at once: built beside it under
    another name, then linked into place. A full disk (or a kill) part way leaves no
    file at ``path``, where a partial one would stop every later command ("could not
    read enough bytes"); the next command simply tries again."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.new")
    try:
        try:
            duckdb.connect(str(temp)).close()  # DuckDB writes the whole header on close
        except duckdb.Error as e:
            why = str(e).splitlines()[0].replace(str(temp), str(path))
            raise AnalyticsError(
                f"cannot create the analytics file {path}: {why}",
                hint="nothing was left behind; free some space and run the command again",
            ) from e
        try:
            os.link(temp, path)  # never replaces a file another process just made
        except FileExistsError:
            pass  # another command made it first: use theirs
        except OSError:
            # a file system without hard links: a rename that could replace a file
            # made in the last instant beats not working at all
            if not path.exists():
                os.replace(temp, path)
    finally:
        for leftover in (temp, temp.with_name(temp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


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
