"""Anchors: the chain heads exported with ``verify --anchor-out`` and a log checked
against them with ``--anchor``, through the store and the real CLI; and logs of older
schemas, which keep verifying after the upgrade."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from eventstore import EventStore, InvalidRequest, anchor_bytes, parse_anchor
from eventstore._schema import SCHEMA_VERSION
from tests.engine_helpers import cli
from tests.integrity_helpers import assert_one_line, build_run_with_blobs
from tests.legacy_logs import as_legacy
from tests.store_helpers import play_turns, raw_connection, turn_end_seq

LAST = turn_end_seq(3)


def _log(tmp_path: Path) -> tuple[Path, str, str]:
    db = tmp_path / "log.db"
    with EventStore.open(db) as store:
        run = build_run_with_blobs(store, 3)
        branch = store.fork(run, 1)
    return db, run, branch


def _roll_back_and_reappend(db: Path, run: str, to_seq: int) -> None:
    """Delete the run's tail, roll its tip back, forget every verified mark (all as an
    attacker with sqlite3 would), then let scenario-lab append again, as a resume does."""
    with raw_connection(db) as conn:
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq > ?", (run, to_seq))
        conn.execute(
            "UPDATE run_tips SET seq = ?1, hash = (SELECT hash FROM events WHERE run_id = ?2 "
            "AND seq = ?1) WHERE run_id = ?2",
            (to_seq, run),
        )
        conn.execute("DELETE FROM run_verified")
    with EventStore.open(db) as store:
        play_turns(store, run, range(3, 6), tag="again")  # past the old end
        assert store.verify(run).ok  # the file alone no longer shows it


# -- the store ----------------------------------------------------------------------------


def test_anchor_round_trip_is_canonical(tmp_path: Path) -> None:
    db, run, branch = _log(tmp_path)
    with EventStore.open(db) as store:
        heads = store.chain_heads()
        data = anchor_bytes(heads)
        assert parse_anchor(data, "a.json") == heads
        assert all(r.ok for r in store.check_anchor(heads))
        assert heads[branch].seq == turn_end_seq(1) + 1 and heads[run].seq == LAST + 6
    doc = json.loads(data)
    assert data == (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode()
    assert set(doc["runs"][run]) == {"head", "meta", "position", "seq"}


def test_anchor_names_a_rollback_that_resume_papered_over(tmp_path: Path) -> None:
    db, run, _ = _log(tmp_path)
    with EventStore.open(db) as store:
        heads = store.chain_heads()
    _roll_back_and_reappend(db, run, turn_end_seq(2))
    with EventStore.open(db) as store:
        [bad] = [r for r in store.check_anchor(heads) if not r.ok]
    h = heads[run]
    assert (bad.run_id, bad.first_bad_seq, bad.first_bad_position) == (run, h.seq, h.position)
    assert_one_line(
        bad.reason, "rewritten at or before the anchor's head", f"position {h.position}"
    )


def test_anchor_names_a_rollback_and_a_deleted_run(tmp_path: Path) -> None:
    db, run, branch = _log(tmp_path)
    with EventStore.open(db) as store:
        heads = store.chain_heads()
    with raw_connection(db) as conn:
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq > ?", (run, LAST))
        for table in ("events", "run_tips", "run_seals", "run_verified", "runs"):
            conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (branch,))
    with EventStore.open(db) as store:
        results = {r.run_id: r for r in store.check_anchor(heads)}
    assert_one_line(results[run].reason, "rolled back past the anchor", f"now end at seq {LAST}")
    assert_one_line(results[branch].reason, "the log does not")


def test_anchor_names_a_whole_chain_recomputed(tmp_path: Path) -> None:
    # the strongest forger: every hash, tip and seal rewritten consistently (here: the
    # log turned into an older schema's chain); the file verifies, the anchor does not
    db, run, _ = _log(tmp_path)
    with EventStore.open(db) as store:
        heads = store.chain_heads()
    as_legacy(db, 2)
    with EventStore.open(db) as store:
        assert store.verify(run).ok
        assert not {r.run_id for r in store.check_anchor(heads) if not r.ok} ^ set(heads)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not json", "is not a scenario-lab anchor"),
        (b'{"format":"other","version":1,"runs":{}}', "format 'other'"),
        (b'{"format":"scenario-lab-anchor","version":1,"runs":{"r":{"seq":1}}}', "missing"),
    ],
)
def test_a_bad_anchor_file_is_one_error_naming_it(content: bytes, needle: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_anchor(content, "a.json")
    assert info.value.file == "a.json"
    assert_one_line(info.value.one_line(), "a.json", needle)


# -- the CLI ------------------------------------------------------------------------------


def test_cli_anchor_round_trip_and_rollback(tmp_path: Path) -> None:
    db, run, branch = _log(tmp_path)
    anchor = tmp_path / "heads.json"
    written = cli("verify", "--db", db, "--anchor-out", anchor)
    assert written.exit_code == 0, written.output
    assert f"wrote the chain heads of 2 run(s) to {anchor}" in written.stderr
    first = anchor.read_bytes()
    assert cli("verify", "--db", db, "--anchor-out", anchor).exit_code == 0
    assert anchor.read_bytes() == first  # canonical: the same log, the same bytes
    ok = cli("verify", "--db", db, "--anchor", anchor)
    assert ok.exit_code == 0 and "checked 2 anchored run(s)" in ok.stderr

    _roll_back_and_reappend(db, run, turn_end_seq(2))
    assert cli("verify", "--db", db).exit_code == 0  # nothing in the file shows it
    head = json.loads(first)["runs"][run]
    result = cli("verify", "--db", db, "--anchor", anchor)
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith(run))
    assert f"BROKEN at position {head['position']} (seq {head['seq']})" in line
    assert f"{branch}: ok" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "error: 1 of 2 run(s) failed verification"
    one = cli("verify", run, "--db", db, "--anchor", anchor)
    assert one.exit_code == 1 and "rewritten" in one.stdout


def test_cli_does_not_anchor_a_damaged_log(tmp_path: Path) -> None:
    db, run, _ = _log(tmp_path)
    with raw_connection(db) as conn:
        conn.execute("UPDATE runs SET created_at = 'then' WHERE run_id = ?", (run,))
    anchor = tmp_path / "heads.json"
    result = cli("verify", "--db", db, "--anchor-out", anchor)
    assert result.exit_code == 1 and not anchor.exists()
    assert f"{run}: BROKEN: run {run}: its metadata was changed: created_at" in result.stdout
    assert "the anchor was not written" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--anchor", "missing.json"], "cannot read the anchor"),
        (["--anchor", "garbage.json"], "is not a scenario-lab anchor"),
        (["--anchor-out", "no/such/folder/a.json"], "cannot write the anchor"),
    ],
)
def test_cli_anchor_errors_are_one_line_exit_2(
    tmp_path: Path, args: list[str], needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _, _ = _log(tmp_path)
    (tmp_path / "garbage.json").write_text("{")
    monkeypatch.chdir(tmp_path)  # the relative paths above
    result = cli("verify", "--db", db, *args)
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err
    assert "Traceback" not in result.output


def test_cli_verify_a_run_missing_from_the_anchor_is_a_usage_error(tmp_path: Path) -> None:
    db, run, _ = _log(tmp_path)
    anchor = tmp_path / "heads.json"
    anchor.write_bytes(anchor_bytes({}))
    result = cli("verify", run, "--db", db, "--anchor", anchor)
    assert result.exit_code == 2 and f"run {run} is not in the anchor" in result.stderr


def test_cli_verify_in_a_fresh_process_exits_1_without_traceback(tmp_path: Path) -> None:
    # the installed entry point, as a user runs it
    db, run, _ = _log(tmp_path)
    with raw_connection(db) as conn:
        conn.execute("DELETE FROM blobs")
    exe = Path(sys.executable).with_name("scenario-lab")
    proc = subprocess.run(
        [str(exe), "verify", run, "--db", str(db)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is missing" in proc.stdout and proc.stderr.startswith("error: 1 of 1 run(s)")


# -- older logs ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_log_is_upgraded_and_keeps_verifying(tmp_path: Path, version: int) -> None:
    db, run, branch = _log(tmp_path)
    as_legacy(db, version)
    with EventStore.open(db) as store:
        assert store.verify(run).ok and store.verify(branch).ok
        play_turns(store, branch, range(2, 4))  # appends after the upgrade chain on
        new = store.fork(branch, 2)  # a run made after it is sealed into its chain
        assert all(store.verify(r).ok for r in (run, branch, new))
        heads = store.chain_heads()
    with raw_connection(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        chains = dict(conn.execute("SELECT run_id, chain FROM run_seals"))
        assert chains == {run: 1, branch: 1, new: 2}
        conn.execute("UPDATE runs SET fork_turn = 0 WHERE run_id = ?", (branch,))
    with EventStore.open(db) as store:
        # an old run's metadata is covered by its seal (and by an anchor's digest)
        assert_one_line(store.verify(branch).reason, "fork_turn (sealed 1, now 0)")
        [bad] = [r for r in store.check_anchor(heads) if not r.ok]
        assert bad.run_id == branch and "metadata" in bad.reason


def test_the_upgrade_runs_once_under_concurrent_openers(tmp_path: Path) -> None:
    db, run, _ = _log(tmp_path)
    as_legacy(db, 2)
    code = (
        "import sys; from eventstore import EventStore; "
        "s = EventStore.open(sys.argv[1]); assert s.verify(sys.argv[2]).ok; s.close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(db), run], cwd=Path.cwd())
        for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM run_seals").fetchone()[0] == 2
