"""Blobs (large text stored once by hash) and the snapshot cache along fork lineage."""

from __future__ import annotations

import hashlib

import pytest

from eventstore import ConcurrencyConflict, EventStore, MetricRecorded, StoreError, blob_hash
from tests.store_helpers import play_turns, raw_connection, turn_end_seq

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL


def _blob_rows(store: EventStore) -> int:
    with raw_connection(store.path) as conn:
        return int(conn.execute("SELECT count(*) FROM blobs").fetchone()[0])


def test_blob_round_trip_by_content_hash(store: EventStore) -> None:
    text = "You are the foreign minister of North. ✓ " * 200
    sha = store.put_blob(text)
    assert sha == hashlib.sha256(text.encode()).hexdigest() == blob_hash(text.encode())
    assert store.get_blob(sha) == text.encode()
    raw = bytes(range(256))
    assert store.get_blob(store.put_blob(raw)) == raw


def test_same_content_is_stored_once(store: EventStore) -> None:
    first = store.put_blob("prompt")
    second = store.put_blob(b"prompt")
    assert first == second
    assert _blob_rows(store) == 1
    with EventStore.open(store.path) as other:  # visible to other connections: committed
        assert other.get_blob(first) == b"prompt"


def test_missing_blob_is_a_store_error(store: EventStore) -> None:
    missing = "ab" * 32
    with pytest.raises(StoreError, match=f"blob {missing} is not in the log"):
        store.get_blob(missing)


def test_blobs_of_an_append_are_stored_with_it_or_not_at_all(store: EventStore) -> None:
    run = store.create_run()
    data = b"raw model response"
    sha = blob_hash(data)
    event = MetricRecorded(name="m", value=1.0)
    with pytest.raises(ConcurrencyConflict):
        store.append(run, [event], expected_seq=5, blobs={sha: data})
    with pytest.raises(StoreError):
        store.get_blob(sha)  # rolled back with the events
    store.append(run, [event], expected_seq=0, blobs={sha: data})
    assert store.get_blob(sha) == data
    store.append(run, [event], expected_seq=1, blobs={sha: data})  # already there: fine
    assert _blob_rows(store) == 1


# -- snapshots ------------------------------------------------------------------------

KIND = "state"


def _snap_each_turn(store: EventStore, run: str, turns: range, *, offset: int = 0) -> None:
    for t in turns:
        store.put_snapshot(run, t, turn_end_seq(t) + offset, KIND, f"{run}@{t}".encode())


def test_latest_snapshot_at_or_before_a_turn(store: EventStore, make_run) -> None:
    run = make_run(3)
    assert store.get_snapshot(run, None, KIND) is None
    _snap_each_turn(store, run, range(0, 4))
    assert store.get_snapshot(run, None, KIND) == (3, turn_end_seq(3), f"{run}@3".encode())
    assert store.get_snapshot(run, 1, KIND) == (1, turn_end_seq(1), f"{run}@1".encode())
    assert store.get_snapshot(run, None, "other-kind") is None
    store.put_snapshot(run, 3, turn_end_seq(3), KIND, b"newer")  # replaces, not adds
    assert store.get_snapshot(run, None, KIND) == (3, turn_end_seq(3), b"newer")


def test_a_parents_snapshots_count_up_to_the_fork_point_only(store: EventStore, make_run) -> None:
    root = make_run(3)
    _snap_each_turn(store, root, range(0, 4))
    branch = store.fork(root, 2)

    # turn 3 of the parent is after the fork: not the branch's history
    assert store.get_snapshot(branch, None, KIND) == (2, turn_end_seq(2), f"{root}@2".encode())
    assert store.get_snapshot(branch, 1, KIND) == (1, turn_end_seq(1), f"{root}@1".encode())

    play_turns(store, branch, range(3, 5), tag="b")
    _snap_each_turn(store, branch, range(3, 5), offset=1)  # +1: the branch's RunForked
    assert store.get_snapshot(branch, None, KIND) == (
        4,
        turn_end_seq(4) + 1,
        f"{branch}@4".encode(),
    )
    assert store.get_snapshot(branch, 3, KIND) == (3, turn_end_seq(3) + 1, f"{branch}@3".encode())
    assert store.get_snapshot(branch, 2, KIND) == (2, turn_end_seq(2), f"{root}@2".encode())
    # and the branch's snapshots never leak into the parent
    assert store.get_snapshot(root, None, KIND) == (3, turn_end_seq(3), f"{root}@3".encode())


def test_a_fork_of_a_fork_skips_the_middle_runs_later_snapshots(
    store: EventStore, make_run
) -> None:
    root = make_run(3)
    _snap_each_turn(store, root, range(0, 4))
    child = store.fork(root, 2)
    play_turns(store, child, range(3, 4), tag="c")
    _snap_each_turn(store, child, range(3, 4), offset=1)
    grandchild = store.fork(child, 1)  # before the child's own fork point
    assert store.get_snapshot(grandchild, None, KIND) == (1, turn_end_seq(1), f"{root}@1".encode())


def test_drop_snapshots(store: EventStore, make_run) -> None:
    one, two = make_run(1), make_run(1)
    _snap_each_turn(store, one, range(0, 2))
    _snap_each_turn(store, two, range(0, 2))
    store.drop_snapshots(one)
    assert store.get_snapshot(one, None, KIND) is None
    assert store.get_snapshot(two, None, KIND) is not None
    store.drop_snapshots()
    assert store.get_snapshot(two, None, KIND) is None
    assert len(store.read(one)) == turn_end_seq(1)  # a cache: the log is untouched
