"""The log context: bound fields reach every record, concurrent tasks keep their own,
an explicit field wins, and the pure layers load no logging framework."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from engine.errors import RunNotPlayable
from engine.observe import ContextFilter, bound, current, step
from eventstore import EventStore, RunLease, RunLocked


class _Keep(logging.Handler):
    """A handler that keeps its records, with the context filter a front end adds."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(ContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> object:
    log = logging.getLogger("tests.context")
    handler = _Keep()
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


def test_concurrent_tasks_each_carry_their_own_actor(kept: _Keep) -> None:
    log = logging.getLogger("tests.context")

    async def decide(actor: str, delay: float) -> None:
        with bound(actor=actor):
            await anyio.sleep(delay)  # the others bind and log meanwhile
            log.info("decided %s", actor)

    async def turn() -> None:
        with bound(run="r1", turn=3, phase="decisions"):
            async with anyio.create_task_group() as tg:
                for i, actor in enumerate(["a", "b", "c", "d"]):
                    tg.start_soon(decide, actor, 0.01 * (4 - i))
            log.info("phase over")

    anyio.run(turn)
    fields = [(r.getMessage(), r.__dict__.get("actor"), r.__dict__["turn"]) for r in kept.records]
    assert sorted(fields[:4]) == [(f"decided {a}", a, 3) for a in "abcd"]
    assert fields[4] == ("phase over", None, 3)  # no actor leaked out of the tasks
    assert all(r.__dict__["run"] == "r1" for r in kept.records)
    assert current() == {}


def test_an_explicit_field_wins_and_none_is_not_bound(kept: _Keep) -> None:
    log = logging.getLogger("tests.context")
    with bound(run="outer", actor=None):
        log.info("x", extra={"run": "inner"})
        assert "actor" not in current()
    assert kept.records[0].__dict__["run"] == "inner"


def test_a_step_logs_its_end_but_not_after_an_exception(kept: _Keep) -> None:
    steps = logging.getLogger("engine.steps")
    steps.addHandler(kept)
    steps.setLevel(logging.INFO)
    try:
        with step("turn", run="r", turn=2):
            pass
        with pytest.raises(ValueError), step("phase", phase="talks"):
            raise ValueError("boom")
    finally:
        steps.removeHandler(kept)
        steps.setLevel(logging.NOTSET)
    assert [r.getMessage() for r in kept.records] == ["turn.end"]
    assert kept.records[0].__dict__["turn"] == 2 and kept.records[0].__dict__["elapsed_ms"] >= 0


@pytest.mark.parametrize("statement", ["import engine.fold", "import engine.observe"])
def test_the_library_side_loads_no_logging_framework(statement: str) -> None:
    code = (
        f"import sys; {statement}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'structlog', 'opentelemetry'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_lease_conflict_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "log.db"
    db.touch()
    with RunLease(db, "r1"), caplog.at_level(logging.INFO), pytest.raises(RunLocked):
        RunLease(db, "r1").acquire()  # another open file: flock refuses it, as another process
    (record,) = [r for r in caplog.records if r.getMessage() == "lease.conflict"]
    assert record.__dict__["lease"] == "r1" and record.levelname == "INFO"


def test_resuming_a_run_another_process_plays_logs_the_conflict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from engine.play.session import prepare_resume
    from tests.store_helpers import build_run

    with EventStore.open(tmp_path / "log.db") as store:
        run_id = build_run(store, unfinished=True)
        held = RunLease(store.path, run_id)
        with held, caplog.at_level(logging.INFO), pytest.raises(RunNotPlayable):
            prepare_resume(store, run_id)
    assert [r.__dict__["run"] for r in caplog.records if r.getMessage() == "lease.conflict"] == [
        run_id
    ]
