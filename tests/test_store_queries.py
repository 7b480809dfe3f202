"""The store's read methods for the layers above: typed answers instead of SQL on its
connection (the seam a second backend implements)."""

from __future__ import annotations

import msgspec
import pytest

from eventstore import (
    EVENT_TYPES,
    CostIncurred,
    EventStore,
    RunCompleted,
    RunFailed,
    RunHalted,
    RunResumed,
    TimelineFacts,
    TurnCompleted,
    decode,
)
from eventstore._queries import SQL_FIELDS
from tests.store_helpers import build_run, play_turns, turn_end_seq, turn_events

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL


def _spend(store: EventStore, run_id: str, *costs: float) -> None:
    events = [CostIncurred(turn=1, model="m", purpose="decision", cost_usd=c) for c in costs]
    store.append(run_id, events, expected_seq=store.last_seq(run_id))


def _end(store: EventStore, run_id: str, event: object) -> None:
    store.append(run_id, [event], expected_seq=store.last_seq(run_id))  # type: ignore[list-item]


def _paid_run(store: EventStore, run_id: str, cost: float) -> str:
    """A root run whose turn 1 (so a branch at turn 1 inherits it) costs ``cost``."""
    build_run(store, 0, run_id=run_id)
    store.append(run_id, turn_events(1, complete=False), expected_seq=store.last_seq(run_id))
    _spend(store, run_id, cost)
    _end(store, run_id, TurnCompleted(turn=1))
    return run_id


# -- runs --------------------------------------------------------------------------------


def test_run_infos_answers_many_ids_at_once_and_skips_unknown_ones(store: EventStore) -> None:
    roots = [store.create_run(f"run{i:04d}") for i in range(1203)]  # > two IN lists
    branch = store.fork(build_run(store, 2, run_id="played"), 1)
    infos = store.run_infos([*roots, branch, "nope", roots[0]])
    assert set(infos) == {*roots, branch}
    assert infos[branch] == store.run_info(branch)
    assert infos[branch].root_run_id == "played" and infos[branch].depth == 1
    assert store.run_infos([]) == {}


# -- the log in position order --------------------------------------------------------


def test_iter_raw_gives_stored_rows_in_position_order_chunk_by_chunk(store: EventStore) -> None:
    parent = build_run(store, 3)
    branch = store.fork(parent, 1)
    play_turns(store, branch, range(2, 4), tag="-b")
    everything = list(store.iter_after(0))
    chunks = list(store.iter_raw(0, chunk=7))
    assert [len(c) for c in chunks[:-1]] == [7] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= 7
    rows = [r for c in chunks for r in c]
    # the same events as the decoding reader, under their stored metadata
    assert [r[:9] for r in rows] == [
        (
            e.position,
            e.run_id,
            e.seq,
            e.turn,
            e.type,
            e.schema_version,
            e.actor,
            e.event_id,
            e.recorded_at,
        )
        for e in everything
    ]
    assert [decode(r[4], r[5], r[9]) for r in rows] == [e.event for e in everything]
    # resuming after a position reads only what follows it
    middle = everything[10].position
    assert [r[0] for c in store.iter_raw(middle, chunk=100) for r in c] == [
        e.position for e in everything[11:]
    ]
    assert list(store.iter_raw(store.max_position(), chunk=5)) == []


def test_a_chunk_that_ends_the_log_exactly_is_followed_by_nothing(store: EventStore) -> None:
    build_run(store, 1)  # 3 setup events + 5 of turn 1
    assert [len(c) for c in store.iter_raw(0, chunk=4)] == [4, 4]


def test_event_id_at_names_the_event_at_a_position_or_none(store: EventStore) -> None:
    build_run(store, 1)
    first = next(store.iter_after(0))
    assert store.event_id_at(first.position) == first.event_id
    assert store.event_id_at(store.max_position() + 1) is None


# -- facts of a timeline ----------------------------------------------------------------


def test_timeline_facts_of_a_fresh_log_run(store: EventStore) -> None:
    empty = store.create_run()
    assert store.timeline_facts(empty) == TimelineFacts(
        run_id=empty,
        scenario_name=None,
        turns_completed=0,
        cost_usd=0.0,
        last_lifecycle=None,
        halt_reason=None,
    )


def test_timeline_facts_follow_the_last_lifecycle_event(store: EventStore) -> None:
    run = build_run(store, 2)
    _spend(store, run, 0.25, 0.5)
    facts = store.timeline_facts(run)
    assert facts.scenario_name == "test" and facts.turns_completed == 2
    assert facts.cost_usd == pytest.approx(0.75)
    assert facts.last_lifecycle == "RunStarted" and facts.halt_reason is None
    _end(store, run, RunHalted(turn=2, reason="credit_limit", detail="next call"))
    facts = store.timeline_facts(run)
    assert (facts.last_lifecycle, facts.halt_reason) == ("RunHalted", "credit_limit")
    _end(store, run, RunResumed(turn=2))
    facts = store.timeline_facts(run)
    assert (facts.last_lifecycle, facts.halt_reason) == ("RunResumed", None)
    _end(store, run, RunCompleted(turn=2, turns_completed=2, total_cost_usd=0.75))
    assert store.timeline_facts(run).last_lifecycle == "RunCompleted"


