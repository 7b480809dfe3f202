"""Forks share their parent's prefix without copying it."""

from __future__ import annotations

import pytest

from eventstore import EventStore, ForkError, RunForked, RunNotFound, TurnCompleted, UsageError
from tests.store_helpers import (
    SETUP_EVENTS,
    count_events,
    play_turns,
    setup_events,
    turn_end_seq,
)

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL


def _assert_branch(store: EventStore, parent: str, branch: str, at_turn: int) -> None:
    """The branch's timeline is the parent's up to turn ``at_turn``, then RunForked."""
    fork_seq = turn_end_seq(at_turn)
    shared = store.read(parent, to_turn=at_turn)
    timeline = store.read(branch)
    assert timeline[:fork_seq] == shared  # same rows: positions, run ids and hashes
    assert len(shared) == fork_seq
    forked = timeline[fork_seq]
    assert forked.run_id == branch
    assert forked.seq == fork_seq + 1
    assert forked.turn == at_turn + 1
    assert forked.event == RunForked(
        turn=at_turn + 1, parent_run_id=parent, fork_turn=at_turn, fork_seq=fork_seq
    )
    assert store.verify(branch).ok


@pytest.mark.parametrize("at_turn", [0, 1, 2, 3])
def test_fork_shares_turns_up_to_the_fork_point(store: EventStore, make_run, at_turn: int) -> None:
    root = make_run(3)
    branch = store.fork(root, at_turn)

    _assert_branch(store, root, branch, at_turn)
    info = store.run_info(branch)
    assert (info.parent_run_id, info.fork_turn, info.fork_seq) == (
        root,
        at_turn,
        turn_end_seq(at_turn),
    )
    assert (info.root_run_id, info.depth) == (root, 1)
    assert store.last_seq(branch) == turn_end_seq(at_turn) + 1
    assert store.completed_turns(branch) == list(range(at_turn + 1))
    assert [c.run_id for c in store.children(root)] == [branch]


def test_fork_at_turn_zero_keeps_only_the_setup(store: EventStore, make_run) -> None:
    root = make_run(2)
    branch = store.fork(root, 0)
    events = store.read_events(branch)
    assert events[:SETUP_EVENTS] == setup_events()
    assert len(events) == SETUP_EVENTS + 1


def test_fork_copies_no_events(store: EventStore, make_run) -> None:
    root = make_run(3)
    before = count_events(store.path)
    store.fork(root, 2)
    assert count_events(store.path) == before + 1  # only its RunForked


def test_fork_carries_its_changes_and_ids(store: EventStore, make_run) -> None:
    root = make_run(2)
    branch = store.fork(
        root, 1, new_run_id="what-if", changes={"seed": 99, "injections": ("blockade",)}
    )
    assert branch == "what-if"
    forked = store.read_events(branch)[-1]
    assert isinstance(forked, RunForked)
    assert (forked.seed, forked.injections) == (99, ("blockade",))


def test_appending_to_the_parent_after_forking_leaves_the_branch_alone(
    store: EventStore, make_run
) -> None:
    root = make_run(2)
    branch = store.fork(root, 1)
    before = store.read(branch)
    play_turns(store, root, range(3, 5))
    assert store.read(branch) == before
    play_turns(store, branch, range(2, 4), tag="b")
    assert store.read(branch)[: len(before)] == before
    assert store.verify(root).ok and store.verify(branch).ok
    # the branch's own turns are its own: the parent does not see them
    assert all(r.run_id == root for r in store.read(root))


def test_forks_of_forks_chain(store: EventStore, make_run) -> None:
    root = make_run(3)
    child = store.fork(root, 2)
    play_turns(store, child, range(3, 6), tag="c")
    grandchild = store.fork(child, 4)  # inside the child's own turns

    timeline = store.read(grandchild)
    child_timeline = store.read(child)
    cut = child_timeline.index(
        next(r for r in child_timeline if r.turn == 4 and isinstance(r.event, TurnCompleted))
    )
    assert timeline[: cut + 1] == child_timeline[: cut + 1]
    assert [r.run_id for r in timeline] == (
        [root] * turn_end_seq(2) + [child] * (cut + 1 - turn_end_seq(2)) + [grandchild]
    )
    assert [r.seq for r in timeline] == list(range(1, len(timeline) + 1))
    info = store.run_info(grandchild)
    assert (info.root_run_id, info.depth, info.parent_run_id) == (root, 2, child)
    assert [i.run_id for i in store.lineage(grandchild)] == [root, child, grandchild]
    assert store.verify(grandchild).ok


def test_fork_of_a_fork_before_its_parents_fork_point(store: EventStore, make_run) -> None:
    # The grandchild branches at turn 1, inside the prefix its parent inherited: its
    # timeline is the root's turns 0..1 and never touches the middle run's events.
    root = make_run(3)
    child = store.fork(root, 2)
    play_turns(store, child, range(3, 5), tag="c")
    grandchild = store.fork(child, 1)

    _assert_branch(store, child, grandchild, 1)
    timeline = store.read(grandchild)
    assert {r.run_id for r in timeline[:-1]} == {root}
    assert store.segments(grandchild) == [
        (root, 0, turn_end_seq(1)),
        (grandchild, turn_end_seq(1), None),
    ]
    play_turns(store, grandchild, range(2, 4), tag="g")
    assert [r.seq for r in store.read(grandchild)] == list(range(1, turn_end_seq(3) + 2))
    assert store.verify(grandchild).ok
    assert store.fork_point(grandchild, 3) == turn_end_seq(3) + 1


def test_fork_of_a_fork_at_its_own_fork_turn(store: EventStore, make_run) -> None:
    root = make_run(3)
    child = store.fork(root, 2)
    twin = store.fork(child, 2)  # the same point, one level deeper
    assert store.read(twin)[:-1] == store.read(child)[:-1]
    assert store.verify(twin).ok


@pytest.mark.parametrize("at_turn", [4, 5, 50, -1])
def test_fork_of_an_uncompleted_or_negative_turn_names_the_last_completed(
    store: EventStore, make_run, at_turn: int
) -> None:
    root = make_run(3, unfinished=True)  # turn 4 started, not completed
    before = count_events(store.path)
    with pytest.raises(ForkError, match=rf"turn {at_turn}\b.*last completed turn: 3") as info:
        store.fork(root, at_turn)
    assert "0 to 3" in (info.value.hint or "")
    assert count_events(store.path) == before
    assert [r.run_id for r in store.list_runs()] == [root]


def test_fork_of_a_run_without_a_completed_setup(store: EventStore) -> None:
    run = store.create_run(events=setup_events()[:1])
    with pytest.raises(ForkError, match="setup is unfinished"):
        store.fork(run, 0)


def test_fork_of_an_unknown_run(store: EventStore) -> None:
    with pytest.raises(RunNotFound, match="nope"):
        store.fork("nope", 0)


def test_a_branch_id_that_exists_is_refused(store: EventStore, make_run) -> None:
    root = make_run(1)
    store.fork(root, 0, new_run_id="b")
    before = count_events(store.path)
    with pytest.raises(UsageError, match="already exists"):
        store.fork(root, 1, new_run_id="b")
    assert count_events(store.path) == before
