"""Which event fields name a blob: every field of the catalogue called ``*_hash`` (at
the top of an event or in a nested struct) is one ``verify`` checks, so an event type
that gains one is covered without an edit to ``eventstore/_blobrefs.py``."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import EVENT_TYPES, Event
from eventstore._blobrefs import BLOB_FIELDS, BLOB_PATHS, blob_refs
from tests.store_helpers import struct_strategy


def _hash_fields(value: Any) -> list[str]:
    """Every str value of a struct field named ``*_hash`` in ``value`` (structs nested
    in structs and tuples too; dict keys are data, not fields)."""
    out: list[str] = []
    if isinstance(value, msgspec.Struct):
        for f in msgspec.structs.fields(value):
            item = getattr(value, f.name)
            if f.name.endswith("_hash") and isinstance(item, str):
                out.append(item)
            else:
                out += _hash_fields(item)
    elif isinstance(value, tuple | list):
        for item in value:
            out += _hash_fields(item)
    return out


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_hash_field_of_an_event_is_a_blob_it_names(type_name: str, data: Any) -> None:
    event: Event = data.draw(struct_strategy(EVENT_TYPES[type_name]))
    named = _hash_fields(event)
    assert sorted(blob_refs(event)) == sorted(named)


def test_the_catalogue_has_the_blob_fields_the_engine_writes() -> None:
    assert {"prompt_hash", "response_hash"} == BLOB_FIELDS
    assert BLOB_PATHS["DecisionRequested"] == (("prompt_hash",),)
    assert ("call", "response_hash") in BLOB_PATHS["DecisionMade"]
    assert "TurnStarted" not in BLOB_PATHS
