"""The rows of the frequent event types, built by DuckDB from the payload JSON.

Building a table's rows in Python (a list per column, then an Arrow array per list)
cost more than reading and decoding the log together: ~3.5 µs an event. Here DuckDB
does it instead, on the stretch already loaded into ``events`` as an Arrow table:
``INSERT INTO table SELECT ... FROM (SELECT from_json(payload, struct) ...)`` per event
type, at the type's current schema version only (older payloads need the upcasters in
Python). DuckDB works without the GIL on the worker thread while the next stretch is
read and checked.

Python still decodes every one of these payloads with msgspec before they reach DuckDB,
only to check them: DuckDB's ``from_json`` is lenient (``"actor": 5`` becomes ``'5'``,
a wrong type becomes null) and msgspec's errors are the project's (a damaged payload is
named). So DuckDB only ever reads payloads msgspec accepted, for which the two agree,
except in one case msgspec's encoder never writes: an object with a key twice (DuckDB
keeps the first, msgspec the last; ``verify`` reports such an edited payload).

A table whose catalogue has a column this module does not know is built in Python, so
a column added to the catalogue is never silently left empty (and
``tests/test_projections_equivalence.py`` fails until it is added here).
"""

from __future__ import annotations

import duckdb

from eventstore import EVENT_TYPES

from ._catalog import PAYLOAD_TYPES, TABLES

# The part of ``ModelCall`` the tables read (``attempts`` only counted).
_CALL = (
    '"call": {"model": "VARCHAR", "input_tokens": "INTEGER", "output_tokens": "INTEGER", '
    '"cost_usd": "DOUBLE", "latency_ms": "DOUBLE", "attempts": "JSON[]"}'
)
_LIST = "VARCHAR[]"


def _nullable_cost(field: str, path: str, parent: str | None = None) -> str:
    """A cost: null in the payload (no price known) stays null, a key left out takes
    the default 0.0. ``from_json`` reads both as null: only then is the payload parsed
    again to tell them apart (DuckDB evaluates a CASE branch only for its rows)."""
    no_parent = f"WHEN {parent} IS NULL THEN 0.0 " if parent else ""
    return (
        f"CASE WHEN {field} IS NOT NULL THEN {field} {no_parent}"
        f"WHEN json_type(p, '{path}') = 'NULL' THEN NULL ELSE 0.0 END"
    )


# Column expressions of a model call's columns; every default as in ``ModelCall``.
_CALL_COLUMNS = {
    "model": "j.call.model",
    "input_tokens": "coalesce(j.call.input_tokens, 0)",
    "output_tokens": "coalesce(j.call.output_tokens, 0)",
    # null (no price known) stays null; a key left out takes the default
    "cost_usd": _nullable_cost("j.call.cost_usd", "$.call.cost_usd", "j.call"),
}


def _empty(name: str) -> str:
    return f"coalesce(j.{name}, []::VARCHAR[])"


def _text(name: str, default: str) -> str:
    return f"coalesce(j.{name}, '{default}')"


