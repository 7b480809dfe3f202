"""Events survive the log unchanged, and old versions are upgraded on read."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eventstore import (
    EVENT_TYPES,
    UPCASTERS,
    EventStore,
    MessageSent,
    StoreError,
    decode,
    encode,
    event_actor,
    event_type,
)
from eventstore._blobrefs import blob_refs
from tests.store_helpers import insert_raw, raw_connection, struct_strategy

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL

# The store fixture is shared by a test's examples on purpose: each example writes a
# run of its own, and a fresh file per example would only test SQLAlchemy's DDL.
_SHARED_STORE = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
@_SHARED_STORE
@given(data=st.data())
def test_round_trip_through_the_log_is_identity(
    store: EventStore, backend: str, type_name: str, data: st.DataObject
) -> None:
    cls = EVENT_TYPES[type_name]
    events = data.draw(st.lists(struct_strategy(cls), min_size=1, max_size=4), label="events")
    if backend == "postgresql":  # a NUL in a TEXT column: refused there (test below)
        assume(all("\x00" not in (event_actor(ev) or "") for ev in events))
    run = store.create_run()
    ids = [f"{run}-{i}" for i in range(len(events))]

    result = store.append(run, events, expected_seq=0, event_ids=ids)

    recorded = store.read(run)
    assert [r.event for r in recorded] == events
    assert store.read_events(run) == events
    assert [r.seq for r in recorded] == list(range(1, len(events) + 1))
    assert (result.first_seq, result.last_seq) == (1, len(events))
    assert [r.position for r in recorded] == list(
        range(result.first_position, result.last_position + 1)
    )
    for rec, ev, eid in zip(recorded, events, ids, strict=True):
        assert rec.run_id == run
        assert rec.event_id == eid
        assert rec.turn == ev.turn
        assert rec.type == type_name == event_type(ev)
        assert rec.actor == event_actor(ev)
        assert rec.schema_version == cls.SCHEMA_VERSION
        assert type(rec.event) is cls
        # the codec alone is the identity too (what projections decode with)
        assert decode(rec.type, rec.schema_version, encode(ev)) == ev
    # the drawn events name blobs that were never stored: verify must say so
    verified = store.verify(run)
    named = [sha for ev in events for sha in blob_refs(ev)]
    assert verified.ok == (not named), verified
    if named:
        assert f"blob {named[0][:12]}" in verified.reason and "is missing" in verified.reason


def test_actor_column_of_a_message_is_its_sender(store: EventStore) -> None:
    run = store.create_run()
    msg = MessageSent(
        message_id="m1",
        sender="north",
        recipients=("south",),
        channel="bilateral",
        visibility="private",
    )
    store.append(run, [msg], expected_seq=0)
    assert store.read(run)[0].actor == "north"


def test_a_nul_in_an_actor_name_is_refused_on_postgresql_and_kept_on_sqlite(
    store: EventStore, backend: str
) -> None:
    # PostgreSQL's TEXT cannot hold NUL; the actor column is TEXT on both backends
    run = store.create_run()
    msg = MessageSent(
        message_id="m1",
        sender="no\x00rth",
        recipients=("s",),
        channel="bilateral",
        visibility="private",
    )
    if backend == "sqlite":
        store.append(run, [msg], expected_seq=0)
        assert store.read(run)[0].actor == "no\x00rth"
        return
    with pytest.raises(StoreError, match=f"cannot append to run {run}: .*NUL"):
        store.append(run, [msg], expected_seq=0)
    assert store.read(run) == [] and store.last_seq(run) == 0


# -- upcasting ------------------------------------------------------------------------


V1_MESSAGE = {
    "type": "MessageSent",
    "turn": 1,
    "message_id": "m1",
    "sender": "north",
    "to": "south",
    "channel": "bilateral",
    "visibility": "private",
    "content": "Shall we talk?",
}


def test_v1_message_is_read_as_current_with_recipients(store: EventStore) -> None:
    run = store.create_run()
    insert_raw(store, run, "MessageSent", 1, V1_MESSAGE, actor="north")
    no_recipient = {k: v for k, v in V1_MESSAGE.items() if k != "to"} | {"message_id": "m2"}
    insert_raw(store, run, "MessageSent", 1, no_recipient, actor="north")

    first, second = store.read(run)

    assert first.schema_version == 1  # the stored row is untouched...
    assert first.event == MessageSent(  # ...and read as today's type
        turn=1,
        message_id="m1",
        sender="north",
        recipients=("south",),
        channel="bilateral",
        visibility="private",
        content="Shall we talk?",
    )
    assert isinstance(second.event, MessageSent)
    assert second.event.recipients == ()
    # upgrading on read must not break the chain: the stored bytes are what was hashed
    assert store.verify(run).ok


def test_appending_after_an_old_row_chains_onto_it(store: EventStore) -> None:
    run = store.create_run()
    insert_raw(store, run, "MessageSent", 1, V1_MESSAGE, actor="north")
    store.append(run, [MessageSent(**_v2(V1_MESSAGE))], expected_seq=1)
    assert store.verify(run).ok
    assert [e.recipients for e in store.read_events(run)] == [("south",), ("south",)]  # type: ignore[attr-defined]


def _v2(v1: dict[str, object]) -> dict[str, object]:
    out = {k: v for k, v in v1.items() if k not in ("type", "to")}
    out["recipients"] = (v1["to"],)
    return out


def test_unknown_event_type_is_a_clear_store_error(store: EventStore) -> None:
    run = store.create_run()
    insert_raw(store, run, "TreatySigned", 1, {"type": "TreatySigned", "turn": 1})
    with pytest.raises(StoreError, match=r"unknown event type 'TreatySigned'") as info:
        store.read(run)
    assert "newer scenario-lab" in (info.value.hint or "")


def test_event_version_newer_than_the_catalogue_is_a_clear_store_error(
    store: EventStore,
) -> None:
    run = store.create_run()
    newer = MessageSent.SCHEMA_VERSION + 1
    insert_raw(store, run, "MessageSent", newer, _v2(V1_MESSAGE) | {"type": "MessageSent"})
    with pytest.raises(StoreError, match=rf"MessageSent v{newer} is newer.*\(v2\)"):
        store.read_events(run)


def test_missing_upcaster_step_is_a_store_error(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = store.create_run()
    insert_raw(store, run, "MessageSent", 1, V1_MESSAGE)
    monkeypatch.delitem(UPCASTERS, ("MessageSent", 1))
    with pytest.raises(StoreError, match=r"no upcaster for MessageSent v1 -> v2"):
        store.read(run)


@pytest.mark.parametrize(
    ("version", "payload"),
    [
        (2, b"{not json"),
        (2, b'{"type": "MessageSent", "turn": "one"}'),  # current version, wrong field type
        (1, b"[1, 2]"),  # old version: upcasters need an object
        (1, b'{"type": "MessageSent", "to": "south"}'),  # upgraded but missing fields
    ],
)
def test_undecodable_payload_is_a_store_error(
    store: EventStore, version: int, payload: bytes
) -> None:
    # Before the fix these escaped as msgspec errors the CLI could not map to a line.
    run = store.create_run()
    with raw_connection(store.path) as conn:
        conn.execute(
            "INSERT INTO events (run_id, seq, turn, type, schema_version, actor, event_id, "
            "recorded_at, payload, hash) VALUES (?, 1, 1, 'MessageSent', ?, NULL, 'x', 'now', ?, 'h')",
            (run, version, payload),
        )
    with pytest.raises(StoreError, match=rf"stored MessageSent v{version} event cannot be decoded"):
        store.read(run)
