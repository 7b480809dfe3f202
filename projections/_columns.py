"""Stored events to column lists: the hot path of every catch-up.

Rows come from the log as stored (``EventStore.iter_raw``, payloads undecoded) in
position order: ``iter_after`` builds a ``Recorded`` and decodes each event one by one,
which alone capped a rebuild near 110k events/s. Here the payloads of one event type
are decoded in one call (a JSON array through a reused typed msgspec decoder) into
structs holding only the fields the tables keep, and each table's columns are filled
with one list comprehension per column. Events stored under an older schema version go
through ``eventstore.decode``, which upgrades them; a payload the fast path rejects is
decoded again one by one, so the error names what is damaged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from eventstore import (
    EVENT_TYPES,
    Event,
    RunFailed,
    RunForked,
    RunHalted,
    RunResumed,
    RunStarted,
    decode,
)

from ._catalog import EVENT_TABLES, TABLES

# A raw row of the log (``eventstore.RawEvent``), indexed by the names below. Typed
# loosely: a payload edited in SQL may come back as text (see ``_as_bytes``).
Row = tuple[Any, ...]
P, RUN, SEQ, TURN, TYPE, VERSION, ACTOR, EID, AT, PAYLOAD = range(10)
# Columns that are the same for every row read from the log (``source_run_id`` is the
# run itself, ``inherited`` false; only fork copies, made in SQL, differ): filled in as
# Arrow arrays when the tables are built, not as lists per row.
OWN_ROW_COLUMNS = ("source_run_id", "inherited")


def _light(cls: type[Event], names: tuple[str, ...]) -> type[msgspec.Struct]:
    """A struct of only the fields a table needs, typed and defaulted as in ``cls``.

    Decoding into it skips what no table holds (prompt and response hashes, attempt
    details, ...): half the decode time of a decision. Built from the catalogue, so a
    field's type or default cannot drift from it.
    """
    info = {f.name: f for f in msgspec.structs.fields(cls)}
    fields: list[tuple[str, Any, Any]] = []
    for name in names:
        f = info[name]
        if name == "call":
            fields.append((name, _Call | None, None))
        elif f.default_factory is not msgspec.NODEFAULT:
            fields.append((name, f.type, msgspec.field(default_factory=f.default_factory)))
        elif f.default is not msgspec.NODEFAULT:
            fields.append((name, f.type, f.default))
        else:
            fields.append((name, f.type, msgspec.field()))
    # tagged like ``cls``: a stretch of many types decodes as one array of their union
    config = cls.__struct_config__
    return msgspec.defstruct(
        f"Light{cls.__name__}",
        fields,
        kw_only=True,
        tag=config.tag,
        tag_field=config.tag_field,
        gc=False,
    )


class _Call(msgspec.Struct, kw_only=True):
    """The part of a ``ModelCall`` the tables hold."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    attempts: tuple[msgspec.Raw, ...] = ()


_TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "DecisionMade": (
        "actor", "request_id", "long_term_goals", "short_term_priorities", "reasoning",
        "action", "action_name", "brain", "parse_method", "call",
    ),
    "DecisionFailed": ("actor", "request_id", "error", "error_kind", "call"),
    "HumanDecisionSubmitted": (
        "actor", "request_id", "kind", "long_term_goals", "short_term_priorities",
        "reasoning", "action", "action_name", "submitted_by",
    ),
    "MessageSent": (
        "message_id", "channel", "sender", "recipients", "visibility", "kind", "content",
        "thread_id", "in_reply_to", "call",
    ),
    "WorldUpdated": ("narrative", "key_changes", "consequences", "variables", "source", "call"),
    "MetricRecorded": ("name", "value", "category", "actor", "method", "error", "call"),
    "ValidationRecorded": ("check", "passed", "severity", "issues", "explanation", "call"),
}  # fmt: skip
# per type: what its payloads decode into (light where a table needs less)
DECODED: dict[str, type[msgspec.Struct]] = {
    name: _light(cls, _TABLE_FIELDS[name]) if name in _TABLE_FIELDS else cls
    for name, cls in EVENT_TYPES.items()
}
# per type: a decoder of a JSON array of its payloads
_LIST_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(list[t])  # type: ignore[valid-type]
    for name, t in DECODED.items()
}
_encoder = msgspec.json.Encoder(order="sorted")


