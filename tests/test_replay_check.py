"""replay --check against committed recorded runs: one consistent, one divergent."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import NondeterminismError
from engine.replay_check import check_run
from eventstore import EventStore
from tests.engine_helpers import cli
from tests.recorded import import_run

FIXTURES = Path(__file__).parent / "fixtures"


def _load(name: str, tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "log.db"
    with EventStore.open(db) as store:
        run_id = import_run(FIXTURES / name, store)
        assert store.verify(run_id).ok
    return db, run_id


def test_recorded_run_replays_consistently(tmp_path: Path) -> None:
    db, run_id = _load("recorded-llm3.jsonl", tmp_path)
    result = cli("replay", run_id, "--db", db, "--check")
    assert result.exit_code == 0, result.output
    assert f"{run_id}: consistent" in result.stdout


def test_divergent_recording_names_the_first_differing_step(tmp_path: Path) -> None:
    db, run_id = _load("recorded-llm3-divergent.jsonl", tmp_path)
    with EventStore.open(db) as store, pytest.raises(NondeterminismError) as caught:
        check_run(store, run_id)
    err = caught.value
    assert err.run_id == run_id and err.turn == 2 and err.step == "DecisionMade"
    assert err.actor is not None
    result = cli("replay", run_id, "--db", db, "--check")
    assert result.exit_code == 1
    assert "turn 2" in result.stderr and "DecisionMade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_changed_prompt_is_reported_as_a_request_not_in_the_log(tmp_path: Path) -> None:
    db, run_id = _load("recorded-llm3.jsonl", tmp_path)
    # a scenario edit that changes what actors are told: the recorded answers no longer fit
    with EventStore.open(db) as store:
        conn = store.connection
        conn.execute(
            "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'Careful', 'Reckless') AS BLOB) "
            "WHERE type = 'RunStarted'"
        )
        with pytest.raises(NondeterminismError) as caught:
            check_run(store, run_id)
    assert "does not contain" in str(caught.value) and caught.value.step == "decision"
