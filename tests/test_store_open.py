"""Opening a log (and refusing what is not one), resolving run ids, run leases."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from eventstore import (
    EventStore,
    RunLease,
    RunLocked,
    RunNotFound,
    StoreError,
    UsageError,
    is_held,
)
from eventstore._schema import SCHEMA_VERSION
from tests.legacy_logs import as_legacy
from tests.store_helpers import build_run, raw_connection

pytestmark = pytest.mark.backends  # each test on SQLite and on PostgreSQL

# -- opening --------------------------------------------------------------------------


def test_a_new_log_is_created_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with EventStore.open(path) as store:
        run = store.create_run()
        with raw_connection(path) as conn:  # WAL mode is a property of the file
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with EventStore.open(path, create=False) as again:
        assert [r.run_id for r in again.list_runs()] == [run]


def test_missing_file_without_create(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(StoreError, match=f"no log at {path}"):
        EventStore.open(path, create=False)
    assert not path.exists()


def test_empty_file_without_create_is_missing_and_with_create_becomes_a_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StoreError, match=str(path)):
        EventStore.open(path, create=False)
    with EventStore.open(path) as store:
        store.create_run()


@pytest.mark.parametrize("create", [True, False])
def test_folder_that_does_not_exist(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "no" / "such" / "folder" / "log.db"
    with pytest.raises(StoreError, match=str(path)):
        EventStore.open(path, create=create)
    assert not (tmp_path / "no").exists()


def test_a_directory_is_not_a_log(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=str(tmp_path)):
        EventStore.open(tmp_path)


def test_random_bytes_are_not_a_log_and_stay_untouched(tmp_path: Path) -> None:
    path = tmp_path / "noise.db"
    data = os.urandom(8192)
    path.write_bytes(data)
    with pytest.raises(StoreError, match=f"{path} is not a scenario-lab log") as info:
        EventStore.open(path)
    assert info.value.hint
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.db"]


def test_another_apps_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
        conn.commit()
    data = path.read_bytes()
    with pytest.raises(StoreError, match=f"{path} is an SQLite file but not a scenario-lab log"):
        EventStore.open(path)
    assert path.read_bytes() == data


def test_a_log_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    EventStore.open(path).close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"{path} was written by a newer scenario-lab"):
        EventStore.open(path)


# -- resolving run ids ----------------------------------------------------------------


@pytest.fixture
def named(store: EventStore) -> EventStore:
    for run_id in ["abc123", "abd456", "xyz789", "a_b", "a%c", "a\\d"]:
        store.create_run(run_id)
    return store


@pytest.mark.parametrize(
    ("prefix", "run_id"),
    [
        ("abc123", "abc123"),
        ("abc", "abc123"),
        ("abd", "abd456"),
        ("x", "xyz789"),
        ("a_", "a_b"),  # `_` is literal, not LIKE's any-character
        ("a%", "a%c"),  # `%` is literal too
        ("a\\", "a\\d"),  # and so is the escape character
    ],
)
def test_resolve_exact_and_unique_prefix(named: EventStore, prefix: str, run_id: str) -> None:
    assert named.resolve(prefix) == run_id


@pytest.mark.parametrize("prefix", ["a", "ab"])
def test_resolve_ambiguous_prefix(named: EventStore, prefix: str) -> None:
    with pytest.raises(UsageError, match=f"prefix '{prefix}' is ambiguous") as info:
        named.resolve(prefix)
    assert not isinstance(info.value, RunNotFound)
    assert "more characters" in (info.value.hint or "")


@pytest.mark.parametrize("prefix", ["q", "abc1234", "b"])
def test_resolve_unknown(named: EventStore, prefix: str) -> None:
    with pytest.raises(RunNotFound, match=prefix):
        named.resolve(prefix)


def test_an_exact_id_wins_over_longer_ids_it_prefixes(store: EventStore) -> None:
    # Created last, so a scan in insertion order would meet the three longer ids first
    # and LIMIT 3 would drop the exact match; resolve orders the exact id first.
    for run_id in ["run1a", "run1b", "run1c", "run1"]:
        store.create_run(run_id)
    assert store.resolve("run1") == "run1"


# -- leases ---------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from eventstore import RunLease
    lease = RunLease(sys.argv[1], sys.argv[2]).acquire()
    print("held", flush=True)
    time.sleep(120)
    """
)


