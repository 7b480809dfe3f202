"""Replay through the store: forks, ``to_turn`` and the snapshot cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.fold.handlers import replay_events
from engine.replay import SNAPSHOT_KIND, encode_state, replay, save_snapshot
from eventstore import (
    Event,
    EventStore,
    RunCompleted,
    StoreError,
    TurnCompleted,
    TurnStarted,
    WorldUpdated,
)
from tests.store_helpers import raw_connection
from tests.test_fold import started
from tests.test_fold_properties import runs


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = EventStore.open(tmp_path / "log.db")
    yield s
    s.close()


def record(store: EventStore, events: list[Event], batch: int = 7) -> str:
    """Append ``events`` as a new run, in batches as the player does."""
    run_id = store.create_run(events=events[:batch])
    seq = min(batch, len(events))
    for i in range(batch, len(events), batch):
        seq = store.append(run_id, events[i : i + batch], expected_seq=seq).last_seq
    return run_id


def last_turn(events: list[Event]) -> int:
    return max(e.turn for e in events)


def plain_turns(first: int, last: int) -> list[Event]:
    out: list[Event] = []
    for turn in range(first, last + 1):
        out += [
            TurnStarted(turn=turn),
            WorldUpdated(turn=turn, narrative=f"turn {turn}", key_changes=(f"change {turn}",)),
            TurnCompleted(turn=turn),
        ]
    return out


STORE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@STORE
@given(runs(max_turns=8))
def test_replay_equals_the_fold_of_the_log(store: EventStore, events: list[Event]):
    run_id = record(store, events)
    expected = replay_events(events)
    assert replay(store, run_id, use_snapshots=False) == expected
    assert replay(store, run_id, snapshot_every=2) == expected  # writes the cache
    assert replay(store, run_id, snapshot_every=2) == expected  # reads it


@STORE
@given(runs(max_turns=8), st.integers(1, 3))
def test_snapshot_and_plain_replay_agree_at_every_turn(
    store: EventStore, events: list[Event], every: int
):
    run_id = record(store, events)
    store.drop_snapshots()
    for turn in range(last_turn(events) + 1):
        plain = replay(store, run_id, turn, use_snapshots=False)
        assert replay(store, run_id, turn, snapshot_every=every) == plain
        assert replay(store, run_id, turn, snapshot_every=every) == plain  # now cached
        assert plain == replay_events([e for e in events if e.turn <= turn])
    store.drop_snapshots()
    assert replay(store, run_id) == replay(store, run_id, use_snapshots=False)


@STORE
@given(runs(max_turns=7), st.data())
def test_a_fork_up_to_its_fork_turn_equals_its_parent(
    store: EventStore, events: list[Event], data: st.DataObject
):
    parent = record(store, events)
    done = last_turn(events)
    # RunCompleted, RunHalted or RunFailed after the last TurnCompleted belong to the
    # parent's last turn but not to a branch forked there: compare before that turn.
    ends_after_last = not isinstance(events[-1], TurnCompleted)
    top = done - 1 if ends_after_last else done
    if top < 0:
        return
    at = data.draw(st.integers(0, top))
    use = data.draw(st.booleans())
    branch = store.fork(parent, at, changes={"seed": 5})
    expected = replay(store, parent, at, use_snapshots=False)
    assert replay(store, branch, at, use_snapshots=use, snapshot_every=1) == expected
    assert replay(store, branch, at, use_snapshots=use, snapshot_every=1) == expected
    whole = replay(store, branch, use_snapshots=use)
    assert whole.seed == 5 and whole.fork_turn == at and whole.parent_run_id == parent
    assert whole.last_completed_turn == at and whole.status == "running"


def _snapshot_turns(store: EventStore) -> set[tuple[str, int]]:
    """(run, turn) of every snapshot in the log, read from the file."""
    with raw_connection(store.path) as conn:
        return {(run, turn) for run, turn in conn.execute("SELECT run_id, turn FROM snapshots")}


def test_a_branch_plays_on_from_the_cache_of_its_parent(store: EventStore):
    events = list(replay_events_source())
    parent = record(store, events)
    assert replay(store, parent, 6, snapshot_every=3).last_completed_turn == 6
    cached = _snapshot_turns(store)
    assert cached == {(parent, 3), (parent, 6)}
    branch = store.fork(parent, 4, changes={"injections": ("flood",)})
    seq = store.last_seq(branch)
    store.append(branch, plain_turns(5, 9), expected_seq=seq)
    plain = replay(store, branch, use_snapshots=False)
    assert replay(store, branch, snapshot_every=3) == plain
    owners = _snapshot_turns(store)
    assert (branch, 9) in owners and (branch, 6) in owners  # the branch's own turns
    assert (branch, 3) not in owners  # turn 3 is the parent's, cached once for all branches
    assert replay(store, branch, snapshot_every=3) == plain
    assert replay(store, branch, 3) == replay(store, parent, 3, use_snapshots=False)
    assert plain.world.narrative == "turn 9" and plain.fork_turn == 4
    assert plain.pending_injections == ()  # used up by the branch's first turn


def replay_events_source() -> list[Event]:
    """Setup and 8 plain turns."""
    return [started(turns=20), TurnCompleted(turn=0), *plain_turns(1, 8)]


def test_dropping_the_cache_changes_no_result(store: EventStore):
    run_id = record(store, replay_events_source())
    with_cache = [replay(store, run_id, t, snapshot_every=2) for t in range(9)]
    store.drop_snapshots()
    assert [replay(store, run_id, t, use_snapshots=False) for t in range(9)] == with_cache


def test_an_unreadable_or_stale_snapshot_is_ignored(store: EventStore):
    run_id = record(store, replay_events_source())
    plain = replay(store, run_id, use_snapshots=False)
    store.put_snapshot(run_id, 8, 30, SNAPSHOT_KIND, b"\xc1 not msgpack")
    assert replay(store, run_id, snapshot_every=0) == plain
    store.put_snapshot(run_id, 8, 30, "runstate-v0", b"an older layout")
    assert replay(store, run_id, snapshot_every=0) == plain


def test_cache_failures_never_fail_a_replay(store: EventStore, monkeypatch: Any):
    run_id = record(store, replay_events_source())
    plain = replay(store, run_id, use_snapshots=False)

    def broken(*_a: Any, **_k: Any) -> Any:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "put_snapshot", broken)
    assert replay(store, run_id, snapshot_every=1) == plain
    monkeypatch.setattr(store, "get_snapshot", broken)
    assert replay(store, run_id) == plain


def test_save_snapshot_only_at_turn_boundaries(store: EventStore):
    events = replay_events_source()
    run_id = record(store, events)
    seq = store.last_seq(run_id)
    state = replay(store, run_id, use_snapshots=False)
    assert save_snapshot(store, run_id, state, seq)
    found = store.get_snapshot(run_id, None, SNAPSHOT_KIND)
    assert found is not None and found[:2] == (8, seq) and found[2] == encode_state(state)
    store.append(run_id, [TurnStarted(turn=9)], expected_seq=seq)
    open_turn = replay(store, run_id)
    assert open_turn.turn_open and not save_snapshot(store, run_id, open_turn, seq + 1)


def test_to_turn_includes_what_followed_the_turn(store: EventStore):
    events = [*replay_events_source(), RunCompleted(turn=8, turns_completed=8, total_cost_usd=0)]
    run_id = record(store, events)
    assert replay(store, run_id, 7).status == "running"
    assert replay(store, run_id, 8).status == "completed"
    assert replay(store, run_id, 8, snapshot_every=4).status == "completed"


def test_a_run_without_events(store: EventStore):
    run_id = store.create_run()
    with pytest.raises(ValueError, match="no events"):
        replay(store, run_id)
