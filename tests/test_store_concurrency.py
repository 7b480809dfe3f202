"""Optimistic concurrency and idempotent appends, within a process and across processes."""

from __future__ import annotations

import multiprocessing
import queue
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstore import (
    AppendResult,
    ConcurrencyConflict,
    EventStore,
    MetricRecorded,
    RunNotFound,
    StoreError,
)
from tests.store_helpers import (
    build_run,
    contending_writer,
    count_events,
    event_rows,
    turn_end_seq,
    writer_events,
)

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL


def _metric(i: int) -> MetricRecorded:
    return MetricRecorded(turn=9, name="m", value=float(i))


# -- expected_seq ---------------------------------------------------------------------


@pytest.mark.parametrize("expected", [0, 1, 10, 17])
def test_stale_expected_seq_conflicts_and_changes_nothing(
    store: EventStore, make_run, expected: int
) -> None:
    run = make_run(3)  # 18 events
    before = event_rows(store.path, run)
    with pytest.raises(ConcurrencyConflict) as info:
        store.append(run, [_metric(1)], expected_seq=expected)
    assert (info.value.expected_seq, info.value.actual_seq) == (expected, 18)
    assert info.value.run_id == run
    assert event_rows(store.path, run) == before


@pytest.mark.parametrize("expected", [19, 25, -1])
def test_expected_seq_beyond_the_end_conflicts_and_changes_nothing(
    store: EventStore, make_run, expected: int
) -> None:
    run = make_run(3)
    before = event_rows(store.path, run)
    with pytest.raises(ConcurrencyConflict) as info:
        store.append(run, [_metric(1)], expected_seq=expected)
    assert (info.value.expected_seq, info.value.actual_seq) == (expected, 18)
    assert event_rows(store.path, run) == before
    assert store.verify(run).ok


def test_writer_with_a_stale_cached_tip_conflicts(store: EventStore, make_run) -> None:
    # The store caches the tip it wrote last; another connection's append makes that
    # cache stale, and the stale writer must still get a conflict, not a fork in the log.
    run = make_run(1)
    with EventStore.open(store.path) as other:
        other.append(run, [_metric(1)], expected_seq=8)
    with pytest.raises(ConcurrencyConflict) as info:
        store.append(run, [_metric(2)], expected_seq=8)
    assert info.value.actual_seq == 9
    store.append(run, [_metric(2)], expected_seq=9)
    assert [r.seq for r in store.read(run)] == list(range(1, 11))
    assert store.verify(run).ok


@pytest.mark.parametrize("expected", [0, 3, 7, 8])
def test_expected_seq_inside_a_forks_inherited_prefix_conflicts(
    store: EventStore, make_run, expected: int
) -> None:
    # A fork's seqs 1..fork_seq are its parent's; RunForked is fork_seq + 1. Before the
    # fix, expected_seq < fork_seq was accepted and wrote a second seq 4.. into the
    # branch's timeline, because UNIQUE(run_id, seq) only sees the branch's own rows.
    root = make_run(3)
    branch = store.fork(root, 1)  # fork_seq 8, RunForked at 9
    with pytest.raises(ConcurrencyConflict) as info:
        store.append(branch, [_metric(1)], expected_seq=expected)
    assert info.value.actual_seq == turn_end_seq(1) + 1
    assert [r.seq for r in store.read(branch)] == list(range(1, 10))
    store.append(branch, [_metric(1)], expected_seq=9)
    assert store.verify(branch).ok


def test_append_to_an_unknown_run(store: EventStore) -> None:
    with pytest.raises(RunNotFound):
        store.append("nope", [_metric(1)], expected_seq=0)
    with pytest.raises(RunNotFound):
        store.append("nope", [_metric(1)], expected_seq=4)


def test_empty_batch_and_mismatched_ids_are_rejected(store: EventStore) -> None:
    run = store.create_run()
    with pytest.raises(ValueError, match="at least one event"):
        store.append(run, [], expected_seq=0)
    with pytest.raises(ValueError, match="one to one"):
        store.append(run, [_metric(1)], expected_seq=0, event_ids=["a", "b"])