def test_a_branch_counts_what_it_inherits_but_not_its_parents_later_events(
    store: EventStore,
) -> None:
    parent = _paid_run(store, "parent", 0.5)
    play_turns(store, parent, range(2, 4))
    _spend(store, parent, 1.0)  # after the fork point: never the branch's
    branch = store.fork(parent, 1)
    _spend(store, branch, 0.25)
    facts = store.timeline_facts(branch)
    assert facts.scenario_name == "test"  # the parent's RunStarted
    assert facts.turns_completed == 1  # turns 2 and 3 are the parent's alone
    assert facts.cost_usd == pytest.approx(0.75)  # 0.5 inherited + 0.25 own
    assert facts.last_lifecycle == "RunForked"
    assert store.own_cost(branch) == pytest.approx(0.25)  # inherited calls are not its own
    assert store.own_cost(parent) == pytest.approx(1.5)


def test_a_fork_is_fresh_until_it_begins_a_turn_of_its_own(store: EventStore) -> None:
    root = build_run(store, 2)
    assert not store.timeline_facts(root).fresh_fork  # a root is no fork
    branch = store.fork(root, 1)
    assert store.timeline_facts(branch).fresh_fork  # made, nothing played: not started
    fork_of_fork = store.fork(branch, 1)
    assert store.timeline_facts(fork_of_fork).fresh_fork  # its parent's events are not its own
    store.append(branch, turn_events(2, complete=False), expected_seq=store.last_seq(branch))
    assert not store.timeline_facts(branch).fresh_fork  # began turn 2: interrupted if it dies
    resumed = store.fork(root, 1)
    _end(store, resumed, RunResumed(turn=1))
    assert not store.timeline_facts(resumed).fresh_fork  # a resume was asked for


# -- batches ------------------------------------------------------------------------------


def test_own_costs_and_ends_of_a_batch_are_its_runs_own(store: EventStore) -> None:
    a = store.create_run("a", batch_id="b1")
    _paid_run(store, "outside", 0.5)  # inherited by b, but not its own
    b = store.fork("outside", 1, batch_id="b1")
    _spend(store, a, 0.1)
    _spend(store, b, 0.2, 0.3)
    assert store.own_costs("b1") == pytest.approx({a: 0.1, b: 0.5})
    assert store.own_costs("none") == {}

    _end(store, a, RunHalted(turn=0, reason="budget"))
    _end(store, b, RunFailed(turn=2, error="boom", error_type="ValueError"))
    _end(store, a, RunResumed(turn=0))
    _end(store, "outside", RunHalted(turn=1, reason="budget"))
    ends = store.batch_events("b1", ["RunHalted", "RunFailed", "RunResumed"])
    assert [(r.run_id, r.type) for r in ends] == [
        (a, "RunHalted"),
        (b, "RunFailed"),
        (a, "RunResumed"),
    ]
    assert [r.position for r in ends] == sorted(r.position for r in ends)
    assert isinstance(ends[1].event, RunFailed) and ends[1].event.error == "boom"
    assert store.batch_events("b1", []) == []
    # a branch inherits the parent's RunStarted, but it is not one of the batch's events
    assert store.batch_events("b1", ["RunStarted"]) == []


def test_has_own_event_ignores_what_a_branch_inherits(store: EventStore) -> None:
    parent = build_run(store, 2)
    branch = store.fork(parent, 1)
    assert store.has_own_event(parent, "TurnStarted")
    assert not store.has_own_event(branch, "TurnStarted")
    assert store.has_own_event(branch, "RunForked")
    play_turns(store, branch, range(2, 3))
    assert store.has_own_event(branch, "TurnStarted")
    assert store.last_seq(branch) == turn_end_seq(2) + 1  # RunForked + one turn


# -- blobs --------------------------------------------------------------------------------


def test_all_blobs_hands_over_every_blob_by_hash(store: EventStore) -> None:
    assert store.all_blobs() == {}
    first = store.put_blob("a prompt")
    second = store.put_blob(b"\x00raw answer")
    assert store.all_blobs() == {first: b"a prompt", second: b"\x00raw answer"}


# -- the fields read in SQL -------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(SQL_FIELDS))
def test_fields_read_in_sql_are_those_of_the_current_schema(type_name: str) -> None:
    # the aggregates read these fields from stored JSON, past the upcasters: a new
    # schema version of one of these events must update eventstore/_queries.py
    version, fields = SQL_FIELDS[type_name]
    cls = EVENT_TYPES[type_name]
    assert version == cls.SCHEMA_VERSION, (
        f"{type_name} is at schema version {cls.SCHEMA_VERSION}: check the SQL in "
        "eventstore/_queries.py still reads its payloads right, then update SQL_FIELDS"
    )
    names = {f.name for f in msgspec.structs.fields(cls)}
    assert set(fields) <= names
