"""Commands that read a run refuse it, or warn, when it fails verification, through the
real CLI over a real log (the policy per command is in scenario_lab/app/verification.py
and docs/verification.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eventstore import EventStore, IntegrityError
from scenario_lab.app import Lab, LabSettings
from tests.engine_helpers import RULES3, cli, last_line
from tests.store_helpers import raw_connection


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, str, str]:
    """A played run whose runs row was edited, and a sound second run."""
    db = tmp_path / "log.db"
    ids = []
    for seed in ("5", "6"):
        result = cli("run", RULES3, "--db", db, "--seed", seed)
        assert result.exit_code == 0, result.output
        ids.append(last_line(result.stdout))
    bad, good = ids
    with raw_connection(db) as conn:
        conn.execute("UPDATE runs SET batch_id = 'moved' WHERE run_id = ?", (bad,))
    return db, bad, good


def _refused(result: object, run: str) -> None:
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert f"run {run} fails verification" in err and "batch_id (sealed None" in err
    assert f"scenario-lab verify {run}" in err
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "command",
    [
        ["fork", "{run}", "--at-turn", "1"],
        ["fork", "{run}", "--at-turn", "1", "--count", "2", "--play"],
        ["resume", "{run}"],
        ["interview", "{run}", "Why?", "--actor", "north", "--at-turn", "1"],
        ["replay", "{run}"],
        ["audit", "{run}"],
        ["report", "{run}"],
        ["compare", "{run}", "{good}"],
    ],
    ids=lambda c: "-".join(x for x in c if not x.startswith("{")),
)
def test_a_command_that_builds_on_or_presents_a_run_refuses_it(
    damaged: tuple[Path, str, str], command: list[str]
) -> None:
    db, bad, good = damaged
    args = [a.format(run=bad, good=good) for a in command]
    with EventStore.open(db) as store:
        runs_before = len(store.list_runs())
    _refused(cli(*args, "--db", db), bad)
    with EventStore.open(db) as store:
        assert len(store.list_runs()) == runs_before  # nothing was recorded


def test_the_sound_run_is_still_served(damaged: tuple[Path, str, str]) -> None:
    db, _bad, good = damaged
    assert cli("report", good, "--db", db).exit_code == 0
    assert cli("fork", good, "--db", db, "--at-turn", "1").exit_code == 0
    # the log as stored stays readable: it is how the damage is examined
    db, bad, _ = damaged
    assert cli("log", bad, "--db", db).exit_code == 0


@pytest.mark.parametrize(
    "command",
    [["sql", "SELECT count(*) AS n FROM runs"], ["project"]],
    ids=["sql", "project"],
)
def test_a_command_over_the_whole_log_warns_and_goes_on(
    damaged: tuple[Path, str, str], command: list[str]
) -> None:
    db, bad, good = damaged
    result = cli(*command, "--db", db)
    assert result.exit_code == 0, result.output
    warnings = [x for x in result.stderr.splitlines() if x.startswith("warning: ")]
    assert len(warnings) == 1 and f"run {bad} fails verification" in warnings[0]
    assert "batch_id" in warnings[0] and good not in warnings[0]


def test_the_warning_reaches_the_log_of_a_server(
    damaged: tuple[Path, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    # a front end without a terminal (the server) gets it through logging
    db, bad, _ = damaged
    with caplog.at_level(logging.WARNING, logger="scenario_lab.integrity"):
        Lab(LabSettings(db=db, analytics=db.with_suffix(".duckdb"))).project()
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert bad in caplog.records[0].getMessage()


def test_the_app_layer_refuses_with_a_typed_error(damaged: tuple[Path, str, str]) -> None:
    db, bad, _ = damaged
    lab = Lab(LabSettings(db=db))
    for read in (lambda: lab.run(bad), lambda: lab.state(bad)):
        with pytest.raises(IntegrityError) as info:
            read()
        assert info.value.run_id == bad and info.value.code == "integrity-broken"


def test_a_check_remembers_so_the_next_one_reads_only_what_is_new(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    run = last_line(cli("run", RULES3, "--db", db, "--seed", "5").stdout)
    assert cli("report", run, "--db", db).exit_code == 0
    with EventStore.open(db) as store:
        assert store.verify(run, incremental=True).checked == 0