def json_text(value: Any) -> str:
    """Canonical JSON (sorted keys) so equal settings compare and group as equal text."""
    return _encoder.encode(value).decode()


@dataclass(frozen=True)
class ForkSpec:
    run_id: str
    parent_run_id: str
    fork_seq: int


@dataclass
class Batch:
    """The rows of one stretch of the log, per table, ready for Arrow."""

    columns: dict[str, dict[str, list[Any]]] = field(
        default_factory=lambda: {
            t: {c: [] for c in TABLES[t].columns if c not in OWN_ROW_COLUMNS} for t in EVENT_TABLES
        }
    )
    payloads: list[bytes] = field(default_factory=list)
    sql_types: list[str] = field(default_factory=list)  # types whose rows DuckDB builds
    forks: list[ForkSpec] = field(default_factory=list)
    runs: set[str] = field(default_factory=set)
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    count: int = 0
    last_position: int = 0
    last_event_id: str = ""


def _as_bytes(payload: Any) -> bytes:
    # an SQL edit of the log (replace(), ||) turns a BLOB into TEXT
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def decode_many(type_name: str, rows: Sequence[Row], *, current: bool | None = None) -> list[Any]:
    """The events of ``rows`` (all of one type), decoded in one call when possible.

    ``current``: whether every row is of the type's current schema version, when the
    caller already knows (checked per row otherwise).
    """
    cls = EVENT_TYPES.get(type_name)
    decoder = _LIST_DECODERS.get(type_name)
    if cls is not None and decoder is not None:
        if current is None:
            current = all(r[VERSION] == cls.SCHEMA_VERSION for r in rows)
        if current:
            try:
                evs: list[Any] = decoder.decode(b"[" + b",".join([r[PAYLOAD] for r in rows]) + b"]")
            except (TypeError, msgspec.DecodeError, msgspec.ValidationError):
                pass  # one by one below: names the damaged event, converts TEXT payloads
            else:
                # a payload holding two JSON values ("{...},{...}") would shift every
                # later event by one; the count catches it
                if len(evs) == len(rows):
                    return evs
    return [decode(r[TYPE], r[VERSION], _as_bytes(r[PAYLOAD])) for r in rows]


def _timeline(cols: dict[str, list[Any]], rows: Sequence[Row]) -> None:
    runs = [r[RUN] for r in rows]
    cols["run_id"] += runs
    cols["seq"] += [r[SEQ] for r in rows]
    cols["turn"] += [r[TURN] for r in rows]
    cols["position"] += [r[P] for r in rows]


def _call_columns(cols: dict[str, list[Any]], calls: list[Any]) -> None:
    """Columns of the model call (a ``ModelCall`` or its light ``_Call``; None without)."""
    cols["model"] += [c.model if c else None for c in calls]
    if "input_tokens" in cols:
        cols["input_tokens"] += [c.input_tokens if c else 0 for c in calls]
        cols["output_tokens"] += [c.output_tokens if c else 0 for c in calls]
    cols["cost_usd"] += [c.cost_usd if c else 0.0 for c in calls]


