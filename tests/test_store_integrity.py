"""``verify`` finds the first event that was changed, removed, inserted or reordered.

Each test edits the SQLite file through a second, plain connection, as someone with
the file (and no scenario-lab) could.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from eventstore import EventStore
from eventstore._hashing import GENESIS, chain_hash
from eventstore._seals import meta_digest, meta_document, run_seed
from tests.store_helpers import raw_connection, turn_end_seq

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL

RUN_TURNS = 3
LAST = turn_end_seq(RUN_TURNS)  # 18


def _pos(conn: sqlite3.Connection, run: str, seq: int) -> int:
    return int(
        conn.execute(
            "SELECT position FROM events WHERE run_id = ? AND seq = ?", (run, seq)
        ).fetchone()[0]
    )


def _row(conn: sqlite3.Connection, run: str, seq: int) -> tuple:
    return conn.execute(
        "SELECT run_id, seq, turn, type, schema_version, actor, event_id, recorded_at, payload, hash "
        "FROM events WHERE run_id = ? AND seq = ?",
        (run, seq),
    ).fetchone()


def _insert(conn: sqlite3.Connection, row: tuple) -> int:
    conn.execute(
        "INSERT INTO events (run_id, seq, turn, type, schema_version, actor, event_id, "
        "recorded_at, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
    # read back, not cursor.lastrowid: the same on both backends
    found = conn.execute("SELECT position FROM events WHERE event_id = ?", (row[6],)).fetchone()
    return int(found[0])


def _swap_seqs(conn: sqlite3.Connection, run: str, a: int, b: int) -> None:
    # through a free seq: UNIQUE(run_id, seq) holds after every statement
    conn.execute("UPDATE events SET seq = -1 WHERE run_id = ? AND seq = ?", (run, a))
    conn.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = ?", (a, run, b))
    conn.execute("UPDATE events SET seq = ? WHERE run_id = ? AND seq = -1", (b, run))


def _shift_up(conn: sqlite3.Connection, run: str, from_seq: int) -> None:
    conn.execute("UPDATE events SET seq = -seq - 1 WHERE run_id = ? AND seq >= ?", (run, from_seq))
    conn.execute("UPDATE events SET seq = -seq WHERE run_id = ? AND seq < 0", (run,))


# Each tampering returns the position of the first event verify must reject.
Tamper = Callable[[sqlite3.Connection, str], int]


def _edit_payload(conn: sqlite3.Connection, run: str, seq: int, old: str, new: str) -> None:
    before = bytes(_row(conn, run, seq)[8])
    # edited here, not by SQL replace(): that returns TEXT on SQLite, and is not
    # defined on bytes on PostgreSQL; stored as bytes, as the store writes payloads
    conn.execute(
        "UPDATE events SET payload = ? WHERE run_id = ? AND seq = ?",
        (before.replace(old.encode(), new.encode()), run, seq),
    )
    assert _row(conn, run, seq)[8] != before, "the edit must change the payload"


def payload_changed(conn: sqlite3.Connection, run: str) -> int:
    _edit_payload(conn, run, 7, "tension", "TENSION")
    return _pos(conn, run, 7)


def payload_changed_to_text(conn: sqlite3.Connection, run: str) -> int:
    # before the fix verify crashed with TypeError on a TEXT payload (SQLite stores
    # one in a BLOB column; PostgreSQL cannot, so there it is a plain edit)
    if not isinstance(conn, sqlite3.Connection):
        _edit_payload(conn, run, 7, "tension", "calm")
        return _pos(conn, run, 7)
    conn.execute(
        "UPDATE events SET payload = replace(payload, 'tension', 'calm') WHERE run_id = ? AND seq = 7",
        (run,),
    )
    return _pos(conn, run, 7)


def payload_nulled(conn: sqlite3.Connection, run: str) -> int:
    conn.execute("UPDATE events SET payload = ? WHERE run_id = ? AND seq = 7", (b"", run))
    return _pos(conn, run, 7)


def first_event_changed(conn: sqlite3.Connection, run: str) -> int:
    _edit_payload(conn, run, 1, '"seed":7', '"seed":8')
    return _pos(conn, run, 1)


def last_event_changed(conn: sqlite3.Connection, run: str) -> int:
    _edit_payload(conn, run, LAST, '"turn":3', '"turn":2')
    return _pos(conn, run, LAST)


def column_changed(column: str, value: object) -> Tamper:
    def tamper(conn: sqlite3.Connection, run: str) -> int:
        before = _row(conn, run, 10)
        conn.execute(f"UPDATE events SET {column} = ? WHERE run_id = ? AND seq = 10", (value, run))
        assert _row(conn, run, 10) != before, "the edit must change the row"
        return _pos(conn, run, 10)

    tamper.__name__ = f"{column}_changed"
    return tamper


def event_deleted(conn: sqlite3.Connection, run: str) -> int:
    conn.execute("DELETE FROM events WHERE run_id = ? AND seq = 7", (run,))
    return _pos(conn, run, 8)  # the first event whose link does not verify


def first_event_deleted(conn: sqlite3.Connection, run: str) -> int:
    conn.execute("DELETE FROM events WHERE run_id = ? AND seq = 1", (run,))
    return _pos(conn, run, 2)


def forged_at_the_end(conn: sqlite3.Connection, run: str) -> int:
    # a replayed copy of seq 5 as a new last event: only its hash could make it fit
    row = list(_row(conn, run, 5))
    row[1], row[6] = LAST + 1, "forged"
    return _insert(conn, tuple(row))


def forged_at_the_end_with_genesis_chain(conn: sqlite3.Connection, run: str) -> int:
    # a forger who knows the hash function but chains from the wrong place
    row = list(_row(conn, run, 5))
    row[1], row[6] = LAST + 1, "forged"
    row[9] = chain_hash(GENESIS, run, LAST + 1, *row[2:9])
    return _insert(conn, tuple(row))


def squeezed_in(conn: sqlite3.Connection, run: str) -> int:
    _shift_up(conn, run, 7)
    row = list(_row(conn, run, 6))
    row[1], row[6] = 7, "forged"
    return _insert(conn, tuple(row))  # keeps seq 6's hash: its own link fails


def swapped_seqs(conn: sqlite3.Connection, run: str) -> int:
    _swap_seqs(conn, run, 7, 12)
    return _pos(conn, run, 7)  # the event now at seq 7 (stored as seq 12)


def swapped_neighbours(conn: sqlite3.Connection, run: str) -> int:
    _swap_seqs(conn, run, 9, 10)
    return _pos(conn, run, 9)


def swapped_payloads(conn: sqlite3.Connection, run: str) -> int:
    p7, p12 = (_row(conn, run, s)[8] for s in (7, 12))
    conn.execute("UPDATE events SET payload = ? WHERE run_id = ? AND seq = 7", (p12, run))
    conn.execute("UPDATE events SET payload = ? WHERE run_id = ? AND seq = 12", (p7, run))
    return _pos(conn, run, 7)


def moved_to_another_run(conn: sqlite3.Connection, run: str) -> int:
    # a run 'other' to move it to (PostgreSQL enforces the foreign key; SQLite does not)
    conn.execute(
        "INSERT OR IGNORE INTO runs (run_id, root_run_id, depth, created_at) "
        "VALUES ('other', 'other', 0, '2020-01-01')"
    )
    conn.execute("UPDATE events SET run_id = 'other' WHERE run_id = ? AND seq = 11", (run,))
    return _pos(conn, run, 12)


TAMPERINGS: list[Tamper] = [
    payload_changed,
    payload_changed_to_text,
    payload_nulled,
    first_event_changed,
    last_event_changed,
    column_changed("turn", 9),
    column_changed("type", "TurnStarted"),
    column_changed("schema_version", 3),
    column_changed("actor", "south"),
    column_changed("event_id", "renamed"),
    column_changed("recorded_at", "2020-01-01T00:00:00"),
    column_changed("hash", "f" * 64),
    event_deleted,
    first_event_deleted,
    forged_at_the_end,
    forged_at_the_end_with_genesis_chain,
    squeezed_in,
    swapped_seqs,
    swapped_neighbours,
    swapped_payloads,
    moved_to_another_run,
]


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda t: t.__name__)
def test_tampering_is_found_at_the_first_bad_event(
    store: EventStore, make_run, tamper: Tamper
) -> None:
    run = make_run(RUN_TURNS)
    assert store.verify(run).ok
    with raw_connection(store.path) as conn:
        bad_position = tamper(conn, run)
        bad_seq = conn.execute(
            "SELECT seq FROM events WHERE position = ?", (bad_position,)
        ).fetchone()[0]
        before_bad = conn.execute(
            "SELECT count(*) FROM events WHERE run_id = ? AND seq < ?", (run, bad_seq)
        ).fetchone()[0]

    result = store.verify(run)

    assert not result.ok
    assert result.first_bad_position == bad_position
    assert result.first_bad_seq == bad_seq
    assert result.checked == before_bad  # everything before it still verifies
    assert result.reason


def test_squeezed_in_event_with_a_valid_link_is_caught_at_the_next(
    store: EventStore, make_run
) -> None:
    # Without a secret, a forger who recomputes the forged event's own link makes it
    # indistinguishable; the chain still breaks at the genuine event it displaced.
    run = make_run(RUN_TURNS)
    with raw_connection(store.path) as conn:
        displaced = _pos(conn, run, 7)
        _shift_up(conn, run, 7)
        row = list(_row(conn, run, 6))
        row[1], row[6] = 7, "forged"
        row[9] = chain_hash(_row(conn, run, 6)[9], run, 7, *row[2:9])
        _insert(conn, tuple(row))
    result = store.verify(run)
    assert (result.ok, result.first_bad_position, result.first_bad_seq) == (False, displaced, 8)


@pytest.mark.parametrize("turns", [0, 1, 3])
def test_intact_runs_verify(store: EventStore, make_run, turns: int) -> None:
    run = make_run(turns)
    result = store.verify(run)
    assert (result.ok, result.checked, result.first_bad_position) == (
        True,
        turn_end_seq(turns),
        None,
    )


def test_empty_run_verifies(store: EventStore) -> None:
    assert store.verify(store.create_run()).ok


def test_a_forks_verify_covers_its_inherited_prefix(store: EventStore, make_run) -> None:
    root = make_run(RUN_TURNS)
    branch = store.fork(root, 2)
    with raw_connection(store.path) as conn:
        bad = payload_changed(conn, root)  # seq 7: inside the shared prefix
    result = store.verify(branch)
    assert (result.ok, result.first_bad_position, result.first_bad_seq) == (False, bad, 7)


def test_tampering_after_the_fork_point_spares_the_branch(store: EventStore, make_run) -> None:
    root = make_run(RUN_TURNS)
    branch = store.fork(root, 1)  # shares seqs 1..8
    with raw_connection(store.path) as conn:
        _edit_payload(conn, root, 9, "TurnStarted", "TurnCompleted")
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq = ?", (root, LAST))
    assert not store.verify(root).ok
    assert store.verify(branch).ok


def test_a_branchs_own_events_are_verified_after_the_prefix(store: EventStore, make_run) -> None:
    root = make_run(RUN_TURNS)
    branch = store.fork(root, 1)
    with raw_connection(store.path) as conn:
        _edit_payload(conn, branch, turn_end_seq(1) + 1, '"fork_turn":1', '"fork_turn":0')
        bad = _pos(conn, branch, turn_end_seq(1) + 1)
    assert store.verify(root).ok
    result = store.verify(branch)
    assert (result.ok, result.first_bad_position) == (False, bad)


def test_verify_recomputes_what_append_stored(store: EventStore, make_run) -> None:
    # the stored chain is exactly chain_hash over the columns: the format other tools
    # (and old logs) rely on; the first event chains over the run's sealed metadata
    run = make_run(1)
    prev = run_seed(GENESIS, meta_digest(meta_document(store.run_info(run))))
    with raw_connection(store.path) as conn:
        for seq in range(1, turn_end_seq(1) + 1):
            row = _row(conn, run, seq)
            assert row[9] == chain_hash(prev, *row[:9])
            prev = row[9]


# -- the end of a run: the chain alone cannot tell a shortened run from a short one ------


@pytest.mark.parametrize("deleted", [1, 5])
def test_events_deleted_from_the_end_are_missing(store: EventStore, make_run, deleted: int) -> None:
    run = make_run(RUN_TURNS)
    with raw_connection(store.path) as conn:
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq > ?", (run, LAST - deleted))
    result = store.verify(run)
    assert (result.ok, result.checked, result.first_bad_seq) == (
        False,
        LAST - deleted,
        LAST - deleted + 1,
    )
    assert f"seq {LAST - deleted + 1}..{LAST} are missing from the end" in result.reason


def test_an_event_forged_onto_the_end_with_a_valid_link_is_caught(
    store: EventStore, make_run
) -> None:
    run = make_run(RUN_TURNS)
    with raw_connection(store.path) as conn:
        last = _row(conn, run, LAST)
        row = [*last]
        row[1], row[6] = LAST + 1, "forged"
        row[9] = chain_hash(last[9], run, LAST + 1, *row[2:9])
        forged = _insert(conn, tuple(row))
    result = store.verify(run)
    assert (result.ok, result.first_bad_seq) == (False, LAST + 1)
    assert "added outside scenario-lab" in result.reason
    assert forged  # the row is there: the chain through it is valid, only the tip objects


def test_the_last_event_replaced_with_a_valid_link_is_caught(store: EventStore, make_run) -> None:
    run = make_run(RUN_TURNS)
    with raw_connection(store.path) as conn:
        before = _row(conn, run, LAST - 1)
        row = [*_row(conn, run, LAST)]
        row[8] = row[8].replace(b'"turn":3', b'"turn":2')
        row[9] = chain_hash(before[9], run, LAST, *row[2:9])
        conn.execute(
            "UPDATE events SET payload = ?, hash = ? WHERE run_id = ? AND seq = ?",
            (row[8], row[9], run, LAST),
        )
        position = _pos(conn, run, LAST)
    result = store.verify(run)
    assert (result.ok, result.first_bad_position, result.first_bad_seq) == (
        False,
        position,
        LAST,
    )
    assert "was replaced" in result.reason


def test_a_fork_without_events_of_its_own_ends_where_its_parent_is_cut(
    store: EventStore, make_run
) -> None:
    root = make_run(RUN_TURNS)
    branch = store.fork(root, 1)
    with raw_connection(store.path) as conn:
        conn.execute("DELETE FROM events WHERE run_id = ?", (branch,))
    result = store.verify(branch)
    assert not result.ok
    assert "missing from the end" in result.reason
