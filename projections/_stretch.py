"""A stretch of the log as what one catch-up step inserts.

The stretch arrives as one Arrow table of the log's raw rows
(``EventStore.iter_raw_arrow``: no Python object per value). DuckDB builds the
``events`` rows and the rows of the frequent types from it in SQL (``_sql_rows``);
Python builds the rest. The common stretch (every event under its type's current
schema version) goes the fast way:

- every payload is checked by one msgspec call over the whole stretch, a JSON array of
  the union of the (light) event structs, each struct's class checked against its
  row's type: DuckDB's ``from_json`` turns a wrongly typed value into text or null,
  where msgspec names the damaged event. The array is the payload column's own buffer
  with commas put between the values (numpy), not a Python object per payload;
- the rows DuckDB does not build (lifecycle, failures, human answers, exogenous events,
  a world update's variables: ~3% of a played log) are built in Python from the
  structs already decoded, for those rows only.

A stretch holding an event stored under an older schema version, of an unknown type,
or not readable by the array decoder goes through ``_columns.build``: one decoder call
per type, upcasters for the old versions, and payloads decoded one by one when a batch
fails, so the error names what is damaged.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from operator import is_
from typing import Any, Union

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from eventstore import EVENT_TYPES, StoreError

from ._catalog import EVENT_TABLES
from ._columns import _SQL_REST, DECODED, HANDLERS, TYPE, Batch, Row, build
from ._duck import arrow_table
from ._sql_rows import SQL_TYPES

# One decoder for a stretch of every type: each payload's "type" tag picks its struct.
_STRETCH_DECODER: msgspec.json.Decoder[list[Any]] = msgspec.json.Decoder(
    list[Union[tuple(DECODED.values())]]  # type: ignore[misc]  # noqa: UP007
)
# The (type, version) pairs the fast way takes: every known type at its current version.
_CURRENT = {(name, cls.SCHEMA_VERSION) for name, cls in EVENT_TYPES.items()}
# Types built in Python from their decoded structs (with what is left to Python of the
# types DuckDB builds: a world update's variables).
_PYTHON = {t: h for t, h in HANDLERS.items() if t not in SQL_TYPES} | _SQL_REST
_PYTHON_TYPES = pa.array(sorted(_PYTHON), pa.string())
_COMMA, _NOTHING = pa.scalar(b",", pa.binary()), pa.scalar(b"", pa.binary())
_OPEN, _CLOSE = b"[]"
_SCRATCH = threading.local()


def with_text_payloads(raw: pa.Table) -> pa.Table:
    """``raw`` with its payloads as UTF-8 text, as DuckDB reads them; a payload that is
    not UTF-8 is a ``StoreError`` (an SQL edit of the log may have left one)."""
    try:
        text = raw["payload"].cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise StoreError(
            "a stored event payload is not UTF-8 JSON",
            hint="run `scenario-lab verify` to find the damaged event",
        ) from e
    return raw.set_column(raw.schema.get_field_index("payload"), "payload", text)


def _rows(raw: pa.Table) -> list[Row]:
    """The rows as tuples (``eventstore.RawEvent``), for the Python handlers."""
    return list(zip(*(column.to_pylist() for column in raw.columns), strict=True))


def _json_array(payloads: pa.ChunkedArray) -> memoryview:
    """``[p1,p2,...]`` without a Python object per payload: Arrow appends a comma to
    every payload in one pass (the values stay contiguous), and that buffer is copied
    once between the brackets (the last comma becomes the closing one), into a buffer
    this thread keeps for its next stretch (a new one every time cost more in page
    faults than the copy). Valid until the thread's next call."""
    each = pc.binary_join_element_wise(payloads.combine_chunks(), _COMMA, _NOTHING)
    offsets = memoryview(each.buffers()[1]).cast("i")  # int32: a binary array's offsets
    start, end = offsets[each.offset], offsets[each.offset + len(each)]
    size = end - start + 1
    scratch: bytearray = getattr(_SCRATCH, "buffer", bytearray())
    if len(scratch) < size:
        scratch = _SCRATCH.buffer = bytearray(size)
    out = memoryview(scratch)[:size]
    out[1:] = memoryview(each.buffers()[2]).cast("B")[start:end]
    out[0], out[-1] = _OPEN, _CLOSE
    return out


