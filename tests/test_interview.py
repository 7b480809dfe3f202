"""``scenario-lab interview``: an actor asked with exactly its memory at a turn, against
the real loopback fake LLM; thrown away unless kept, and kept like any other call."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_helpers import HUMAN3, LLM3, cli, last_line, llm_env, one_line_error
from tests.fakellm import FakeLLMServer

ANSWER = "I held back because the regulator had not shown its hand yet."


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def played(tmp_path: Path, fake: FakeLLMServer) -> tuple[Path, str]:
    db = tmp_path / "log.db"
    result = cli("run", LLM3, "--db", db, "--seed", "3", env=llm_env(fake.base_url))
    assert result.exit_code == 0, result.output
    return db, last_line(result.stdout)


def _counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("runs", "events", "blobs")
        )


def _decision_prompt(db: Path, run_id: str, turn: int, actor: str) -> list[dict[str, str]]:
    with sqlite3.connect(db) as conn:
        payload = conn.execute(
            "SELECT CAST(payload AS TEXT) FROM events WHERE run_id = ? AND turn = ? "
            "AND type = 'DecisionRequested' AND actor = ?",
            (run_id, turn, actor),
        ).fetchone()[0]
        blob = conn.execute(
            "SELECT data FROM blobs WHERE sha256 = ?", (json.loads(payload)["prompt_hash"],)
        ).fetchone()[0]
    return json.loads(blob)["messages"]  # type: ignore[no-any-return]


def _without_task(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    system, user = messages
    return [system, {**user, "content": user["content"].split("## Your task")[0]}]


def _ask(db: Path, fake: FakeLLMServer, *args: str) -> object:
    return cli("interview", *args, "--db", db, env=llm_env(fake.base_url))


def test_the_actor_is_asked_with_exactly_its_memory_and_nothing_is_kept(
    played: tuple[Path, str], fake: FakeLLMServer
) -> None:
    db, run_id = played
    before = _counts(db)
    fake.script(ANSWER)
    result = _ask(
        db, fake, run_id, "Why did you act as you did?", "--actor", "regulator", "--at-turn", "1"
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert result.stdout.strip() == ANSWER  # type: ignore[attr-defined]
    assert f"asked regulator of {run_id} after turn 1" in result.stderr  # type: ignore[attr-defined]
    sent = fake.requests[-1]["json"]
    # the context the engine built for the regulator's decision in turn 2, word for word
    assert _without_task(sent["messages"]) == _without_task(
        _decision_prompt(db, run_id, 2, "regulator")
    )
    task = sent["messages"][1]["content"].split("## Your task")[1]
    assert "Why did you act as you did?" in task and "response_format" not in sent
    assert "## Your recent decisions\n- turn 1:" in sent["messages"][1]["content"]
    assert _counts(db) == before  # thrown away: nothing written


def test_json_output(played: tuple[Path, str], fake: FakeLLMServer) -> None:
    db, run_id = played
    fake.script(ANSWER)
    result = _ask(db, fake, run_id[:6], "What next?", "--actor", "ngo", "--at-turn", "3", "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["answer"] == ANSWER and data["run_id"] == run_id and data["actor"] == "ngo"
    assert data["at_turn"] == 3 and data["branch_run_id"] is None
    assert data["model"] == "test/actor" and data["input_tokens"] > 0
    # after the last turn the prompt speaks of the turn a continuation would play
    assert "Turn 4 of 4" in fake.requests[-1]["json"]["messages"][1]["content"]


def test_keep_records_the_branch_with_the_call(
    played: tuple[Path, str], fake: FakeLLMServer
) -> None:
    db, run_id = played
    fake.script(ANSWER)
    result = _ask(
        db, fake, run_id, "Why?", "--actor", "techco", "--at-turn", "2", "--keep", "--json"
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    branch = data["branch_run_id"]
    runs = {r["run_id"]: r for r in json.loads(cli("runs", "--db", db, "--json").stdout)}
    assert runs[branch]["parent_run_id"] == run_id and runs[branch]["fork_turn"] == 2
    assert runs[branch]["status"] == "halted" and "interview" in runs[branch]["tags"]
    log = cli("log", branch, "--db", db, "--turn", "3").stdout
    assert "CostIncurred" in log and "interview test/actor" in log and "ActorInterviewed" in log
    with sqlite3.connect(db) as conn:
        blobs = {
            r[0]: r[1]
            for r in conn.execute(
                "SELECT sha256, data FROM blobs WHERE sha256 IN (?, ?)",
                (data["prompt_hash"], data["response_hash"]),
            )
        }
    assert blobs[data["response_hash"]].decode() == ANSWER and len(blobs) == 2
    rows = json.loads(
        cli(
            "sql", "SELECT run_id, purpose, actor FROM costs", "--db", db, "--format", "json"
        ).stdout
    )
    assert {"run_id": branch, "purpose": "interview", "actor": "techco"} in rows
    audit_lines = cli("audit", branch, "--db", db, "--json", "--turn", "3").stdout.splitlines()
    audit = [json.loads(line) for line in audit_lines]
    asked = [e for e in audit if e["purpose"] == "interview"]
    assert len(asked) == 1 and asked[0]["outcome"] == "answered"
    assert asked[0]["calls"][0]["raw_response"] == ANSWER
    assert "Why?" in asked[0]["prompt"]["messages"][1]["content"]
    # the kept branch replays offline and plays on: the interview is no part of its memory
    check = cli("replay", branch, "--db", db, "--check")
    assert check.exit_code == 0 and "consistent" in check.stdout, check.output
    resumed = cli("resume", branch, "--db", db, env=llm_env(fake.base_url))
    assert resumed.exit_code == 0, resumed.output
    state = json.loads(cli("replay", branch, "--db", db, "--json").stdout)
    assert state["status"] == "completed" and state["last_completed_turn"] == 3
    assert cli("replay", branch, "--db", db, "--check").exit_code == 0


@pytest.mark.parametrize(
    ("actor", "control"), [("govt", "rules"), ("player", "human"), ("rebels", "scripted")]
)
def test_actors_without_a_model_are_refused_in_one_line(
    tmp_path: Path, fake: FakeLLMServer, actor: str, control: str
) -> None:
    db = tmp_path / "log.db"
    run_id = last_line(cli("run", HUMAN3, "--db", db, "--turns", "1").stdout)
    before = fake.request_count
    result = _ask(db, fake, run_id, "Why?", "--actor", actor, "--at-turn", "0")
    one_line_error(result, 2, f"--actor {actor} is {control}-driven at turn 0")
    assert fake.request_count == before


def test_bad_requests_are_refused_before_any_call(
    played: tuple[Path, str], fake: FakeLLMServer
) -> None:
    db, run_id = played
    before, calls = _counts(db), fake.request_count
    one_line_error(
        _ask(db, fake, run_id, "Why?", "--actor", "nobody", "--at-turn", "1"),
        2,
        "no actor 'nobody'",
    )
    one_line_error(
        _ask(db, fake, run_id, "Why?", "--actor", "ngo", "--at-turn", "9"),
        2,
        "has not completed turn 9",
    )
    one_line_error(
        _ask(db, fake, run_id, "  ", "--actor", "ngo", "--at-turn", "1"), 2, "QUESTION must be 1 to"
    )
    one_line_error(
        _ask(db, fake, "zzzz", "Why?", "--actor", "ngo", "--at-turn", "1"), 2, "no run 'zzzz'"
    )
    assert _counts(db) == before and fake.request_count == calls


def test_a_model_that_does_not_answer_is_one_line_and_nothing_is_kept(
    played: tuple[Path, str], fake: FakeLLMServer
) -> None:
    db, run_id = played
    before = _counts(db)
    fake.fail_next(20, "400")
    result = _ask(db, fake, run_id, "Why?", "--actor", "ngo", "--at-turn", "1", "--keep")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert _counts(db) == before


def test_the_notebook_facade_interviews_inside_a_running_loop(
    played: tuple[Path, str], fake: FakeLLMServer
) -> None:
    import asyncio

    import scenario_lab

    db_path, run_id = played
    fake.script(ANSWER)
    db = scenario_lab.open(db_path, llm_base_url=fake.base_url, api_key="sk-test")

    async def in_a_notebook() -> object:
        return db.interview(run_id, "regulator", 2, "Why?", keep=True)

    answer = asyncio.run(in_a_notebook())
    assert answer.answer == ANSWER and answer.branch_run_id is not None  # type: ignore[attr-defined]
    assert list(db.runs(tag="interview").run_id) == [answer.branch_run_id]  # type: ignore[attr-defined]
