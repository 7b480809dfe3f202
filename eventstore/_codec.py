"""Encoding events to stored payloads and back, upgrading old schema versions on read.

A payload is the msgspec JSON of the event (the ``type`` tag included), so the log is
readable with any SQLite client. Reading an event stored under an older
``schema_version`` runs the upcasters registered for its type, one version step at a
time, before conversion: old runs stay readable after an event type changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

from ._errors import StoreError
from ._events import EVENT_TYPES, AnyEvent, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

# (type, from_version) -> function turning that version's payload dict into the next.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that upgrades ``type_name`` payloads from ``from_version``."""

    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


@upcaster("MessageSent", 1)
def _message_sent_v1(payload: dict[str, Any]) -> dict[str, Any]:
    # v1 addressed one actor in `to`; v2 lists `recipients` so coalitions fit.
    payload = dict(payload)
    to = payload.pop("to", None)
    payload["recipients"] = [to] if to else []
    return payload


@upcaster("CostIncurred", 1)
def _cost_incurred_v1(payload: dict[str, Any]) -> dict[str, Any]:
    # v2 links the call's request and answer blobs and its finish reason; a v1 cost
    # never recorded them, so they stay unknown (None), which is what v2 omits.
    return payload


@upcaster("CostIncurred", 2)
def _cost_incurred_v2(payload: dict[str, Any]) -> dict[str, Any]:
    # v3 allows a null cost (no known price); a v2 cost is always a number, kept as is.
    return payload


@upcaster("CostIncurred", 3)
def _cost_incurred_v3(payload: dict[str, Any]) -> dict[str, Any]:
    # v4 records the prompt tokens the provider's cache served and what they saved; a v3
    # cost never read them from the usage, so they stay unknown (None, which v4 omits),
    # not 0, which would say the provider cached nothing.
    return payload


@upcaster("RunStarted", 1)
@upcaster("RunForked", 1)
def _run_labels_v1(payload: dict[str, Any]) -> dict[str, Any]:
    # v2 added the run's name and tags; a v1 run was given neither, which v2 omits.
    return payload


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)
_raw_decoder = msgspec.json.Decoder()


def encode(event: Event) -> bytes:
    """The payload bytes stored for ``event``."""
    return _encoder.encode(event)


def current_version(type_name: str) -> int:
    return EVENT_TYPES[type_name].SCHEMA_VERSION


def decode(type_name: str, schema_version: int, payload: bytes) -> Event:
    """Decode a stored payload, upgrading it first if it is of an older version."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise StoreError(
            f"unknown event type {type_name!r} in the log",
            hint="this log was written by a newer scenario-lab; upgrade it",
        )
    if schema_version == cls.SCHEMA_VERSION:
        try:
            return _decoder.decode(payload)  # type: ignore[no-any-return]
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise _unreadable(type_name, schema_version, e) from e
    if schema_version > cls.SCHEMA_VERSION:
        raise StoreError(
            f"event type {type_name} v{schema_version} is newer than this version knows "
            f"(v{cls.SCHEMA_VERSION})",
            hint="upgrade scenario-lab to read this log",
        )
    try:
        data = _raw_decoder.decode(payload)
    except msgspec.DecodeError as e:
        raise _unreadable(type_name, schema_version, e) from e
    if not isinstance(data, dict):
        raise _unreadable(type_name, schema_version, "the payload is not a JSON object")
    for version in range(schema_version, cls.SCHEMA_VERSION):
        step = UPCASTERS.get((type_name, version))
        if step is None:
            raise StoreError(f"no upcaster for {type_name} v{version} -> v{version + 1}")
        data = step(data)
    data["type"] = type_name
    try:
        return msgspec.convert(data, AnyEvent)  # type: ignore[arg-type,no-any-return]
    except msgspec.ValidationError as e:
        raise _unreadable(type_name, schema_version, e) from e


def _unreadable(type_name: str, schema_version: int, why: object) -> StoreError:
    # A payload the catalogue cannot read is a damaged log, not a bug of the caller:
    # it surfaces as the store's error, naming what was being decoded.
    return StoreError(
        f"a stored {type_name} v{schema_version} event cannot be decoded: {why}",
        hint="run `scenario-lab verify` on the run to find the damaged event",
    )


def canonical_json(value: Any) -> str:
    """JSON text of ``value`` that is the same, byte for byte, in every process.

    What every JSON the project prints or serves goes through. Keys keep the order the
    value was built in (commands pin their key order); sets, whose iteration order
    changes with each process's hash seed, are written sorted; structs are written as
    their fields; anything else JSON has no form for is written as its text.
    """
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=_sort_key)
    if isinstance(value, msgspec.Struct):
        # "deterministic": sets inside come out sorted, as above
        return msgspec.to_builtins(value, order="deterministic", enc_hook=str)
    return str(value)


def _sort_key(item: Any) -> str:
    """Sets may mix types; their items are ordered by their own canonical JSON."""
    return json.dumps(item, ensure_ascii=False, sort_keys=True, default=_json_default)