def _decoded(raw: pa.Table, types: list[str]) -> list[Any] | None:
    """Every payload of the stretch decoded in one call, or None when the stretch must
    go the careful way (an older version, an unknown type, a payload refused, a
    ``type`` tag that is not its row's)."""
    if not set(zip(types, raw["schema_version"].to_pylist(), strict=True)) <= _CURRENT:
        return None
    if raw["payload"].null_count:
        return None
    try:
        evs: list[Any] = _STRETCH_DECODER.decode(_json_array(raw["payload"]))
    except (TypeError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    # a payload holding two JSON values ("{...},{...}") would shift every later one
    if len(evs) != len(types) or not all(map(is_, map(type, evs), map(DECODED.__getitem__, types))):
        return None
    return evs


def _careful(raw: pa.Table, sql_types: Collection[str]) -> tuple[dict[str, pa.Table], Batch]:
    batch = build(_rows(raw), sql_types)
    tables = {}
    for table in EVENT_TABLES:
        columns = batch.columns[table]
        if table != "events" and columns["run_id"]:  # DuckDB builds `events` (_sql_rows)
            tables[table] = arrow_table(table, columns)
    batch.columns = {}  # the Arrow tables hold the rows now
    batch.payloads = []
    return tables, batch


def _fast(raw: pa.Table, types: list[str], evs: list[Any]) -> tuple[dict[str, pa.Table], Batch]:
    b = Batch()
    present = set(types)
    python = [t for t in present if t in _PYTHON]
    if python:
        index = pc.indices_nonzero(pc.is_in(raw["type"], value_set=_PYTHON_TYPES)).to_pylist()
        rows = _rows(raw.take(index))
        groups: dict[str, list[int]] = {t: [] for t in python}
        for i, row in enumerate(rows):
            groups[row[TYPE]].append(i)
        for type_name, group in groups.items():
            _PYTHON[type_name](b, [rows[i] for i in group], [evs[index[i]] for i in group])
    tables = {}
    for table in EVENT_TABLES:
        if table != "events" and b.columns[table]["run_id"]:
            tables[table] = arrow_table(table, b.columns[table])
    b.columns = {}
    b.sql_types = [t for t in SQL_TYPES if t in present]
    return tables, b


def prepare(raw: pa.Table, *, sql_rows: bool = True) -> tuple[pa.Table, dict[str, pa.Table], Batch]:
    """What one step inserts for a stretch of raw log rows (``iter_raw_arrow``, in
    position order): the stretch with its payloads as text, from which DuckDB builds
    ``events`` and the rows of the types in ``Batch.sql_types`` (``insert_sql_rows``);
    the Arrow tables of the rows Python builds; and what the end of its transaction
    needs (forks, scenarios, runs, position). ``sql_rows=False`` builds every typed row
    in Python instead: the reference the equivalence tests compare DuckDB's rows with."""
    types: list[str] = raw["type"].to_pylist()
    evs = _decoded(raw, types) if sql_rows else None
    if evs is None:
        tables, batch = _careful(raw, SQL_TYPES if sql_rows else ())
    else:
        tables, batch = _fast(raw, types, evs)
    stretch = with_text_payloads(raw)  # after the decoders: they name a damaged event better
    batch.runs.update(pc.unique(raw["run_id"]).to_pylist())
    batch.count = raw.num_rows
    batch.last_position = raw["position"][-1].as_py()
    batch.last_event_id = raw["event_id"][-1].as_py()
    return stretch, tables, batch