# Per event type: (table, the payload's fields as a from_json struct, column -> SQL).
# Defaults are those of the event classes in eventstore/_events.py (a key left out of a
# payload decodes to null here).
_SPECS: dict[str, tuple[str, str, dict[str, str]]] = {
    "DecisionMade": (
        "decisions",
        '{"actor": "VARCHAR", "request_id": "VARCHAR", "long_term_goals": "VARCHAR[]", '
        '"short_term_priorities": "VARCHAR[]", "reasoning": "VARCHAR", "action": "VARCHAR", '
        '"action_name": "VARCHAR", "brain": "VARCHAR", "parse_method": "VARCHAR", ' + _CALL + "}",
        {
            "actor": "j.actor",
            "request_id": "j.request_id",
            "brain": _text("brain", "ai"),
            **_CALL_COLUMNS,
            "long_term_goals": _empty("long_term_goals"),
            "short_term_priorities": _empty("short_term_priorities"),
            "reasoning": _text("reasoning", ""),
            "action": _text("action", ""),
            "action_name": "j.action_name",
            "parse_method": _text("parse_method", ""),
            "latency_ms": "coalesce(j.call.latency_ms, 0.0)",
            "attempts": "coalesce(len(j.call.attempts), 0)",
            "human": "false",
            "submitted_by": "NULL",
            "failed": "false",
            "error": "NULL",
            "error_kind": "NULL",
        },
    ),
    "MessageSent": (
        "messages",
        '{"message_id": "VARCHAR", "channel": "VARCHAR", "sender": "VARCHAR", '
        '"recipients": "VARCHAR[]", "visibility": "VARCHAR", "kind": "VARCHAR", '
        '"content": "VARCHAR", "thread_id": "VARCHAR", "in_reply_to": "VARCHAR", ' + _CALL + "}",
        {
            "message_id": "j.message_id",
            "channel": "j.channel",
            "sender": "j.sender",
            "recipients": "j.recipients",
            "visibility": "j.visibility",
            "kind": _text("kind", "talk"),
            "content": _text("content", ""),
            "thread_id": "j.thread_id",
            "in_reply_to": "j.in_reply_to",
            **_CALL_COLUMNS,
        },
    ),
    # its variables (one row each) are built in Python from the checked payloads
    "WorldUpdated": (
        "world_states",
        '{"narrative": "VARCHAR", "key_changes": "VARCHAR[]", "consequences": "VARCHAR[]", '
        '"source": "VARCHAR", ' + _CALL + "}",
        {
            "narrative": "j.narrative",
            "key_changes": _empty("key_changes"),
            "consequences": _empty("consequences"),
            "source": _text("source", "llm"),
            **_CALL_COLUMNS,
        },
    ),
    "MetricRecorded": (
        "metrics",
        '{"name": "VARCHAR", "value": "DOUBLE", "category": "VARCHAR", "actor": "VARCHAR", '
        '"method": "VARCHAR", "error": "VARCHAR", ' + _CALL + "}",
        {
            "name": "j.name",
            "value": "j.value",
            "category": "j.category",
            "actor": "j.actor",
            "method": _text("method", ""),
            "error": "j.error",
            "model": _CALL_COLUMNS["model"],
            "cost_usd": _CALL_COLUMNS["cost_usd"],
        },
    ),
    "CostIncurred": (
        "costs",
        '{"actor": "VARCHAR", "model": "VARCHAR", "purpose": "VARCHAR", '
        '"input_tokens": "INTEGER", "output_tokens": "INTEGER", "cost_usd": "DOUBLE", '
        '"request_id": "VARCHAR", "cached_prompt_tokens": "INTEGER", '
        '"cache_saving_usd": "DOUBLE"}',
        {
            "actor": "j.actor",
            "model": "j.model",
            "purpose": "j.purpose",
            "input_tokens": "coalesce(j.input_tokens, 0)",
            "output_tokens": "coalesce(j.output_tokens, 0)",
            "cost_usd": _nullable_cost("j.cost_usd", "$.cost_usd"),
            "request_id": "j.request_id",
            # CostIncurred v4; null (unknown) when absent, as the event's default
            "cached_prompt_tokens": "j.cached_prompt_tokens",
            "cache_saving_usd": "j.cache_saving_usd",
        },
    ),
    "ValidationRecorded": (
        "validations",
        '{"check": "VARCHAR", "passed": "BOOLEAN", "severity": "VARCHAR", '
        '"issues": "VARCHAR[]", "explanation": "VARCHAR", ' + _CALL + "}",
        {
            "check_name": 'j."check"',
            "passed": "j.passed",
            "severity": _text("severity", "low"),
            "issues": _empty("issues"),
            "explanation": _text("explanation", ""),
            "model": _CALL_COLUMNS["model"],
            "cost_usd": _CALL_COLUMNS["cost_usd"],
        },
    ),
}

# The columns every event table takes from the row itself, not from its payload.
_OWN = {
    "run_id": "run_id",
    "seq": "seq",
    "turn": "turn",
    "position": "position",
    "source_run_id": "run_id",
    "inherited": "false",
}


def _insert_sql(type_name: str, version: int) -> str | None:
    table, struct, columns = _SPECS[type_name]
    exprs = []
    for name, (sql_type, _) in TABLES[table].columns.items():
        expr = _OWN.get(name) or columns.get(name)
        if expr is None:
            return None  # a column this module does not know: built in Python
        exprs.append(f"CAST({expr} AS {sql_type})")
    # type names are our own identifiers, versions ints: safe to inline
    return (
        f"INSERT INTO {table} SELECT {', '.join(exprs)} FROM ("
        f"SELECT run_id, seq, turn, position, payload AS p, from_json(payload, '{struct}') AS j "
        f"FROM _stretch WHERE type = '{type_name}' AND schema_version = {version})"
    )


def _statements() -> dict[str, str]:
    out = {}
    for type_name in _SPECS:
        sql = _insert_sql(type_name, EVENT_TYPES[type_name].SCHEMA_VERSION)
        if sql is not None:
            out[type_name] = sql
    return out


# Event type -> the INSERT that builds its rows from a stretch (current version only).
SQL_TYPES: dict[str, str] = _statements()


def _events_sql() -> str:
    exprs = []
    for name, (sql_type, _) in TABLES["events"].columns.items():
        if name == "payload":
            kept = ", ".join(f"'{t}'" for t in PAYLOAD_TYPES)  # our own identifiers
            exprs.append(f"CASE WHEN type IN ({kept}) THEN payload END")
        else:
            exprs.append(f"CAST({_OWN.get(name, name)} AS {sql_type})")
    return f"INSERT INTO events SELECT {', '.join(exprs)} FROM _stretch"


_EVENTS_SQL = _events_sql()


def insert_sql_rows(con: duckdb.DuckDBPyConnection, stretch: object, types: list[str]) -> None:
    """The ``events`` rows of ``stretch`` (the Arrow table of a stretch's raw rows, its
    payloads as text) and the rows of ``types`` (keys of ``SQL_TYPES``) built from it,
    inserted by DuckDB."""
    con.register("_stretch", stretch)
    try:
        con.execute(_EVENTS_SQL)
        for type_name in types:
            con.execute(SQL_TYPES[type_name])
    finally:
        con.unregister("_stretch")
