"""A stretch of the log as the Arrow tables one catch-up step inserts.

The common stretch (every event under its type's current schema version) goes the
fast way, with no Python list per column:

- the ``events`` table is the stretch's rows turned into Arrow columns in one call
  (the row tuples as an Arrow struct array);
- every payload is checked by one msgspec call over the whole stretch, a JSON array of
  the union of the (light) event structs, each struct's class checked against its
  row's type; a stretch the array decoder refuses goes the careful way below, which
  names the damaged event;
- DuckDB builds the rows of the frequent types from the payload JSON
  (``_sql_rows``), the rest (lifecycle, failures, human answers, exogenous events, a
  world update's variables: ~3% of a played log) is built in Python from the structs
  already decoded.

A stretch holding an event stored under an older schema version, of an unknown type,
or not readable by the array decoder goes through ``_columns.build``: one decoder call
per type, upcasters for the old versions, and payloads decoded one by one when a batch
fails, so the error names what is damaged.
"""

from __future__ import annotations

from collections.abc import Collection
from operator import is_
from typing import Any, Union

import msgspec
import pyarrow as pa

from eventstore import EVENT_TYPES, StoreError

from ._catalog import EVENT_TABLES, TABLES
from ._columns import (
    _SQL_REST,
    ACTOR,
    AT,
    DECODED,
    EID,
    HANDLERS,
    PAYLOAD,
    RUN,
    SEQ,
    TURN,
    TYPE,
    VERSION,
    Batch,
    P,
    Row,
    build,
)
from ._duck import arrow_table, arrow_type
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
_EVENTS = TABLES["events"].columns
# A raw row (``eventstore.RawEvent``) as an Arrow struct: a stretch of rows becomes
# the ``events`` table's columns in one call, without a Python list per column.
_RAW_NAMES = {
    P: "position",
    RUN: "run_id",
    SEQ: "seq",
    TURN: "turn",
    TYPE: "type",
    VERSION: "schema_version",
    ACTOR: "actor",
    EID: "event_id",
    AT: "recorded_at",
    PAYLOAD: "payload",
}
_RAW_ROW = pa.struct(
    [
        (name, pa.binary() if i == PAYLOAD else arrow_type(_EVENTS[name][0]))
        for i, name in sorted(_RAW_NAMES.items())
    ]
)


def payload_array(payloads: Any) -> pa.Array:
    """The payloads as an Arrow string array; a payload that is not UTF-8 is a
    ``StoreError`` (SQL edits of the log may have left some as TEXT: accepted)."""
    try:
        return pa.array(payloads, pa.binary()).cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fixed = [p.encode() if isinstance(p, str) else bytes(p) for p in payloads]
        try:
            return pa.array(fixed, pa.binary()).cast(pa.string())
        except pa.ArrowInvalid as e:
            raise StoreError(
                "a stored event payload is not UTF-8 JSON",
                hint="run `scenario-lab verify` to find the damaged event",
            ) from e


def _events_table(rows: list[Row]) -> pa.Table:
    raw = pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array(rows, _RAW_ROW))])
    data = {name: raw[name] for name in _EVENTS if name in _RAW_ROW.names}
    # the stretch's own rows: see ``OWN_ROW_COLUMNS``
    data["source_run_id"] = data["run_id"]
    data["inherited"] = pa.chunked_array([pa.repeat(False, len(rows))])
    # msgspec has read every payload, but not every string it skipped: Arrow checks
    data["payload"] = raw["payload"].cast(pa.string())
    return pa.table(data)


def _json_array(payloads: tuple[Any, ...]) -> bytes:
    """``[p1,p2,...]`` in one allocation (the stretch's payloads are tens of MB)."""
    parts = list(payloads)
    parts[0] = b"[" + parts[0]
    parts[-1] = parts[-1] + b"]"
    return b",".join(parts)


def _decoded(columns: list[tuple[Any, ...]]) -> list[Any] | None:
    """Every payload of the stretch decoded in one call, or None when the stretch must
    go the careful way (an older version, an unknown type, a payload refused or stored
    as TEXT, a ``type`` tag that is not its row's)."""
    types, payloads = columns[TYPE], columns[PAYLOAD]
    if not set(zip(types, columns[VERSION], strict=True)) <= _CURRENT:
        return None
    try:
        evs: list[Any] = _STRETCH_DECODER.decode(_json_array(payloads))
    except (TypeError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    # a payload holding two JSON values ("{...},{...}") would shift every later one
    if len(evs) != len(types) or not all(map(is_, map(type, evs), map(DECODED.__getitem__, types))):
        return None
    return evs


def _careful(rows: list[Row], sql_types: Collection[str]) -> tuple[dict[str, pa.Table], Batch]:
    batch = build(rows, sql_types)
    tables = {}
    for table in EVENT_TABLES:
        columns = batch.columns[table]
        if table == "events":
            data = arrow_table(table, {c: v for c, v in columns.items() if c != "payload"})
            tables[table] = data.append_column("payload", payload_array(batch.payloads))
        elif columns["run_id"]:
            tables[table] = arrow_table(table, columns)
    batch.columns = {}  # the Arrow tables hold the rows now
    batch.payloads = []
    return tables, batch


def prepare(rows: list[Row], *, sql_rows: bool = True) -> tuple[dict[str, pa.Table], Batch]:
    """The Arrow tables of a stretch of raw log rows (in position order), and what the
    end of its transaction needs (forks, scenarios, runs, position). The rows of the
    types in ``Batch.sql_types`` are not among them: DuckDB builds them from the
    ``events`` table (``insert_sql_rows``). ``sql_rows=False`` builds every row in
    Python instead: the reference the equivalence tests compare DuckDB's rows with."""
    columns = list(zip(*rows, strict=True))
    evs = _decoded(columns) if sql_rows else None
    if evs is None:
        return _careful(rows, SQL_TYPES if sql_rows else ())
    b = Batch()
    present = set(columns[TYPE])
    groups: dict[str, list[int]] = {t: [] for t in present if t in _PYTHON}
    if groups:
        for i, t in enumerate(columns[TYPE]):
            if t in groups:
                groups[t].append(i)
    for type_name, index in groups.items():
        _PYTHON[type_name](b, [rows[i] for i in index], [evs[i] for i in index])
    try:
        tables = {"events": _events_table(rows)}
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a payload not UTF-8: named there
        return _careful(rows, SQL_TYPES)
    for table in EVENT_TABLES:
        if table != "events" and b.columns[table]["run_id"]:
            tables[table] = arrow_table(table, b.columns[table])
    b.columns = {}
    b.sql_types = [t for t in SQL_TYPES if t in present]
    b.runs.update(columns[RUN])
    b.count = len(rows)
    b.last_position = rows[-1][P]
    b.last_event_id = rows[-1][EID]
    return tables, b