# -- idempotency ----------------------------------------------------------------------


def test_resending_a_batch_returns_the_original_result_and_adds_nothing(
    store: EventStore, make_run
) -> None:
    run = make_run(1)
    batch = [_metric(i) for i in range(3)]
    ids = ["a", "b", "c"]
    first = store.append(run, batch, expected_seq=8, event_ids=ids)
    rows = count_events(store.path)

    again = store.append(run, batch, expected_seq=8, event_ids=ids)

    assert again == first
    assert count_events(store.path) == rows
    # a retry that arrives after others appended (the reply was lost) is still a no-op
    store.append(run, [_metric(9)], expected_seq=11)
    with EventStore.open(store.path) as other:  # no cached tip: the log decides
        assert other.append(run, batch, expected_seq=8, event_ids=ids) == first
    assert count_events(store.path) == rows + 1
    assert store.verify(run).ok


@pytest.mark.parametrize(
    "second_ids",
    [["a", "x"], ["x", "b"], ["b", "a"], ["a", "b", "c"]],
    ids=["first-overlaps", "last-overlaps", "reordered", "superset"],
)
def test_partially_overlapping_ids_are_a_store_error(
    store: EventStore, make_run, second_ids: list[str]
) -> None:
    run = make_run(1)
    stored = {"a": _metric(1), "b": _metric(2)}
    store.append(run, list(stored.values()), expected_seq=8, event_ids=list(stored))
    before = event_rows(store.path, run)
    # the overlapping ids carry the very events stored under them: only the batch's
    # shape differs from what was appended
    events = [stored.get(i, _metric(99)) for i in second_ids]
    with pytest.raises(StoreError, match="already stored"):
        store.append(run, events, expected_seq=10, event_ids=second_ids)
    assert event_rows(store.path, run) == before


def test_resending_part_of_a_stored_batch_is_a_no_op(store: EventStore, make_run) -> None:
    # idempotency is per event id: events already stored, whole and in order, are
    # reported where they are
    run = make_run(1)
    store.append(
        run, [_metric(1), _metric(2), _metric(3)], expected_seq=8, event_ids=["a", "b", "c"]
    )
    result = store.append(run, [_metric(2), _metric(3)], expected_seq=8, event_ids=["b", "c"])
    assert (result.first_seq, result.last_seq) == (10, 11)
    assert len(event_rows(store.path, run)) == 11


def test_same_ids_with_other_events_are_a_store_error(store: EventStore, make_run) -> None:
    # Reusing ids for different events is a caller bug; calling it a retry would
    # report success for events that were never stored.
    run = make_run(1)
    first = store.append(run, [_metric(1), _metric(2)], expected_seq=8, event_ids=["a", "b"])
    with pytest.raises(StoreError, match="already stored"):
        store.append(run, [_metric(1), _metric(3)], expected_seq=8, event_ids=["a", "b"])
    assert (
        store.append(run, [_metric(1), _metric(2)], expected_seq=8, event_ids=["a", "b"]) == first
    )


def test_ids_of_another_run_are_a_store_error(store: EventStore, make_run) -> None:
    one, two = make_run(1), make_run(1)
    store.append(one, [_metric(1)], expected_seq=8, event_ids=["shared"])
    with pytest.raises(StoreError, match="already stored"):
        store.append(two, [_metric(1)], expected_seq=8, event_ids=["shared"])


# -- writers in separate processes ------------------------------------------------------


