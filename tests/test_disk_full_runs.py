"""Runs on a full disk: they stop resumable, say which file and what to do, lose nothing.

The log lives on a small tmpfs mounted for the test (root only; skipped, saying why,
where mounting is not permitted), filled so that a run runs out of room part-way. A
full disk used to end a run ``failed`` (which ``resume`` refuses) and print SQLite's
bare "database or disk is full"; reading a log on a full disk said it was "not a
scenario-lab log".
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.disk_helpers import fill, free_bytes, small_tmpfs
from tests.engine_helpers import cli, last_line, llm_env, payloads, runs_json
from tests.fakellm import FakeLLMServer

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
RULES = SCENARIOS / "strait-crisis"
LLM = SCENARIOS / "ai-summit"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs, unmounted afterwards."""
    with small_tmpfs(tmp_path / "small", "8m") as mounted:
        yield mounted


def _one_line(result: Any, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    # a run says which run it started before it plays; the error is one line, the last
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:] and "Traceback" not in result.output, lines
    err = errors[0]
    for needle in needles:
        assert needle in err, err
    return err


def _room_taken(disk: Path, *args: Any, env: dict[str, str] | None = None) -> int:
    """Bytes a whole run of ``args`` leaves on ``disk`` (measured, then removed)."""
    before = free_bytes(disk)
    probe = disk / "probe.db"
    done = cli(*args, "--db", probe, env=env)
    assert done.exit_code == 0, done.output
    taken = before - free_bytes(disk)
    _remove(disk, probe.name)
    return taken


def _stopped_run(err: str) -> str:
    """The run id a 'stopped there' line names."""
    return err.split("; run ", 1)[1].split(" ", 1)[0]


def _timeline(db: Path, run_id: str) -> list[tuple[int, str, Any]]:
    # what a resume adds to the story of the run: a RunResumed (with its session detail)
    return [p for p in payloads(db, run_id) if p[1] != "RunResumed"]


def _status(db: Path, run_id: str) -> str:
    return next(str(r["status"]) for r in runs_json(db) if r["run_id"] == run_id)


def _remove(disk: Path, name: str) -> None:
    for leftover in disk.glob(f"{name}*"):
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()


def _run_out_of_room(
    disk: Path, args: list[Any], env: dict[str, str] | None
) -> tuple[Path, Path, str]:
    """Run ``args`` with less room than it needs, so that it stops part-way, recorded
    but not finished; returns the log, the filler and the error line.

    SQLite's write-ahead log grows past the finished file, so the room a run needs at
    its peak is found by trying less and less (a bounded number of times).
    """
    taken = _room_taken(disk, *args, env=env)
    db = disk / "log.db"
    for factor in (8, 6, 4, 3, 2, 1.5, 1):
        filler = fill(disk, leave=int(taken * factor))
        result = cli(*args, "--db", db, env=env)
        if "stopped there" in result.stderr:
            return db, filler, _one_line(result, f"cannot write to the log {db}")
        filler.unlink()
        _remove(disk, db.name)
    pytest.fail(f"no room left made {args} stop part-way (it takes {taken} bytes)")


def _stop_and_resume(
    tmp_path: Path, disk: Path, args: list[Any], env: dict[str, str] | None = None
) -> tuple[Path, str]:
    """Run ``args`` on a disk with too little room, check how it stops and what it
    keeps, free the disk, resume; returns the log and the run id."""
    db, filler, err = _run_out_of_room(disk, args, env)
    assert "free space on that disk" in err
    run_id = _stopped_run(err)
    assert f"scenario-lab resume {run_id} --db {db}" in err
    # stopped, not ended: nothing but the last step is missing, and it can go on
    assert _status(db, run_id) == "interrupted"
    kept = payloads(db, run_id)
    assert kept[0][1] == "RunStarted"
    assert not {"RunFailed", "RunCompleted", "RunHalted"} & {t for _, t, _ in kept}
    # every command still reads it while the disk is full (there is room for SQLite's index)
    assert cli("verify", run_id, "--db", db).exit_code == 0
    again = cli("resume", run_id, "--db", db, env=env)  # still full: refused the same way
    assert again.exit_code == 1 and f"cannot write to the log {db}" in again.stderr, again.output
    filler.unlink()
    resumed = cli("resume", run_id, "--db", db, env=env)
    assert resumed.exit_code == 0, resumed.output
    assert last_line(resumed.stdout) == run_id
    assert _status(db, run_id) == "completed"
    assert payloads(db, run_id)[: len(kept)] == kept  # what was recorded is untouched
    checked = cli("verify", run_id, "--db", db)
    assert checked.exit_code == 0, checked.output
    return db, run_id


def test_a_rule_run_stops_on_a_full_disk_and_resumes_to_the_same_run(
    tmp_path: Path, disk: Path
) -> None:
    args: list[Any] = ["run", RULES, "--seed", 7]
    db, run_id = _stop_and_resume(tmp_path, disk, args)
    reference = tmp_path / "roomy.db"
    ref = cli(*args, "--db", reference)
    assert ref.exit_code == 0, ref.output
    # the same seed gives the same run, however often the disk stopped it
    mine, theirs = _timeline(db, run_id), _timeline(reference, last_line(ref.stdout))
    assert [(t, k) for t, k, _ in mine] == [(t, k) for t, k, _ in theirs]
    assert [p for _t, k, p in mine if k == "MetricRecorded"] == [
        p for _t, k, p in theirs if k == "MetricRecorded"
    ]


def test_a_model_run_stops_on_a_full_disk_and_resumes(tmp_path: Path, disk: Path) -> None:
    with FakeLLMServer() as fake:
        env = llm_env(fake.base_url)
        db, run_id = _stop_and_resume(tmp_path, disk, ["run", LLM, "--seed", 3], env=env)
    events = payloads(db, run_id)
    assert [t for t, k, _p in events if k == "TurnCompleted"] == [0, 1, 2, 3, 4]
    assert events[-1][1] == "RunCompleted"


def test_a_new_log_on_a_full_disk_is_not_left_half_made(tmp_path: Path, disk: Path) -> None:
    db = disk / "new.db"
    filler = fill(disk, leave=0)
    _one_line(cli("run", RULES, "--db", db), f"{db}", "free space on the disk")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    filler.unlink()
    done = cli("run", RULES, "--db", db, "--turns", 2)
    assert done.exit_code == 0, done.output


def test_reading_and_forking_on_a_full_disk_say_so_and_leave_nothing_behind(
    tmp_path: Path, disk: Path
) -> None:
    db = disk / "log.db"
    done = cli("run", RULES, "--db", db, "--turns", 3)
    assert done.exit_code == 0, done.output
    run_id = last_line(done.stdout)
    before = payloads(db, run_id)
    filler = fill(disk, leave=0)
    # SQLite reads a WAL log through a -shm index it cannot make on a full disk
    _one_line(cli("runs", "--db", db), f"cannot open the log {db}", "free space on the disk")
    _one_line(cli("fork", run_id, "--at-turn", 1, "--db", db), f"{db}", "free space")
    filler.unlink()
    assert [r["run_id"] for r in runs_json(db)] == [run_id]  # no fork half-made
    assert payloads(db, run_id) == before
    forked = cli("fork", run_id, "--at-turn", 1, "--db", db)
    assert forked.exit_code == 0, forked.output