def test_a_lease_held_by_a_killed_process_is_released(db: Path | str) -> None:
    # on PostgreSQL the server drops the advisory lock when the killed session ends
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), "run1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert is_held(db, "run1")
        assert not is_held(db, "run2")
        with pytest.raises(RunLocked, match="run1"):
            RunLease(db, "run1").acquire()
        assert is_held(db, "run1")  # a failed acquire does not disturb the holder

        holder.send_signal(signal.SIGKILL)  # no chance to clean up
        holder.wait(timeout=30)

        # a PostgreSQL server ends the dead session when it reads the closed socket:
        # at once, but not before this returns; a file lock is gone with the process
        deadline = time.monotonic() + 10
        while is_held(db, "run1") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not is_held(db, "run1")
        with RunLease(db, "run1"):
            assert is_held(db, "run1")
        assert not is_held(db, "run1")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_lease_in_process(db: Path | str, backend: str) -> None:
    assert not is_held(db, "r")  # never leased: no lock file at all
    lease = RunLease(db, "r").acquire()
    try:
        assert is_held(db, "r")
        if backend == "sqlite":  # the holder's pid, for a person looking at the file
            assert lease.path.read_text() == str(os.getpid())
        with pytest.raises(RunLocked):
            RunLease(db, "r").acquire()
    finally:
        lease.release()
    assert not is_held(db, "r")
    lease.release()  # twice is harmless


def test_probing_a_free_lease_while_another_process_probes_it(tmp_path: Path) -> None:
    # is_held used to take the exclusive lock for its probe, so a second prober at the
    # same moment saw the first one as a live holder. Hold a prober's shared lock here.
    import fcntl

    db = tmp_path / "log.db"
    RunLease(db, "r").acquire().release()  # create the lock file
    lock_file = db.with_name(db.name + ".locks") / "r.lock"
    fd = os.open(lock_file, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        assert not is_held(db, "r")
    finally:
        os.close(fd)


# -- logs of an older schema ---------------------------------------------------------


def _as_schema_1(path: Path) -> None:
    """Turn a log into what scenario-lab wrote before runs had a recorded tip."""
    as_legacy(path, 1)


def test_a_schema_1_log_is_upgraded_in_place_and_keeps_verifying(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with EventStore.open(path) as store:
        run = build_run(store, turns=2)
        branch = store.fork(run, 1)
    _as_schema_1(path)

    with EventStore.open(path) as store:
        assert store.verify(run).ok
        assert store.verify(branch).ok
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            conn.execute("DELETE FROM events WHERE run_id = ? AND seq = ?", (run, 13))
            conn.commit()
        assert "missing from the end" in store.verify(run).reason
    EventStore.open(path).close()  # a second open finds nothing left to do


def test_an_upgrade_that_fails_is_one_error_and_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with EventStore.open(path) as store:
        build_run(store, turns=1)
    _as_schema_1(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE run_tips (something_else TEXT)")  # in the way
    with pytest.raises(StoreError, match=f"cannot upgrade the log {path}") as info:
        EventStore.open(path)
    assert "unchanged" in (info.value.hint or "")
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 8


def test_a_scratch_log_keeps_no_wal_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "scratch.db"
    EventStore.open(path).close()  # made like a worker's template: a WAL log
    with EventStore.open(path, create=False, scratch=True) as store:
        # the journal mode is the connection's own: ask the store's (white-box)
        mode = store._conn.execute("PRAGMA journal_mode").fetchone()[0]
        run = build_run(store, turns=2)
        assert not (tmp_path / "scratch.db-wal").exists()  # a WAL log has one while open
        assert store.verify(run).ok
        events = store.read_events(run)
    assert mode == "memory"
    assert not (tmp_path / "scratch.db-wal").exists()
    with EventStore.open(path, create=False) as store:  # still a log any store reads
        assert store.read_events(run) == events
