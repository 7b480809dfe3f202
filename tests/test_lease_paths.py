"""A run's lease belongs to the log file, whatever name the log is opened by.

Found by an audit: through a symlink to the log, a second `resume` played a run that a
live process was playing (the sequence check stopped it only after it had paid for
calls). The second writer must refuse before any model call, through a symlink or any
other spelling of the path, and `runs` must call the run running through any of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventstore import RunLease, RunLocked, StoreError, is_held
from tests.check_helpers import event_count
from tests.engine_helpers import LLM3, RULES3, cli, llm_env, runs_json, subprocess_cli
from tests.fakellm import FakeLLMServer
from tests.pg_helpers import Cluster


def _spellings(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The log, a symlink to it from another folder, and that other folder."""
    real_dir, other = tmp_path / "logs", tmp_path / "elsewhere"
    real_dir.mkdir()
    other.mkdir()
    db = real_dir / "log.db"
    (other / "link.db").symlink_to(db)
    return db, other / "link.db", other


def _wait_until_running(db: Path | str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if event_count(db):
            rows = runs_json(db)
            if rows and rows[0]["status"] == "running":
                return str(rows[0]["run_id"])
        time.sleep(0.05)
    raise AssertionError("the first run never started")


def test_a_second_writer_through_another_path_refuses_before_any_call(tmp_path: Path) -> None:
    db, link, other = _spellings(tmp_path)
    with FakeLLMServer(latency_s=1.0) as first, FakeLLMServer() as second:
        proc = subprocess_cli("run", LLM3, "--db", db, "--turns", "40", env=llm_env(first.base_url))
        try:
            run_id = _wait_until_running(db)
            # `runs` tells running from interrupted by the lease: the same through any name
            for spelling in (link, Path("..") / "logs" / "log.db"):
                rows = _in(other, "runs", "--db", spelling, "--json")
                assert f'"run_id": "{run_id}"' in rows.stdout
                assert '"status": "running"' in rows.stdout, rows.stdout
            env = {**os.environ, **llm_env(second.base_url)}
            for spelling in (link, Path("..") / "logs" / "log.db", Path(".") / "link.db"):
                refused = _in(other, "resume", run_id, "--db", spelling, env=env)
                assert refused.returncode != 0, refused.stdout
                lines = refused.stderr.strip().splitlines()
                assert len(lines) == 1 and "live process" in lines[0], refused.stderr
            assert second.request_count == 0  # the second writer paid for nothing
            assert proc.poll() is None  # and the first one plays on
        finally:
            proc.kill()
            proc.communicate(timeout=30)


def _in(cwd: Path, *args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI as a separate process started in ``cwd`` (so relative paths are relative)."""
    return subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_lease_is_one_lock_under_every_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, link, other = _spellings(tmp_path)
    db.touch()
    monkeypatch.chdir(other)
    names = [db, link, Path("link.db"), Path("..") / "logs" / "log.db", Path("./link.db")]
    for holder in names:
        with RunLease(holder, "r"):
            for name in names:
                assert is_held(name, "r"), (holder, name)
                with pytest.raises(RunLocked):
                    RunLease(name, "r").acquire()
            assert not is_held(name, "another-run")
        assert not any(is_held(name, "r") for name in names)


def test_a_symlink_made_before_the_log_exists_leads_to_the_same_lock(tmp_path: Path) -> None:
    db, link, _other = _spellings(tmp_path)
    with RunLease(link, "r"):  # the log is created later, through the other name
        db.touch()
        assert is_held(db, "r")


def test_a_hard_linked_log_gets_no_lease(tmp_path: Path) -> None:
    # A hard link is a second real path: its own lock folder, its own SQLite WAL.
    db, hard = tmp_path / "log.db", tmp_path / "hard.db"
    assert cli("run", RULES3, "--db", db).exit_code == 0
    os.link(db, hard)
    for name in (db, hard):
        with pytest.raises(StoreError, match="2 hard links") as info:
            RunLease(name, "r").acquire()
        assert "one name" in (info.value.hint or "")
    refused = cli("run", RULES3, "--db", hard)
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1 and "hard links" in refused.stderr
    assert len(runs_json(db)) == 1  # nothing was recorded by the refused run
    os.unlink(hard)
    with RunLease(db, "r"):
        assert is_held(db, "r")


@pytest.mark.postgres
def test_two_writers_on_one_postgresql_run_one_plays_the_other_refuses_before_any_call(
    pg_cluster: Cluster,
) -> None:
    # The lease is an advisory lock keyed by the log's schema and the run id, so every
    # spelling of the URL (scheme alias, host name) names the same lock.
    url = pg_cluster.fresh_log()
    spellings = [
        url,
        url.replace("postgresql://", "postgres://", 1),
        url.replace("@127.0.0.1:", "@localhost:", 1),
    ]
    with FakeLLMServer(latency_s=1.0) as first, FakeLLMServer() as second:
        proc = subprocess_cli(
            "run", LLM3, "--db", url, "--turns", "40", env=llm_env(first.base_url)
        )
        try:
            run_id = _wait_until_running(url)
            env = {**os.environ, **llm_env(second.base_url)}
            for spelling in spellings:
                rows = runs_json(spelling)
                assert rows[0]["run_id"] == run_id and rows[0]["status"] == "running"
                refused = subprocess.run(
                    [sys.executable, "-c", "from cli.app import main; main()", "resume", run_id,
                     "--db", spelling],
                    env=env, capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                assert refused.returncode == 2, refused.stderr
                lines = refused.stderr.strip().splitlines()
                assert len(lines) == 1 and "live process" in lines[0], refused.stderr
            assert second.request_count == 0  # the second writer paid for nothing
            assert proc.poll() is None  # and the first one plays on
            before = first.request_count
            deadline = time.monotonic() + 30
            while first.request_count == before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert first.request_count > before
        finally:
            proc.kill()
            proc.communicate(timeout=30)
