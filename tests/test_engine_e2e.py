"""The engine end to end: real CLI, real SQLite log, real loopback LLM server."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from engine.audit.check import check_run
from engine.llm import PriceTable
from engine.play.player import RunPlayer
from engine.play.session import prepare_resume, start_run
from engine.replay import replay
from engine.scenario.load import load_scenario
from eventstore import DecisionFailed, DecisionMade, EventStore
from tests.engine_helpers import (
    LLM3,
    RULES3,
    SECRET_KEY,
    cli,
    last_line,
    llm_env,
    payloads,
    runs_json,
    types_by_turn,
)
from tests.fakellm import FakeLLMServer

# the tests that take ``db`` run on SQLite and on PostgreSQL (tests/conftest.py)
pytestmark = pytest.mark.backends


@pytest.fixture
def fake() -> FakeLLMServer:
    with FakeLLMServer() as server:
        yield server


def test_rule_run_with_a_seed_gives_the_same_log_twice(tmp_path: Path) -> None:
    logs = []
    for name in ("a.db", "b.db"):
        result = cli("run", RULES3, "--db", tmp_path / name, "--seed", "11")
        assert result.exit_code == 0, result.output
        logs.append(payloads(tmp_path / name, last_line(result.stdout)))
    assert logs[0] == logs[1]
    other = cli("run", RULES3, "--db", tmp_path / "c.db", "--seed", "12")
    assert payloads(tmp_path / "c.db", last_line(other.stdout)) != logs[0]


def test_rule_run_completes_every_turn_offline(db: Path | str) -> None:
    run_id = last_line(cli("run", RULES3, "--db", db, "--seed", "1").stdout)
    by_turn = types_by_turn(db, run_id)
    assert set(by_turn) == {0, 1, 2, 3, 4}
    for turn in (1, 2, 3, 4):
        types = by_turn[turn]
        assert types[0] == "TurnStarted" and "TurnCompleted" in types
        assert types.count("DecisionMade") == 3
        assert types.count("WorldUpdated") == 1
        assert types.count("MetricRecorded") == 2  # one per rule variable
    assert by_turn[2].count("ExogenousEventTriggered") >= 1  # the scheduled flood
    [summary] = runs_json(db)
    assert summary["status"] == "completed"
    assert summary["turns_completed"] == 4


def test_llm_run_of_three_actors(db: Path | str, fake: FakeLLMServer) -> None:
    result = cli("run", LLM3, "--db", db, "--seed", "3", env=llm_env(fake.base_url))
    assert result.exit_code == 0, result.output
    run_id = last_line(result.stdout)
    by_turn = types_by_turn(db, run_id)
    for turn in (1, 2, 3):
        assert by_turn[turn].count("DecisionRequested") == 3
        assert by_turn[turn].count("DecisionMade") == 3
        assert by_turn[turn].count("WorldUpdated") == 1
        # 3 decisions + world update + one llm metric: a cost event for every call
        assert by_turn[turn].count("CostIncurred") == 5
        assert by_turn[turn].count("MetricRecorded") == 3
    assert fake.request_count == 15
    # the request sends temperature, seed and the JSON schema; the log records them
    decision_requests = [
        r["json"]
        for r in fake.requests
        if "decision" in json.dumps(r["json"].get("response_format", {}))
    ]
    assert decision_requests and all("seed" in r and "temperature" in r for r in decision_requests)
    rows = payloads(db, run_id)
    made = [p for _t, ty, p in rows if ty == "DecisionMade"]
    assert all(p["parse_method"] == "json_schema" and p["call"]["seed"] is not None for p in made)


def test_the_key_is_never_written(tmp_path: Path, fake: FakeLLMServer) -> None:
    db = tmp_path / "log.db"
    cli("run", LLM3, "--db", db, env=llm_env(fake.base_url))
    raw = (
        db.read_bytes() + (tmp_path / "log.db-wal").read_bytes()
        if (tmp_path / "log.db-wal").exists()
        else db.read_bytes()
    )
    assert SECRET_KEY.encode() not in raw


def test_replay_equals_the_state_the_engine_held(db: Path | str, fake: FakeLLMServer) -> None:
    loaded = load_scenario(LLM3)
    from engine.llm import LLMSettings, Router

    async def play() -> object:
        async with Router(LLMSettings.from_env(llm_env(fake.base_url))) as router:
            with EventStore.open(db) as store:
                run_id = start_run(store, loaded, seed=5)
                player = RunPlayer(store, run_id, client=router, prices=PriceTable.load())
                live = await player.play()
                return run_id, live

    run_id, live = anyio.run(play)
    with EventStore.open(db) as store:
        assert replay(store, run_id) == live
        assert replay(store, run_id, use_snapshots=False) == live


def test_no_prompt_leaks_private_information(db: Path | str, fake: FakeLLMServer) -> None:
    cli("run", LLM3, "--db", db, env=llm_env(fake.base_url))
    actors = ("techco", "regulator", "ngo")
    decisions = [
        r["json"]
        for r in fake.requests
        if r["json"].get("response_format", {}).get("json_schema", {}).get("name") == "decision"
    ]
    assert len(decisions) == 9
    for body in decisions:
        text = json.dumps(body["messages"])
        own = [a for a in actors if f"SECRET-{a}-PRIVATE" in text]
        assert len(own) == 1, "an actor sees its own private information and no one else's"
        me = own[0]
        assert "Shape the regime in favour of " + me in text  # its goals are sent
        assert "Stay within the law" in text  # constraints
        assert "Careful" in text  # decision style
        assert "Semiconductor exports rose 12%" in text  # background documents


def test_no_actor_sees_a_same_turn_decision(db: Path | str, fake: FakeLLMServer) -> None:
    fake.responder = lambda req: None  # fall through to schema replies
    counter = {"n": 0}

    def decide(request: dict) -> str | None:
        fmt = request.get("response_format", {}).get("json_schema", {}).get("name")
        if fmt != "decision":
            return None
        counter["n"] += 1
        return json.dumps(
            {
                "long_term_goals": ["g"],
                "short_term_priorities": ["p"],
                "reasoning": "r",
                "action": f"UNIQUE-ACTION-{counter['n']}",
                "action_name": None,
            }
        )

    fake.responder = decide
    cli("run", LLM3, "--db", db, "--turns", "2", env=llm_env(fake.base_url))
    decisions = [
        r["json"]
        for r in fake.requests
        if r["json"].get("response_format", {}).get("json_schema", {}).get("name") == "decision"
    ]
    # the three turn-1 answers are UNIQUE-ACTION-1..3; no turn-1 prompt may contain any
    for body in decisions[:3]:
        assert "UNIQUE-ACTION" not in json.dumps(body["messages"])


def test_credit_limit_halts_before_crossing_and_resume_raises_it(
    db: Path | str, fake: FakeLLMServer
) -> None:
    env = llm_env(fake.base_url)
    models = [
        "--model",
        "techco=openai/gpt-4o",
        "--model",
        "regulator=openai/gpt-4o",
        "--model",
        "ngo=openai/gpt-4o",
    ]
    # the adjudicator's test model has no known price: a limit needs one given
    free_world = ["--price", "test/world=0,0"]
    result = cli("run", LLM3, "--db", db, "--credit-limit", "0.004", *models, *free_world, env=env)
    assert result.exit_code == 3, result.output  # halted: exit 3
    run_id = last_line(result.stdout)
    [summary] = runs_json(db)
    assert summary["status"] == "halted" and summary["halt_reason"] == "credit_limit"
    assert summary["total_cost_usd"] <= 0.004
    again = cli("resume", run_id, "--db", db, *free_world, env=env)
    assert again.exit_code == 2 and "credit limit" in again.stderr
    done = cli("resume", run_id, "--db", db, "--credit-limit", "5", *free_world, env=env)
    assert done.exit_code == 0, done.output
    [summary] = runs_json(db)
    assert summary["status"] == "completed" and summary["turns_completed"] == 3
    assert cli("verify", run_id, "--db", db).exit_code == 0
    # halted mid-round by the limit, resumed with a higher one: checked as played
    check = cli("replay", run_id, "--db", db, "--check")
    assert check.exit_code == 0, check.output


def test_missing_credentials_fail_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENROUTER_API_KEY", "SCENARIO_LAB_LLM_BASE_URL", "SCENARIO_LAB_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    db = tmp_path / "log.db"
    result = cli("run", LLM3, "--db", db)
    assert result.exit_code == 2
    assert "OPENROUTER_API_KEY" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_fork_plays_a_counterfactual_from_the_next_turn(db: Path | str) -> None:
    parent = last_line(cli("run", RULES3, "--db", db, "--seed", "4").stdout)
    result = cli(
        "fork",
        parent,
        "--db",
        db,
        "--at-turn",
        "2",
        "--decision",
        "north=North withdraws all troops.",
        "--inject",
        "A ceasefire is announced.",
        "--play",
    )
    assert result.exit_code == 0, result.output
    branch = last_line(result.stdout)
    mine, theirs = payloads(db, branch), payloads(db, parent)
    shared = [row for row in theirs if row[0] <= 2]
    assert mine[: len(shared)] == shared  # turns 0..2 are the parent's, untouched
    first = [row for row in mine if row[0] == 3]
    assert first[0][1] == "RunForked"
    forced = [p for _t, ty, p in first if ty == "DecisionMade" and p["actor"] == "north"]
    assert (
        forced[0]["action"] == "North withdraws all troops."
        and forced[0]["brain"] == "counterfactual"
    )
    assert any(ty == "ExogenousEventTriggered" and p["kind"] == "injected" for _t, ty, p in first)
    later = [p for t, ty, p in mine if t == 4 and ty == "DecisionMade" and p["actor"] == "north"]
    assert later[0]["brain"] == "rules"  # the forced decision is for turn N+1 only
    assert cli("verify", branch, "--db", db).exit_code == 0


def test_a_forced_declared_action_applies_its_effects(db: Path | str) -> None:
    # the same seed, so drift and noise are equal: the branches differ by the effects
    parent = last_line(cli("run", RULES3, "--db", db, "--seed", "4", "--turns", "2").stdout)
    trade = {}
    for name in ("open_crossing", "patrol"):
        result = cli(
            "fork", parent, "--db", db, "--at-turn", "1", "--decision", f"north={name}", "--play"
        )
        assert result.exit_code == 0, result.output
        rows = payloads(db, last_line(result.stdout))
        [forced] = [
            p for t, ty, p in rows if t == 2 and ty == "DecisionMade" and p["actor"] == "north"
        ]
        assert forced["action_name"] == name and forced["brain"] == "counterfactual"
        [world] = [p for t, ty, p in rows if t == 2 and ty == "WorldUpdated"]
        trade[name] = world["variables"]["trade"]
    assert trade["open_crossing"] - trade["patrol"] == 5.0  # open_crossing: trade +5


def test_fork_errors_are_one_line(db: Path | str) -> None:
    parent = last_line(cli("run", RULES3, "--db", db, "--turns", "2").stdout)
    unfinished = cli("fork", parent, "--db", db, "--at-turn", "7")
    assert unfinished.exit_code == 2 and "has not completed turn 7" in unfinished.stderr
    unknown_actor = cli("fork", parent, "--db", db, "--at-turn", "1", "--decision", "nobody=x")
    assert unknown_actor.exit_code == 2 and "nobody" in unknown_actor.stderr
    unknown_run = cli("fork", "zzzz", "--db", db, "--at-turn", "1")
    assert unknown_run.exit_code == 2 and "no run 'zzzz'" in unknown_run.stderr


def test_replay_check_is_consistent_for_a_recorded_run(db: Path | str, fake: FakeLLMServer) -> None:
    run_id = last_line(cli("run", LLM3, "--db", db, env=llm_env(fake.base_url)).stdout)
    before = fake.request_count
    result = cli("replay", run_id, "--db", db, "--check")
    assert result.exit_code == 0, result.output
    assert "consistent" in result.stdout
    assert fake.request_count == before  # no network: recorded responses only


def test_estimate_counts_calls_by_model(tmp_path: Path) -> None:
    result = cli("estimate", LLM3, "--json")
    assert result.exit_code == 0, result.output
    est = json.loads(result.stdout)
    by = {row["model"]: row for row in est["by_model"]}
    assert by["test/actor"]["calls"] == 9  # 3 actors x 3 turns
    assert by["test/world"]["calls"] == 6  # world update + one llm metric, per turn


def test_audit_shows_prompt_answer_parse_and_every_attempt(
    db: Path | str, fake: FakeLLMServer
) -> None:
    fake.fail_next(1, "429")
    run_id = last_line(
        cli("run", LLM3, "--db", db, "--turns", "1", env=llm_env(fake.base_url)).stdout
    )
    result = cli("audit", run_id, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["actor"] for e in entries} == {"techco", "regulator", "ngo"}
    for e in entries:
        assert e["outcome"] == "decided" and e["model"] == "test/actor" and e["seed"] is not None
        assert "SECRET-" + e["actor"] + "-PRIVATE" in json.dumps(e["prompt"])
        [call] = e["calls"]
        assert call["raw_response"] and call["parse_method"] == "json_schema"
        assert call["input_tokens"] > 0 and e["decision"]["action"]
    outcomes = [a["outcome"] for e in entries for a in e["calls"][0]["attempts"]]
    assert outcomes.count("http_429") == 1 and outcomes.count("ok") == 3
    text = cli("audit", run_id, "--db", db, "--actor", "ngo").stdout
    assert "## turn 1 · ngo" in text and "### decision" in text


def test_a_price_file_prices_every_call(
    db: Path | str, tmp_path: Path, fake: FakeLLMServer
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps(
            {
                "test/actor": {"input": 1000.0, "output": 0.0},
                "test/world": {"input": 0.0, "output": 0.0},
            }
        )
    )
    result = cli(
        "run", LLM3, "--db", db, "--turns", "1", "--prices", prices, env=llm_env(fake.base_url)
    )
    assert result.exit_code == 0, result.output
    costs = [p for _t, ty, p in payloads(db, last_line(result.stdout)) if ty == "CostIncurred"]
    decisions = [c for c in costs if c["purpose"] == "decision"]
    assert decisions and all(
        c["cost_usd"] == c["input_tokens"] * 1000.0 / 1_000_000 for c in decisions
    )
    bad = cli(
        "run", LLM3, "--db", db, "--prices", tmp_path / "missing.json", env=llm_env(fake.base_url)
    )
    assert bad.exit_code == 2 and "cannot read price file" in bad.stderr
    assert len(runs_json(db)) == 1  # nothing recorded for the refused run


def test_an_action_name_is_recorded_only_when_actions_were_offered(
    db: Path | str, fake: FakeLLMServer
) -> None:
    # schema-shaped replies fill every field, action_name included, though llm3 declares
    # no actions: a model's invented name must not read as a declared action
    cli("run", LLM3, "--db", db, "--turns", "1", env=llm_env(fake.base_url))
    with EventStore.open(db) as store:
        (run,) = [r.run_id for r in store.list_runs()]
        made = [e for e in store.read_events(run) if isinstance(e, DecisionMade)]
    assert len(made) == 3 and all(e.action for e in made)
    assert [e.action_name for e in made] == [None, None, None]


def test_a_decision_no_model_answered_halts_the_run_and_resume_asks_again(
    db: Path | str, fake: FakeLLMServer
) -> None:
    from dataclasses import replace as with_fields

    from engine.llm import LLMSettings, Router

    loaded = load_scenario(LLM3)
    settings = with_fields(LLMSettings.from_env(llm_env(fake.base_url)), max_retries=0)

    async def play(run_id: str | None) -> tuple[str, object]:
        async with Router(settings) as router:
            with EventStore.open(db) as store:
                if run_id is None:
                    run_id = start_run(store, loaded, seed=5)
                else:
                    prepare_resume(store, run_id)
                player = RunPlayer(store, run_id, client=router, prices=PriceTable.load())
                return run_id, await player.play()

    fake.fail_next(3, "500")  # every turn-1 decision finds the server down
    run_id, halted = anyio.run(play, None)
    assert (halted.status, halted.halt_reason) == ("halted", "llm_unavailable")
    assert "no model answered for" in halted.halt_detail and "turn 1" in halted.halt_detail
    assert not halted.turn_progress.decisions and not halted.turn_progress.world_updated
    _id, done = anyio.run(play, run_id)  # the server answers again
    assert done.status == "completed"
    with EventStore.open(db) as store:
        events = store.read_events(run_id)
    failed = [e for e in events if isinstance(e, DecisionFailed)]
    made = [(e.turn, e.actor) for e in events if isinstance(e, DecisionMade)]
    assert {(e.turn, e.error_kind) for e in failed} == {(1, "llm_unavailable")}
    # each turn-1 decision was asked again and made, once
    assert sorted(a for t, a in made if t == 1) == ["ngo", "regulator", "techco"]
    # the outage is re-created from the log (the failures it recorded), then the resume
    with EventStore.open(db) as store:
        assert check_run(store, run_id) == len(events)
