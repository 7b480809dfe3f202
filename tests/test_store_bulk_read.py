"""The bulk read path (``read_events``/``iter_event_chunks``) gives what row-by-row gives.

Chunks are made tiny here so that a few turns span many of them: the prefetching
thread, the chunk boundaries inside and across fork segments, and the row-by-row
fallback for old or damaged rows are all exercised on small logs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator

import pytest

from eventstore import EventStore, MessageSent, StoreError, _bulk
from tests.store_helpers import build_run, insert_raw, play_turns, turn_events

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL

V1_MESSAGE = {
    "type": "MessageSent",
    "turn": 4,
    "message_id": "old",
    "sender": "north",
    "to": "south",
    "channel": "bilateral",
    "visibility": "private",
}


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bulk, "CHUNK_SEQS", 4)


def _row_by_row(store: EventStore, run: str, **kw: int) -> list[object]:
    return [r.event for r in store.read(run, **kw)]


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "scenario-lab-prefetch"]


def test_bulk_read_equals_row_by_row_along_forks_turns_and_offsets(store: EventStore) -> None:
    root = build_run(store, turns=6)
    branch = store.fork(root, 3)
    play_turns(store, branch, range(4, 8), tag="b")
    twig = store.fork(branch, 5)
    play_turns(store, twig, range(6, 9), tag="t")

    for run in (root, branch, twig):
        assert store.read_events(run) == _row_by_row(store, run)
        for turn in (0, 2, 4, 6):
            assert store.read_events(run, to_turn=turn) == _row_by_row(store, run, to_turn=turn)
        for after in (1, 5, 17, 22):
            got = store.read_events(run, after_seq=after)
            assert got == _row_by_row(store, run, after_seq=after)
    assert _prefetch_threads() == []


def test_an_old_row_in_a_long_run_is_upgraded_and_its_neighbours_kept(
    store: EventStore,
) -> None:
    run = build_run(store, turns=3)
    insert_raw(store, run, "MessageSent", 1, V1_MESSAGE, actor="north", turn=4)
    events = store.read_events(run)
    assert events == _row_by_row(store, run)
    assert isinstance(events[-1], MessageSent)
    assert events[-1].recipients == ("south",)


@pytest.mark.parametrize(
    ("type_name", "payload", "error"),
    [
        ("TreatySigned", b'{"type": "TreatySigned", "turn": 4}', "unknown event type"),
        # two JSON values where one is stored: would shift every later event by one
        (
            "TurnStarted",
            b'{"type": "TurnStarted", "turn": 4},{"type": "TurnCompleted", "turn": 4}',
            "cannot be decoded",
        ),
        ("TurnStarted", b'{"type": "TurnStarted", "turn": "four"}', "cannot be decoded"),
    ],
)
def test_a_damaged_row_in_a_long_run_is_named(
    store: EventStore, type_name: str, payload: bytes, error: str
) -> None:
    run = build_run(store, turns=3)
    insert_raw(store, run, type_name, 1, payload, turn=4)
    with pytest.raises(StoreError, match=error):
        store.read_events(run)
    assert _prefetch_threads() == []


@pytest.mark.sqlite_only("PostgreSQL reads chunks on the store's connection, no thread")
def test_stopping_early_stops_the_prefetching_thread(store: EventStore) -> None:
    run = build_run(store, turns=6)
    chunks = store.iter_event_chunks(run)
    first = next(chunks)
    assert len(first) == 4
    assert len(_prefetch_threads()) == 1
    chunks.close()
    assert _prefetch_threads() == []


def test_a_failed_fetch_in_the_thread_is_raised_to_the_reader(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = build_run(store, turns=6)
    real = _bulk.fetch
    calls = iter(range(100))

    def flaky(conn: sqlite3.Connection, r: _bulk.Range, to_turn: int | None) -> _bulk.Fetched:
        if next(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real(conn, r, to_turn)

    monkeypatch.setattr(_bulk, "fetch", flaky)
    got: Iterator[list[object]] = store.iter_event_chunks(run)  # type: ignore[assignment]
    assert len(next(got)) == 4
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        list(got)
    assert _prefetch_threads() == []


def test_a_short_run_is_read_without_a_thread(store: EventStore) -> None:
    run = store.create_run(events=turn_events(1))
    assert store.read_events(run) == _row_by_row(store, run)
    assert _prefetch_threads() == []