def _decisions(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    made = rows[0][TYPE] == "DecisionMade"
    human = rows[0][TYPE] == "HumanDecisionSubmitted"
    if human:
        # replies and coalition answers take effect as the MessageSent recorded with them
        keep = [i for i, e in enumerate(evs) if e.kind == "decision"]
        if len(keep) < len(evs):
            rows, evs = [rows[i] for i in keep], [evs[i] for i in keep]
        if not evs:
            return
    cols = b.columns["decisions"]
    n = len(evs)
    _timeline(cols, rows)
    cols["actor"] += [e.actor for e in evs]
    cols["request_id"] += [e.request_id for e in evs]
    calls = [None] * n if human else [e.call for e in evs]
    _call_columns(cols, calls)
    cols["latency_ms"] += [c.latency_ms if c else 0.0 for c in calls]
    cols["attempts"] += [len(c.attempts) if c else 0 for c in calls]
    cols["human"] += [human] * n
    if made:
        cols["brain"] += [e.brain for e in evs]
        cols["parse_method"] += [e.parse_method for e in evs]
    else:
        # a failure only happens to a model call; a human answer is read as given
        cols["brain"] += ["human" if human else "ai"] * n
        cols["parse_method"] += ["human" if human else ""] * n
    cols["action_name"] += [e.action_name for e in evs] if made or human else [None] * n
    if made or human:
        cols["long_term_goals"] += [e.long_term_goals for e in evs]
        cols["short_term_priorities"] += [e.short_term_priorities for e in evs]
        cols["reasoning"] += [e.reasoning for e in evs]
        cols["action"] += [e.action for e in evs]
        cols["failed"] += [False] * n
        cols["error"] += [None] * n
        cols["error_kind"] += [None] * n
    else:
        cols["long_term_goals"] += [()] * n
        cols["short_term_priorities"] += [()] * n
        cols["reasoning"] += [""] * n
        cols["action"] += [""] * n
        cols["failed"] += [True] * n
        cols["error"] += [e.error for e in evs]
        cols["error_kind"] += [e.error_kind for e in evs]
    cols["submitted_by"] += [e.submitted_by for e in evs] if human else [None] * n


def _messages(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    cols = b.columns["messages"]
    _timeline(cols, rows)
    cols["message_id"] += [e.message_id for e in evs]
    cols["channel"] += [e.channel for e in evs]
    cols["sender"] += [e.sender for e in evs]
    cols["recipients"] += [e.recipients for e in evs]
    cols["visibility"] += [e.visibility for e in evs]
    cols["kind"] += [e.kind for e in evs]
    cols["content"] += [e.content for e in evs]
    cols["thread_id"] += [e.thread_id for e in evs]
    cols["in_reply_to"] += [e.in_reply_to for e in evs]
    _call_columns(cols, [e.call for e in evs])


def _world(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    cols = b.columns["world_states"]
    _timeline(cols, rows)
    cols["narrative"] += [e.narrative for e in evs]
    cols["key_changes"] += [e.key_changes for e in evs]
    cols["consequences"] += [e.consequences for e in evs]
    cols["source"] += [e.source for e in evs]
    _call_columns(cols, [e.call for e in evs])
    _variables(b, rows, evs)


def _variables(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    var_rows = [
        (r, name, value)
        for r, e in zip(rows, evs, strict=True)
        for name, value in e.variables.items()
    ]
    if var_rows:
        v = b.columns["variables"]
        _timeline(v, [x[0] for x in var_rows])
        v["name"] += [x[1] for x in var_rows]
        v["value"] += [float(x[2]) for x in var_rows]


def _metrics(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    cols = b.columns["metrics"]
    _timeline(cols, rows)
    cols["name"] += [e.name for e in evs]
    cols["value"] += [e.value for e in evs]
    cols["category"] += [e.category for e in evs]
    cols["actor"] += [e.actor for e in evs]
    cols["method"] += [e.method for e in evs]
    cols["error"] += [e.error for e in evs]
    _call_columns(cols, [e.call for e in evs])


def _costs(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    cols = b.columns["costs"]
    _timeline(cols, rows)
    cols["actor"] += [e.actor for e in evs]
    cols["model"] += [e.model for e in evs]
    cols["purpose"] += [e.purpose for e in evs]
    cols["input_tokens"] += [e.input_tokens for e in evs]
    cols["output_tokens"] += [e.output_tokens for e in evs]
    cols["cost_usd"] += [e.cost_usd for e in evs]
    cols["request_id"] += [e.request_id for e in evs]
    cols["cached_prompt_tokens"] += [e.cached_prompt_tokens for e in evs]
    cols["cache_saving_usd"] += [e.cache_saving_usd for e in evs]


def _call_failures(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    cols = b.columns["call_failures"]
    _timeline(cols, rows)
    cols["purpose"] += [e.purpose for e in evs]
    cols["actor"] += [e.actor for e in evs]
    cols["request_id"] += [e.request_id for e in evs]
    cols["error_kind"] += [e.error_kind for e in evs]
    cols["error"] += [e.error for e in evs]
    cols["asks"] += [e.asks for e in evs]
    cols["model"] += [e.call.model if e.call else None for e in evs]


def _validations(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    cols = b.columns["validations"]
    _timeline(cols, rows)
    cols["check_name"] += [e.check for e in evs]
    cols["passed"] += [e.passed for e in evs]
    cols["severity"] += [e.severity for e in evs]
    cols["issues"] += [e.issues for e in evs]
    cols["explanation"] += [e.explanation for e in evs]
    _call_columns(cols, [e.call for e in evs])


def _exogenous(b: Batch, rows: Sequence[Row], evs: list[Any]) -> None:
    cols = b.columns["exogenous_events"]
    _timeline(cols, rows)
    cols["name"] += [e.name for e in evs]
    cols["description"] += [e.description for e in evs]
    cols["kind"] += [e.kind for e in evs]
    cols["source_index"] += [e.source_index for e in evs]
    cols["effects"] += [e.effects for e in evs]


_LIFECYCLE_DEFAULTS: dict[str, Any] = {
    "reason": None,
    "detail": None,
    "waiting_for": (),
    "seed": None,
    "scenario_name": None,
    "scenario_sha256": None,
    "tool_version": None,
    "parent_run_id": None,
    "fork_turn": None,
    "fork_seq": None,
    "turns": None,
    "credit_limit_usd": None,
    "batch_id": None,
    "variation": None,
    "changes": None,
    "name": None,
    "tags": (),
}


def _lifecycle_values(b: Batch, row: Row, e: Event) -> dict[str, Any]:
    if isinstance(e, RunStarted):
        s = e.settings
        if e.scenario_sha256 not in b.scenarios:  # not a copy of the scenario per run
            b.scenarios[e.scenario_sha256] = {"name": e.scenario_name, **e.scenario}
        return {
            "seed": e.seed,
            "scenario_name": e.scenario_name,
            "scenario_sha256": e.scenario_sha256,
            "tool_version": e.tool_version,
            "turns": s.turns,
            "credit_limit_usd": s.credit_limit_usd,
            "batch_id": s.batch_id,
            "variation": json_text(s.variation),
            "changes": json_text(msgspec.to_builtins(s)),
            "name": e.name,
            "tags": e.tags,
        }
    if isinstance(e, RunForked):
        b.forks.append(ForkSpec(row[RUN], e.parent_run_id, e.fork_seq))
        changes = {
            "model_overrides": e.model_overrides,
            "control_changes": e.control_changes,
            "forced_decisions": e.forced_decisions,
            "injections": list(e.injections),
        }
        return {
            "seed": e.seed,
            "parent_run_id": e.parent_run_id,
            "fork_turn": e.fork_turn,
            "fork_seq": e.fork_seq,
            "turns": e.turns,
            "credit_limit_usd": e.credit_limit_usd,
            "batch_id": e.batch_id,
            "variation": json_text(e.variation),
            "changes": json_text({k: v for k, v in changes.items() if v}),
            "name": e.name,
            "tags": e.tags,
        }
    if isinstance(e, RunHalted):
        return {"reason": e.reason, "detail": e.detail, "waiting_for": e.waiting_for}
    if isinstance(e, RunResumed):
        return {"detail": e.detail, "turns": e.turns, "credit_limit_usd": e.credit_limit_usd}
    if isinstance(e, RunFailed):
        return {"reason": e.error_type or "error", "detail": e.error}
    return {}  # RunCompleted: its type and time say it all


def _lifecycle(b: Batch, rows: Sequence[Row], evs: list[Event]) -> None:
    cols = b.columns["lifecycle"]
    _timeline(cols, rows)
    cols["type"] += [r[TYPE] for r in rows]
    cols["recorded_at"] += [r[AT] for r in rows]
    for row, e in zip(rows, evs, strict=True):
        values = _lifecycle_values(b, row, e)
        for name, default in _LIFECYCLE_DEFAULTS.items():
            cols[name].append(values.get(name, default))


Handler = Callable[[Batch, Sequence[Row], list[Any]], None]
HANDLERS: dict[str, Handler] = {
    "DecisionMade": _decisions,
    "DecisionFailed": _decisions,
    "HumanDecisionSubmitted": _decisions,
    "MessageSent": _messages,
    "WorldUpdated": _world,
    "MetricRecorded": _metrics,
    "CostIncurred": _costs,
    "CallFailed": _call_failures,
    "ValidationRecorded": _validations,
    "ExogenousEventTriggered": _exogenous,
    **{
        t: _lifecycle
        for t in ("RunStarted", "RunForked", "RunResumed", "RunHalted", "RunCompleted", "RunFailed")
    },
}
# decoded only to check they are readable; their facts are in `events` and `turns`
_UNTABLED = {t for t in EVENT_TYPES if t not in HANDLERS}


def _is_old(type_name: str, version: int) -> bool:
    cls = EVENT_TYPES.get(type_name)
    return cls is None or version != cls.SCHEMA_VERSION


# What is left to Python of a type whose rows DuckDB builds (``sql_types`` of ``build``).
_SQL_REST: dict[str, Handler] = {"WorldUpdated": _variables}


def _split_current(type_name: str, group: list[Row]) -> tuple[list[Row], list[Row]]:
    version = EVENT_TYPES[type_name].SCHEMA_VERSION
    current = [r for r in group if r[VERSION] == version]
    return current, [r for r in group if r[VERSION] != version]


def build(rows: list[Row], sql_types: Collection[str] = ()) -> Batch:
    """The rows of every table for a stretch of raw log rows (in position order).

    The rows of types in ``sql_types`` stored under their current schema version are
    only checked here (decoded, so a damaged payload is named): DuckDB builds them from
    the payloads (``_sql_rows``), and ``Batch.sql_types`` lists the types it has to.
    """
    b = Batch()
    ev = b.columns["events"]
    cols = list(zip(*rows, strict=True))
    ev["run_id"] += cols[RUN]
    ev["seq"] += cols[SEQ]
    ev["turn"] += cols[TURN]
    ev["position"] += cols[P]
    ev["type"] += cols[TYPE]
    ev["schema_version"] += cols[VERSION]
    ev["actor"] += cols[ACTOR]
    ev["event_id"] += cols[EID]
    ev["recorded_at"] += cols[AT]
    b.payloads = list(cols[PAYLOAD])
    b.runs.update(cols[RUN])
    by_type: dict[str, list[Row]] = {t: [] for t in dict.fromkeys(cols[TYPE])}
    for r in rows:
        by_type[r[TYPE]].append(r)
    # one pass in C over (type, version) pairs instead of a check per row and type
    old = {t for t, v in set(zip(cols[TYPE], cols[VERSION], strict=True)) if _is_old(t, v)}
    for type_name in by_type:
        group = by_type[type_name]
        handler = HANDLERS.get(type_name)
        if handler is None and type_name in _UNTABLED:
            continue
        if type_name in sql_types:
            current, group = _split_current(type_name, group)
            if current:
                evs = decode_many(type_name, current, current=True)
                b.sql_types.append(type_name)
                rest = _SQL_REST.get(type_name)
                if rest is not None:
                    rest(b, current, evs)
            if not group:
                continue
        evs = decode_many(type_name, group, current=type_name not in old)  # unknown types raise
        if handler is not None:
            handler(b, group, evs)
    b.count = len(rows)
    b.last_position = rows[-1][P]
    b.last_event_id = rows[-1][EID]
    return b