def _run_writers(
    db: Path, run: str, writers: int, batches: int, size: int, lockstep: bool
) -> list[tuple[int, int, int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(writers) if lockstep else None
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=contending_writer, args=(str(db), run, w, batches, size, barrier, results)
        )
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    try:
        out = []
        for _ in procs:
            try:
                out.append(results.get(timeout=90))
            except queue.Empty:
                pytest.fail(f"a writer died: exit codes {[p.exitcode for p in procs]}")
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        return sorted(out)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        results.close()
        results.join_thread()


def _assert_every_writer_landed_once(
    store: EventStore, run: str, base: int, writers: int, batches: int, size: int
) -> None:
    recorded = store.read(run)
    total = base + writers * batches * size
    assert [r.seq for r in recorded] == list(range(1, total + 1))
    ids = [r.event_id for r in recorded[base:]]
    expected = {
        i for w in range(writers) for b in range(batches) for i in writer_events(w, b, size)[1]
    }
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    # each batch landed whole and in order: batches are atomic
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        assert chunk == [chunk[0].rsplit("-e", 1)[0] + f"-e{k}" for k in range(size)]
    assert store.verify(run).ok


@pytest.mark.slow
def test_processes_in_lockstep_conflict_exactly_and_lose_nothing(store: EventStore) -> None:
    writers, rounds, size = 4, 15, 3
    run = build_run(store, 1)
    results = _run_writers(store.path, run, writers, rounds, size, lockstep=True)
    # every round all four read the same last seq: one wins, three must conflict
    assert sum(r[1] for r in results) == rounds * (writers - 1)
    _assert_every_writer_landed_once(store, run, turn_end_seq(1), writers, rounds, size)


@pytest.mark.slow
def test_free_running_processes_keep_the_run_gap_free(store: EventStore) -> None:
    writers, batches, size = 4, 40, 2
    run = build_run(store, 1)
    _run_writers(store.path, run, writers, batches, size, lockstep=False)
    _assert_every_writer_landed_once(store, run, turn_end_seq(1), writers, batches, size)


# -- interleavings of two connections (hypothesis) ---------------------------------------

_OPS = st.lists(
    st.tuples(
        st.integers(0, 1),  # which connection
        st.sampled_from(["root", "branch"]),  # which run
        st.sampled_from(["append", "append", "refresh", "resend"]),
        st.integers(1, 3),  # batch size
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_any_interleaving_of_two_writers_is_gap_free_and_duplicate_free(
    ops: list[tuple[int, str, str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.db"
        with EventStore.open(db) as a, EventStore.open(db) as b:
            stores = (a, b)
            runs = {"root": build_run(a, 1)}
            runs["branch"] = a.fork(runs["root"], 0)
            # the model: each run's own event ids in order, and its first own seq
            own: dict[str, list[str]] = {
                "root": [r[2] for r in event_rows(db, runs["root"])],
                "branch": [r[2] for r in event_rows(db, runs["branch"])],
            }
            base = {"root": 0, "branch": 3}
            seen = {(w, name): a.last_seq(runs[name]) for w in (0, 1) for name in runs}
            last_batch: dict[tuple[int, str], tuple[list[str], int, AppendResult]] = {}
            for n, (w, name, op, size) in enumerate(ops):
                store, run, key = stores[w], runs[name], (w, name)
                true_last = base[name] + len(own[name])
                if op == "refresh":
                    seen[key] = store.last_seq(run)
                    assert seen[key] == true_last
                elif op == "resend" and key in last_batch:
                    ids, expected, result = last_batch[key]
                    events = [_metric(i) for i in range(len(ids))]
                    assert store.append(run, events, expected_seq=expected, event_ids=ids) == result
                elif op != "resend":
                    ids = [f"{n}-{k}" for k in range(size)]
                    events = [_metric(k) for k in range(size)]
                    try:
                        result = store.append(run, events, expected_seq=seen[key], event_ids=ids)
                    except ConcurrencyConflict as e:
                        assert seen[key] != true_last
                        assert e.actual_seq == true_last
                        seen[key] = e.actual_seq
                    else:
                        assert seen[key] == true_last
                        assert result.first_seq == true_last + 1
                        own[name] += ids
                        last_batch[key] = (ids, seen[key], result)
                        seen[key] = result.last_seq
                for name_, run_ in runs.items():
                    assert [r[2] for r in event_rows(db, run_)] == own[name_]
            for name, run in runs.items():
                seqs = [r.seq for r in b.read(run)]
                assert seqs == list(range(1, base[name] + len(own[name]) + 1))
                assert a.verify(run).ok
