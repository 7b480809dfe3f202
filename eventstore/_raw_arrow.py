"""The log's raw rows as Arrow tables, for the projections' bulk reader.

``iter_raw`` hands over a Python tuple per event: the stdlib driver builds ten Python
objects per row (~2.4 s of CPU per 1M events, half of it the payloads), which a bulk
reader then turns into Arrow arrays again. Here the ADBC SQLite driver
(``adbc-driver-sqlite``) reads each stretch straight into Arrow columns in C (about half
the CPU, and the payloads stay one contiguous buffer).

ADBC infers a column's Arrow type from the rows of its first batch and refuses a later
value of another kind, so each stretch is one query and one batch (``batch_rows`` set to
the stretch), the payload is read as ``CAST(... AS BLOB)`` (a payload an SQL edit left as
TEXT), and a stretch the driver refuses anyway (a value of an unexpected kind that only
a hand edit writes) is read again with the stdlib driver. The driver reads on a thread
of its own, one stretch ahead of the caller (it works without the GIL). A PostgreSQL log, or a Python
without the driver, takes the stdlib rows too, converted to the same Arrow schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pyarrow as pa

from ._errors import StoreError

RAW_SCHEMA = pa.schema(
    [
        ("position", pa.int64()),
        ("run_id", pa.string()),
        ("seq", pa.int64()),
        ("turn", pa.int64()),
        ("type", pa.string()),
        ("schema_version", pa.int64()),
        ("actor", pa.string()),
        ("event_id", pa.string()),
        ("recorded_at", pa.string()),
        ("payload", pa.binary()),
    ]
)
_ROW = pa.struct(list(RAW_SCHEMA))
_COLUMNS = "position, run_id, seq, turn, type, schema_version, actor, event_id, recorded_at"
_WHERE = "FROM events WHERE position > ? ORDER BY position LIMIT ?"
_SQL = f"SELECT {_COLUMNS}, CAST(payload AS BLOB) AS payload {_WHERE}"
_ROWS_SQL = f"SELECT {_COLUMNS}, payload {_WHERE}"


def rows_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """``iter_raw`` rows as a table of ``RAW_SCHEMA`` (a TEXT payload as its UTF-8); a
    value of another kind than its column's (only an SQL edit writes one) is a
    ``StoreError``."""
    try:
        array = pa.array(rows, _ROW)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        rows = [(*r[:9], r[9].encode() if isinstance(r[9], str) else r[9]) for r in rows]
        try:
            array = pa.array(rows, _ROW)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise StoreError(
                f"a stored event between positions {rows[0][0]} and {rows[-1][0]} has a "
                f"value of the wrong kind ({e})",
                hint="run `scenario-lab verify` to find the damaged event",
            ) from e
    return pa.Table.from_batches([pa.RecordBatch.from_struct_array(array)])


def _conformed(table: pa.Table) -> pa.Table:
    """The driver's table in ``RAW_SCHEMA``: a column null throughout the stretch comes
    back typed as int64 (nothing to infer from)."""
    if table.schema.equals(RAW_SCHEMA):
        return table
    columns = [
        column
        if column.type == field.type
        else pa.nulls(len(column), field.type)
        if column.null_count == len(column)
        else column.cast(field.type)
        for column, field in zip(table.columns, RAW_SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=RAW_SCHEMA)


def _adbc() -> Any | None:
    try:
        import adbc_driver_sqlite.dbapi as adbc
    except ImportError:
        return None
    return adbc


def iter_arrow(path: Path | str, fallback: Any, after: int, chunk: int) -> Iterator[pa.Table]:
    """Stretches of up to ``chunk`` rows after ``after``, as ``RAW_SCHEMA`` tables.

    ``fallback(after, chunk)``: the stdlib rows of one stretch (the store's own read).
    """
    adbc = _adbc() if isinstance(path, Path) else None
    if adbc is None:
        while True:
            rows = fallback(after, chunk)
            if not rows:
                return
            yield rows_table(rows)
            if len(rows) < chunk:
                return
            after = rows[-1][0]
    else:
        yield from _ahead(_adbc_stretches(adbc, Path(path), after, chunk))


def _adbc_stretches(
    adbc: Any, path: Path, after: int, chunk: int
) -> Generator[pa.Table, None, None]:
    # read-only: the projections never write the log
    con = adbc.connect(f"file:{path}?mode=ro")
    rows_con: sqlite3.Connection | None = None  # for a stretch the driver refuses
    try:
        cur = con.cursor()
        try:
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(chunk)})
            while True:
                try:
                    cur.execute(_SQL, (after, chunk))
                    table = _conformed(cur.fetch_arrow_table())
                except (adbc.Error, pa.ArrowException):  # a value of an unexpected kind
                    rows_con = rows_con or sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                    table = rows_table(rows_con.execute(_ROWS_SQL, (after, chunk)).fetchall())
                if not table.num_rows:
                    return
                yield table
                if table.num_rows < chunk:
                    return
                after = table["position"][-1].as_py()
        finally:
            cur.close()
    finally:
        con.close()
        if rows_con is not None:
            rows_con.close()


def _ahead(stretches: Generator[pa.Table, None, None]) -> Iterator[pa.Table]:
    """``stretches``, each next one read on a thread of its own while the caller works
    on the current one: the driver reads without the GIL, beside the caller's Python
    (the catch-up checks a stretch's payloads while the next is read). One ahead, so
    memory holds one stretch more."""
    with ThreadPoolExecutor(1, "log-reader") as pool:
        future = pool.submit(next, stretches, None)
        try:
            while (table := future.result()) is not None:
                future = pool.submit(next, stretches, None)
                yield table
        finally:
            wait([future])  # before the generator (and its connections) is closed
            stretches.close()
