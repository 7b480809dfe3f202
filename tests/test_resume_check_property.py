"""``replay --check`` passes on a run killed (SIGKILL) at random steps and resumed each time.

A real CLI process plays a run that makes every kind of model call (talk plans, replies,
coalition answers, an unreadable plan re-asked, decisions, the world update, a metric,
a check) against the loopback fake model, whose latency keeps calls in flight so a kill
lands mid-round. Hypothesis picks where each kill lands: after how many more events,
and how long after that. After the last kill, a resume plays to the end; the check must
then find the log consistent, however the kills cut it.
"""

from __future__ import annotations

import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.audit.check import check_run
from eventstore import EventStore, RunCompleted
from tests.check_helpers import event_count, talker, talks_scenario, wait_for_events
from tests.engine_helpers import cli, llm_env, runs_json, subprocess_cli
from tests.fakellm import FakeLLMServer

# A 2-turn run of this scenario records about 75 events: kills after up to 30 more each
# land in every phase, and a few of them in one run.
KILL_AFTER = st.integers(min_value=1, max_value=30)
KILL_DELAY = st.sampled_from([0.0, 0.003, 0.01, 0.025])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return talks_scenario(tmp_path_factory.mktemp("scenario"), validation=True)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(latency_s=0.02, responder=talker) as server:
        yield server


def _the_run(db: Path) -> str | None:
    rows = runs_json(db) if db.exists() else []
    return str(rows[0]["run_id"]) if rows else None


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kills=st.lists(st.tuples(KILL_AFTER, KILL_DELAY), min_size=1, max_size=3))
def test_a_run_killed_at_random_steps_and_resumed_checks_consistent(
    scenario: Path, fake: FakeLLMServer, kills: list[tuple[int, float]]
) -> None:
    env = llm_env(fake.base_url)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.db"
        run_id: str | None = None
        for after, delay in kills:
            if run_id is None:
                args = ("run", scenario, "--db", db, "--turns", "2", "--seed", "7")
            else:
                args = ("resume", run_id, "--db", db)
            proc = subprocess_cli(*args, env=env)
            wait_for_events(db, event_count(db) + after, proc, timeout=60)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            run_id = run_id or _the_run(db)  # None if killed before the run was recorded
        if run_id is None:
            done = cli("run", scenario, "--db", db, "--turns", "2", "--seed", "7", env=env)
            run_id = _the_run(db)
        elif runs_json(db)[0]["status"] != "completed":
            done = cli("resume", run_id, "--db", db, env=env)
        else:
            done = None
        assert done is None or done.exit_code == 0, done.output
        assert run_id is not None
        with EventStore.open(db) as store:
            events = store.read_events(run_id)
            assert isinstance(events[-1], RunCompleted)
            assert check_run(store, run_id) == len(events)
