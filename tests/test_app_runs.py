"""Runs through the application API on a real log: start, play, fork, resume, halt, and
the checks that refuse a request before anything is written."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import pytest

from scenario_lab.app import (
    ForkError,
    ForkRun,
    InvalidRequest,
    ListRuns,
    LogQuery,
    MissingCredentials,
    NotFound,
    ResumeRun,
    RunLocked,
    RunNotFound,
    RunNotPlayable,
    ScenarioInvalid,
    StartRun,
    TurnOutOfRange,
    UsageError,
    state_document,
)
from scenario_lab.app.errors import RunLocked as RunLockedToo
from tests.app_helpers import STRAIT, make_lab, no_runs, play
from tests.engine_helpers import LLM3
from tests.fakellm import FakeLLMServer


@pytest.fixture
def played(tmp_path: Path) -> tuple[Path, str]:
    lab = make_lab(tmp_path)
    outcome = play(lab, StartRun(scenario=str(STRAIT), seed=3, turns=4))
    assert outcome.status == "completed" and outcome.turns_completed == 4
    return tmp_path, outcome.run_id


def test_a_run_is_recorded_then_played_to_a_typed_outcome(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    created = lab.create_run(StartRun(scenario=str(STRAIT), seed=3, turns=3))
    assert created.scenario == "Strait Crisis"
    listed = lab.list_runs().runs
    assert [r.run_id for r in listed] == [created.run_id]
    assert listed[0].status == "running"  # its lease is held from before it existed
    outcome = anyio.run(lab.play_run, created.run_id)
    assert (outcome.status, outcome.turns_completed, outcome.turns) == ("completed", 3, 3)
    assert outcome.pending == () and outcome.halt_reason is None
    data = msgspec.json.decode(msgspec.json.encode(outcome))
    assert data["run_id"] == created.run_id
    assert lab.list_runs().runs[0].status == "completed"


def test_a_start_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    cases: list[tuple[StartRun, type[Exception], str]] = [
        (StartRun(scenario=str(STRAIT), turns=0), ScenarioInvalid, "turns"),
        (StartRun(scenario=str(STRAIT), turns=100_001), ScenarioInvalid, "turns"),
        (StartRun(scenario=str(STRAIT), credit_limit=-1), ScenarioInvalid, "credit_limit"),
        (
            StartRun(scenario=str(STRAIT), credit_limit=float("nan")),
            ScenarioInvalid,
            "credit_limit",
        ),
        (StartRun(scenario=str(STRAIT), models={"nobody": "m"}), ScenarioInvalid, "models"),
        (StartRun(scenario=str(tmp_path / "none")), ScenarioInvalid, ""),
    ]
    for request, error, field in cases:
        with pytest.raises(error) as info:
            lab.create_run(request)
        assert (info.value.field or "") == field, request  # type: ignore[attr-defined]
    assert no_runs(lab)


def test_models_are_checked_before_a_run_is_recorded(tmp_path: Path) -> None:
    with pytest.raises(MissingCredentials, match="OPENROUTER_API_KEY"):
        make_lab(tmp_path).create_run(StartRun(scenario=str(LLM3)))
    with pytest.raises(InvalidRequest) as info:
        make_lab(tmp_path, base_url="notaurl").create_run(StartRun(scenario=str(LLM3)))
    assert info.value.field == "llm_base_url"
    assert info.value.one_line({"llm_base_url": "--llm-base-url"}).startswith(
        "--llm-base-url 'notaurl' is not an http(s) URL"
    )
    bad = tmp_path / "prices.json"
    bad.write_text("[]")
    with pytest.raises(UsageError, match="price file"):
        make_lab(tmp_path, prices=bad).create_run(StartRun(scenario=str(STRAIT)))
    assert no_runs(make_lab(tmp_path))


def test_an_llm_run_plays_against_the_fake_endpoint(tmp_path: Path) -> None:
    with FakeLLMServer() as fake:
        lab = make_lab(tmp_path, base_url=fake.base_url)
        outcome = play(lab, StartRun(scenario=str(LLM3), turns=2))
        assert outcome.status == "completed" and fake.request_count > 0
    detail = lab.run(outcome.run_id)
    assert detail.summary.scenario and detail.turns == 2 and detail.seats_pending == ()


def test_reads_of_a_run(played: tuple[Path, str]) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    state = lab.state(run_id, 2)
    assert state.last_completed_turn == 2
    assert "scenario" not in state_document(state) and state_document(state)["seed"] == 3
    with pytest.raises(TurnOutOfRange) as info:
        lab.state(run_id, 9)
    assert (info.value.turn, info.value.last_turn, info.value.field) == (9, 4, "turn")
    report = lab.verify()
    assert report.failed == 0 and [r.run_id for r in report.results] == [run_id]
    with pytest.raises(RunNotFound) as missing:
        lab.run("zzzz")
    assert missing.value.code == "run-not-found" and missing.value.run_id == "zzzz"


def test_log_pages_follow_positions(played: tuple[Path, str]) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    every = list(lab.log(LogQuery(run=run_id)))
    page = lab.log_page(LogQuery(run=run_id, limit=10))
    assert [e.position for e in page.events] == [e.position for e in every[:10]]
    rest = lab.log_page(LogQuery(run=run_id, after=page.next_after))
    assert [e.position for e in page.events + rest.events] == [e.position for e in every]
    assert rest.next_after == every[-1].position
    only = lab.log_page(LogQuery(run=run_id, turn=2, type="TurnCompleted"))
    assert [(e.turn, e.type) for e in only.events] == [(2, "TurnCompleted")]
    line = msgspec.to_builtins(every[0])
    assert line["payload"]["type"] == "RunStarted" and line["type"] == "RunStarted"


def test_log_filters_that_would_match_nothing_are_refused(played: tuple[Path, str]) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    with pytest.raises(InvalidRequest) as bad_type:
        lab.log_page(LogQuery(run=run_id, type="Nonsense"))
    assert bad_type.value.field == "type" and "RunStarted" in bad_type.value.message
    with pytest.raises(NotFound) as bad_actor:
        lab.log_page(LogQuery(run=run_id, actor="nobody"))
    assert bad_actor.value.field == "actor" and "eastern-power" in (bad_actor.value.hint or "")
    with pytest.raises(TurnOutOfRange):
        list(lab.log(LogQuery(run=run_id, turn=7)))


def test_runs_are_listed_with_filters_and_pages(played: tuple[Path, str]) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    branches = [lab.fork_run(ForkRun(run=run_id, at_turn=t)).run_id for t in (1, 2, 3)]
    assert [r.run_id for r in lab.list_runs().runs] == [*reversed(branches), run_id]
    first = lab.list_runs(ListRuns(limit=2))
    assert len(first.runs) == 2 and first.next_cursor == first.runs[-1].run_id
    second = lab.list_runs(ListRuns(limit=2, cursor=first.next_cursor))
    assert [r.run_id for r in first.runs + second.runs] == [*reversed(branches), run_id]
    assert second.next_cursor is None
    assert [r.run_id for r in lab.list_runs(ListRuns(status="completed")).runs] == [run_id]
    assert len(lab.list_runs(ListRuns(parent=run_id)).runs) == 3
    with pytest.raises(InvalidRequest) as info:
        lab.list_runs(ListRuns(cursor="nope"))
    assert info.value.field == "cursor"
    detail = lab.run(branches[0])
    assert [link.run_id for link in detail.lineage] == [run_id, branches[0]]
    assert [c.run_id for c in lab.run(run_id).children] == branches


def test_fork_requests_are_checked_by_the_app(played: tuple[Path, str]) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    refused = [
        (ForkRun(run=run_id, at_turn=1, humans=("a",), ais=("a",)), InvalidRequest, "humans"),
        (ForkRun(run=run_id, at_turn=1, count=3), InvalidRequest, "count"),
        (
            ForkRun(run=run_id, at_turn=1, count=3, play=True, inject=("x",)),
            InvalidRequest,
            "count",
        ),
        (ForkRun(run=run_id, at_turn=1, count=3, play=True), InvalidRequest, "count"),
        (ForkRun(run=run_id, at_turn=1, decisions={"nobody": "x"}), ScenarioInvalid, "decisions"),
        (
            ForkRun(run=run_id, at_turn=1, decisions={"eastern-power": "typo"}),
            ScenarioInvalid,
            "decisions",
        ),
        (ForkRun(run=run_id, at_turn=1, inject=("  ",)), ScenarioInvalid, "inject"),
        (ForkRun(run=run_id, at_turn=1, turns=0), ScenarioInvalid, "turns"),
    ]
    for request, error, field in refused:
        with pytest.raises(error) as info:
            lab.fork_run(request)
        assert info.value.field == field, request  # type: ignore[attr-defined]
    with pytest.raises(ForkError):
        lab.fork_run(ForkRun(run=run_id, at_turn=9))
    assert len(lab.list_runs().runs) == 1  # nothing was recorded
    count = InvalidRequest("x")
    assert count.category == "invalid"


def test_a_fork_plays_from_its_fork_point(played: tuple[Path, str]) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    branch = lab.fork_run(ForkRun(run=run_id, at_turn=2, seed=9, turns=5))
    assert (branch.parent_run_id, branch.at_turn) == (run_id, 2)
    outcome = anyio.run(lab.play_run, branch.run_id)
    assert outcome.status == "completed" and outcome.turns_completed == 5


def test_resume_refuses_a_finished_run_and_extends_it_with_more_turns(
    played: tuple[Path, str],
) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    with pytest.raises(RunNotPlayable) as info:
        lab.resume_run(ResumeRun(run=run_id))
    assert info.value.field == "turns" and info.value.hint == (
        "pass turns N with more turns to extend it, or fork it"
    )
    with pytest.raises(RunNotPlayable) as fewer:
        lab.resume_run(ResumeRun(run=run_id, turns=3))
    assert fewer.value.one_line({"turns": "--turns"}).startswith(
        f"run {run_id} already completed 4 turns"
    )
    resumed = lab.resume_run(ResumeRun(run=run_id[:6], turns=6))
    assert resumed == run_id
    outcome = anyio.run(lab.play_run, run_id)
    assert outcome.turns_completed == 6


def test_halt_stops_a_run_this_lab_plays_and_resume_goes_on(tmp_path: Path) -> None:
    with FakeLLMServer(latency_s=0.2) as fake:
        lab = make_lab(tmp_path, base_url=fake.base_url)
        created = lab.create_run(StartRun(scenario=str(LLM3), turns=3))

        async def main() -> tuple[object, object]:
            async with anyio.create_task_group() as tg:
                results: dict[str, object] = {}

                async def player() -> None:
                    results["played"] = await lab.play_run(created.run_id)

                tg.start_soon(player)
                with anyio.fail_after(30):
                    while fake.request_count == 0:
                        await anyio.sleep(0.02)
                results["halted"] = await lab.halt(created.run_id)
            return results["played"], results["halted"]

        played, halted = anyio.run(main)
        for outcome in (played, halted):
            assert (outcome.status, outcome.halt_reason) == ("halted", "user")  # type: ignore[attr-defined]
        assert lab.list_runs().runs[0].status == "halted"
        lab.resume_run(ResumeRun(run=created.run_id))
        final = anyio.run(lab.play_run, created.run_id)
        assert final.status == "completed" and final.turns_completed == 3
    assert lab.check_run(created.run_id).events > 0  # the halt replays as recorded


def test_halt_of_a_run_nobody_plays(played: tuple[Path, str]) -> None:
    tmp_path, run_id = played
    lab = make_lab(tmp_path)
    branch = lab.fork_run(ForkRun(run=run_id, at_turn=1)).run_id
    outcome = anyio.run(lab.halt, branch)
    assert (outcome.status, outcome.halt_reason) == ("halted", "user")
    assert anyio.run(lab.halt, branch).status == "halted"  # again: nothing more written
    with pytest.raises(RunNotPlayable):
        anyio.run(lab.halt, run_id)  # completed
    created = lab.create_run(StartRun(scenario=str(STRAIT), turns=2))
    with pytest.raises(RunLocked):
        anyio.run(lab.halt, created.run_id)  # its lease is held: someone is about to play it
    assert RunLocked is RunLockedToo
    lab.close()
    assert lab.list_runs(ListRuns(status="interrupted")).runs[0].run_id == created.run_id


def test_a_created_run_keeps_its_log_open_until_played_or_closed(tmp_path: Path) -> None:
    # create_run hands its connection to play_run (one open per run); the last close
    # of an SQLite log checkpoints and removes its write-ahead log
    wal = tmp_path / "log.db-wal"
    lab = make_lab(tmp_path)
    played = lab.create_run(StartRun(scenario=str(STRAIT), turns=1))
    assert wal.exists()
    outcome = anyio.run(lab.play_run, played.run_id)
    assert outcome.status == "completed"
    assert not wal.exists()  # closed with the run
    never = lab.create_run(StartRun(scenario=str(STRAIT), turns=1))
    assert wal.exists()
    lab.close()
    assert not wal.exists()  # a run created and never played: closed with the Lab
    assert lab.run(never.run_id).summary.status == "interrupted"
