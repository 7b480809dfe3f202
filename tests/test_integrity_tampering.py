"""Every kind of tampering with the bytes that feed a replay, report or query is named
by ``verify`` in one line: blobs, run metadata, rollbacks of a run's tail.

Each test edits the real SQLite file through a second, plain sqlite3 connection, as
someone holding the file (and no scenario-lab) would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eventstore import EventStore, blob_hash
from tests.integrity_helpers import answer_of, assert_one_line, build_run_with_blobs, prompt_of
from tests.store_helpers import play_turns, raw_connection, turn_end_seq

# -- blobs ------------------------------------------------------------------------------


def _first_ref(store: EventStore, run: str, sha: str) -> tuple[int, int]:
    """(seq, position) of the first event naming blob ``sha``."""
    with raw_connection(store.path) as conn:
        row = conn.execute(
            "SELECT seq, position FROM events WHERE run_id = ? AND instr(CAST(payload AS TEXT), ?) "
            "ORDER BY seq LIMIT 1",
            (run, sha),
        ).fetchone()
    return int(row[0]), int(row[1])


def test_a_run_with_blobs_verifies(store: EventStore) -> None:
    run = build_run_with_blobs(store)
    assert store.verify(run).ok


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE blobs SET data = CAST(replace(CAST(data AS TEXT), 'hold', 'strike') AS BLOB) "
        "WHERE sha256 = ?1",
        "UPDATE blobs SET data = replace(data, 'hold', 'strike') WHERE sha256 = ?1",  # to TEXT
        "UPDATE blobs SET data = x'' WHERE sha256 = ?1",
    ],
    ids=["edited", "edited-as-text", "emptied"],
)
def test_an_edited_answer_blob_is_named(store: EventStore, edit: str) -> None:
    run = build_run_with_blobs(store)
    sha = blob_hash(answer_of(2))
    with raw_connection(store.path) as conn:
        assert conn.execute(edit, (sha,)).rowcount == 1
    result = store.verify(run)
    seq, position = _first_ref(store, run, sha)
    assert (result.ok, result.first_bad_seq, result.first_bad_position) == (False, seq, position)
    assert_one_line(result.reason, f"blob {sha[:12]}", f"event seq {seq}", "was changed")


def test_a_deleted_prompt_blob_is_named(store: EventStore) -> None:
    run = build_run_with_blobs(store)
    sha = blob_hash(prompt_of(1))
    with raw_connection(store.path) as conn:
        conn.execute("DELETE FROM blobs WHERE sha256 = ?", (sha,))
    result = store.verify(run)
    seq, position = _first_ref(store, run, sha)
    assert result.first_bad_seq == seq and result.first_bad_position == position
    assert_one_line(result.reason, f"blob {sha[:12]}", "(DecisionRequested) is missing")


def test_a_blob_swapped_for_another_under_the_same_name_is_named(store: EventStore) -> None:
    # the attacker copies turn 3's answer over turn 1's, keeping turn 1's name
    run = build_run_with_blobs(store)
    with raw_connection(store.path) as conn:
        conn.execute(
            "UPDATE blobs SET data = ? WHERE sha256 = ?", (answer_of(3), blob_hash(answer_of(1)))
        )
    result = store.verify(run)
    assert not result.ok and "was changed" in result.reason


def test_a_blob_no_event_names_is_not_the_runs_concern(store: EventStore) -> None:
    run = build_run_with_blobs(store)
    store.put_blob(b"an orphan")
    with raw_connection(store.path) as conn:
        conn.execute("UPDATE blobs SET data = x'00' WHERE sha256 = ?", (blob_hash(b"an orphan"),))
    assert store.verify(run).ok


# -- run metadata -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("fork_turn", 2),
        ("fork_seq", 3),
        ("batch_id", "another-batch"),
        ("created_at", "2020-01-01T00:00:00.000000+00:00"),
        ("depth", 5),
        ("root_run_id", "elsewhere"),
    ],
)
def test_an_edited_runs_row_is_named_with_its_field(
    store: EventStore, make_run, column: str, value: object
) -> None:
    parent = make_run(3)
    branch = store.fork(parent, 1)
    assert store.verify(branch).ok
    with raw_connection(store.path) as conn:
        conn.execute(f"UPDATE runs SET {column} = ? WHERE run_id = ?", (value, branch))
    result = store.verify(branch)
    assert not result.ok and result.first_bad_position is None
    assert_one_line(result.reason, f"run {branch}", "metadata was changed", f"{column} (sealed")


def test_a_runs_row_and_its_seal_rewritten_together_break_the_chain(
    store: EventStore, make_run
) -> None:
    # a forger who also updates the sealed copy: the first own event chains over the
    # metadata's digest, so the chain itself fails there
    run = make_run(2)
    with raw_connection(store.path) as conn:
        conn.execute("UPDATE runs SET batch_id = 'forged' WHERE run_id = ?", (run,))
        conn.execute(
            "UPDATE run_seals SET meta = json_set(meta, '$.batch_id', 'forged') WHERE run_id = ?",
            (run,),
        )
        first = conn.execute(
            "SELECT position FROM events WHERE run_id = ? AND seq = 1", (run,)
        ).fetchone()[0]
    result = store.verify(run)
    assert (result.ok, result.first_bad_seq, result.first_bad_position) == (False, 1, first)
    assert_one_line(result.reason, "event seq 1 (RunStarted) was changed or moved")


def test_a_parent_link_moved_to_another_run_is_named(store: EventStore, make_run) -> None:
    a, b = make_run(3), make_run(3)
    branch = store.fork(a, 1)
    with raw_connection(store.path) as conn:
        conn.execute("UPDATE runs SET parent_run_id = ? WHERE run_id = ?", (b, branch))
    result = store.verify(branch)
    assert_one_line(result.reason, "parent_run_id (sealed", repr(b))


def test_a_deleted_seal_is_named(store: EventStore, make_run) -> None:
    run = make_run(1)
    with raw_connection(store.path) as conn:
        conn.execute("DELETE FROM run_seals WHERE run_id = ?", (run,))
    assert_one_line(store.verify(run).reason, "has no sealed metadata")


# -- rollbacks: a tail deleted, its tip rolled back too ----------------------------------

LAST = turn_end_seq(3)


def _roll_back(store: EventStore, run: str, to_seq: int) -> int:
    """Delete the run's events after ``to_seq`` and point its tip at ``to_seq``, as an
    attacker who knows the schema would; the position of the last deleted event."""
    with raw_connection(store.path) as conn:
        gone = conn.execute("SELECT max(position) FROM events WHERE run_id = ?", (run,)).fetchone()
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq > ?", (run, to_seq))
        conn.execute(
            "UPDATE run_tips SET seq = ?1, hash = (SELECT hash FROM events WHERE run_id = ?2 "
            "AND seq = ?1) WHERE run_id = ?2",
            (to_seq, run),
        )
    return int(gone[0])


@pytest.mark.parametrize("incremental", [False, True])
def test_a_rollback_past_the_verified_event_is_named(
    store: EventStore, make_run, incremental: bool
) -> None:
    run = make_run(3)
    assert store.verify(run).ok  # remembers seq LAST as verified
    position = _roll_back(store, run, turn_end_seq(2))
    result = store.verify(run, incremental=incremental)
    assert (result.ok, result.first_bad_seq, result.first_bad_position) == (False, LAST, position)
    assert_one_line(result.reason, f"event seq {LAST}", "verified before", "rolled back")


def test_a_rollback_then_a_resume_that_reappends_is_named(store: EventStore, make_run) -> None:
    # the reported hole: the resumed run re-appends the missing seqs and the chain and
    # tip are consistent again; the verified event at LAST is now a different one
    run = make_run(3)
    assert store.verify(run).ok
    with raw_connection(store.path) as conn:
        position = conn.execute(
            "SELECT position FROM events WHERE run_id = ? AND seq = ?", (run, LAST)
        ).fetchone()[0]
    _roll_back(store, run, turn_end_seq(2))
    store._tips.clear()  # the attacker's process, not this one, did the rollback
    play_turns(store, run, range(3, 5), tag="again")
    for incremental in (False, True):
        result = store.verify(run, incremental=incremental)
        assert (result.first_bad_seq, result.first_bad_position) == (LAST, position)
        assert_one_line(result.reason, f"event seq {LAST}", "rewritten after it was verified")


def test_a_rollback_of_a_never_verified_run_needs_an_anchor(store: EventStore, make_run) -> None:
    # without a verified mark in the file nothing in it remembers the lost tail: this is
    # what `verify --anchor` is for (tests/test_integrity_anchor.py)
    run = make_run(3)
    _roll_back(store, run, turn_end_seq(2))
    assert store.verify(run).ok


# -- what an honest log does -------------------------------------------------------------


def test_a_resumed_run_keeps_verifying_incrementally(store: EventStore, make_run) -> None:
    run = make_run(2)
    assert store.verify(run).checked == turn_end_seq(2)
    play_turns(store, run, range(3, 5))
    result = store.verify(run, incremental=True)
    assert (result.ok, result.checked) == (True, 2 * 5)  # only the new turns were read
    assert store.verify(run, incremental=True).checked == 0
    assert store.verify(run).checked == turn_end_seq(4)


def test_a_fork_of_a_fork_verifies_and_covers_its_lineage(store: EventStore, make_run) -> None:
    root = make_run(3)
    mid = store.fork(root, 2)
    play_turns(store, mid, range(3, 5), tag="m")
    leaf = store.fork(mid, 1)  # inside the prefix mid inherits from root
    for run in (root, mid, leaf):
        assert store.verify(run).ok and store.verify(run, incremental=True).ok
    with raw_connection(store.path) as conn:
        conn.execute("UPDATE runs SET created_at = 'x' WHERE run_id = ?", (root,))
    assert "run " + root in store.verify(leaf, incremental=True).reason  # an ancestor's row


def test_an_incremental_check_does_not_reread_the_verified_part(
    store: EventStore, make_run
) -> None:
    # the documented limit of the cheap check: an edit inside the verified part is found
    # by a full verify, not by the check before a read
    run = make_run(3)
    assert store.verify(run).ok
    with raw_connection(store.path) as conn:
        conn.execute(
            "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'tension', 'calm') "
            "AS BLOB) WHERE run_id = ? AND seq = 7",
            (run,),
        )
    assert store.verify(run, incremental=True).ok
    assert store.verify(run).first_bad_seq == 7


def test_verify_changed_checks_only_runs_with_news(store: EventStore, make_run) -> None:
    a, b = make_run(2), make_run(2)
    assert {r.run_id for r in store.verify_changed()} == {a, b}  # never verified
    assert store.verify_changed() == []
    play_turns(store, b, range(3, 4))
    assert [(r.run_id, r.ok, r.checked) for r in store.verify_changed()] == [(b, True, 5)]
    with raw_connection(store.path) as conn:
        conn.execute("UPDATE runs SET batch_id = 'x' WHERE run_id = ?", (a,))
    [changed] = store.verify_changed()
    assert changed.run_id == a and "batch_id" in changed.reason


def test_a_read_only_log_verifies_without_remembering(store: EventStore, make_run) -> None:
    run = make_run(1)
    path = store.path
    store.close()
    import sqlite3

    uri = f"file:{path}?mode=ro"
    ro = EventStore(path, sqlite3.connect(uri, uri=True, isolation_level=None))
    try:
        assert ro.verify(run).ok
    finally:
        ro.close()
    with raw_connection(path) as conn:
        assert conn.execute("SELECT count(*) FROM run_verified").fetchone()[0] == 0


def test_verifying_while_a_writer_appends_never_reports_a_false_break(
    store: EventStore, make_run
) -> None:
    # events are read first and the tip last: without one read snapshot, an append in
    # between looked like events missing from the end (a false refusal of a playing run)
    import subprocess
    import sys
    import time

    run = make_run(1)
    writer = (
        "import sys\n"
        "from eventstore import EventStore\n"
        "from tests.store_helpers import play_turns\n"
        "with EventStore.open(sys.argv[1]) as s:\n"
        "    play_turns(s, sys.argv[2], range(2, 202))\n"
    )
    root = Path(__file__).resolve().parent.parent  # where `tests` imports from
    proc = subprocess.Popen([sys.executable, "-c", writer, str(store.path), run], cwd=root)
    checks = 0
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            for incremental in (True, False):
                result = store.verify(run, incremental=incremental)
                assert result.ok, result
                checks += 1
    finally:
        assert proc.wait(timeout=60) == 0
    assert checks > 2 and store.verify(run).checked == turn_end_seq(201)


def test_a_seal_downgraded_to_the_legacy_chain_breaks_the_chain(
    store: EventStore, make_run
) -> None:
    # marking a new run as made before schema 3 (whose chain does not cover metadata)
    # does not take its metadata out of the chain
    run = make_run(1)
    with raw_connection(store.path) as conn:
        conn.execute("UPDATE run_seals SET chain = 1 WHERE run_id = ?", (run,))
    result = store.verify(run)
    assert result.first_bad_seq == 1
    assert_one_line(result.reason, "event seq 1 (RunStarted) was changed or moved")
