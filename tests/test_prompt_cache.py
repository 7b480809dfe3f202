"""Prompts open with what stays the same, so a provider's prefix cache serves it.

A run of the bundled LLM scenario (``ai-summit``) through the real CLI against the
loopback fake, which emulates a provider's prompt cache: each actor's prompts share
their system message and the opening of their user message in every turn; the cache
reports hits from turn 2; the log, the analytics tables, the report and ``replay``
show the cached tokens and a saving computed at the shipped cache price.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.play.prompts import actor_system_prompt, decision_prefix
from engine.scenario.load import load_scenario
from eventstore import CostIncurred, EventStore
from tests.engine_helpers import cli, last_line, llm_env
from tests.fakellm import FakeLLMServer, PrefixCache, cacheable_tokens

SUMMIT = Path(__file__).resolve().parent.parent / "scenarios" / "ai-summit"
# ai-summit's prompts are shorter than OpenAI's 1,024-token minimum: the fake caches
# from 256 tokens up (as providers with smaller minimums do), in OpenAI's 128-token blocks
MINIMUM, BLOCK = 256, 128
IN, OUT, CACHED = 0.15, 0.6, 0.075  # openai/gpt-4o-mini in the shipped prices.json
TURNS = 3


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One run of ai-summit with the fake's prefix cache on: (log, run id)."""
    db = tmp_path_factory.mktemp("cache") / "log.db"
    cache = PrefixCache(minimum=MINIMUM, block=BLOCK)
    with FakeLLMServer(prefix_cache=cache) as fake:
        env = llm_env(fake.base_url)
        result = cli("run", SUMMIT, "--db", db, "--turns", str(TURNS), "--seed", "5", env=env)
        assert result.exit_code == 0, result.output
        yield db, last_line(result.stdout)


def _calls(db: Path, run_id: str) -> list[tuple[CostIncurred, list[dict[str, str]]]]:
    """Each answered call's cost and the messages it sent, in log order."""
    with EventStore.open(db) as store:
        out = []
        for e in store.read_events(run_id):
            if isinstance(e, CostIncurred):
                assert e.prompt_hash is not None
                out.append((e, json.loads(store.get_blob(e.prompt_hash))["messages"]))
        return out


def test_each_actors_prompts_open_the_same_in_every_turn(played: tuple[Path, str]) -> None:
    db, run_id = played
    scenario = load_scenario(SUMMIT).scenario
    by_actor: dict[str, list[tuple[int, list[dict[str, str]]]]] = {}
    for cost, messages in _calls(db, run_id):
        if cost.purpose in ("decision", "communication") and cost.actor is not None:
            by_actor.setdefault(cost.actor, []).append((cost.turn, messages))
    assert sorted(by_actor) == sorted(scenario.actors)
    for actor_id, prompts in by_actor.items():
        actor = scenario.actors[actor_id]
        assert {turn for turn, _ in prompts} == set(range(1, TURNS + 1)), actor_id
        system = actor_system_prompt(scenario, actor)
        opening = decision_prefix(scenario, actor)
        for _turn, messages in prompts:
            assert [m["role"] for m in messages] == ["system", "user"]
            assert messages[0]["content"] == system
            assert messages[1]["content"].startswith(opening)
        # what every prompt of the actor shares is the briefing and no less
        users = [m[1]["content"] for _t, m in prompts]
        shared = len(_common_prefix(users))
        assert shared >= len(opening)
        total = sum(len(u) for u in users) / len(users)
        assert shared / total > 0.5, (actor_id, shared, total)


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def test_the_cache_serves_each_decision_from_turn_2_and_the_saving_is_right(
    played: tuple[Path, str],
) -> None:
    db, run_id = played
    scenario = load_scenario(SUMMIT).scenario
    decisions = 0
    for cost, messages in _calls(db, run_id):
        assert cost.cached_prompt_tokens is not None  # the fake reports it on every call
        assert 0 <= cost.cached_prompt_tokens <= cost.input_tokens
        assert cost.cached_prompt_tokens % BLOCK == 0
        uncached = cost.input_tokens - cost.cached_prompt_tokens
        assert cost.cost_usd == pytest.approx(
            (uncached * IN + cost.cached_prompt_tokens * CACHED + cost.output_tokens * OUT) / 1e6
        )
        assert cost.cache_saving_usd == pytest.approx(
            cost.cached_prompt_tokens * (IN - CACHED) / 1e6
        )
        if cost.purpose != "decision" or cost.turn < 2:
            continue
        decisions += 1
        # the fake keys its cache on the request's messages as JSON: the opening shared
        # with the actor's prompts of the turn before is served at least
        assert cost.actor is not None
        actor = scenario.actors[cost.actor]
        stable = [
            {"role": "system", "content": messages[0]["content"]},
            {"role": "user", "content": decision_prefix(scenario, actor)},
        ]
        stable_chars = len(json.dumps(stable)) - len('"}]')
        floor = cacheable_tokens(stable_chars // 4, minimum=MINIMUM, block=BLOCK)
        assert floor > 0
        assert cost.cached_prompt_tokens >= floor, (cost.actor, cost.turn)
    assert decisions == len(scenario.actors) * (TURNS - 1)


def test_tables_report_and_replay_show_the_cached_tokens_and_saving(
    played: tuple[Path, str],
) -> None:
    db, run_id = played
    costs = [c for c, _m in _calls(db, run_id)]
    cached = sum(c.cached_prompt_tokens or 0 for c in costs)
    saving = sum(c.cache_saving_usd or 0.0 for c in costs)
    assert cached > 0
    query = (
        "SELECT sum(cached_prompt_tokens) AS cached, sum(cache_saving_usd) AS saved "
        f"FROM costs WHERE run_id = '{run_id}'"
    )
    out = cli("sql", query, "--db", db, "--format", "json")
    assert out.exit_code == 0, out.output
    row = json.loads(out.stdout)[0]
    assert row["cached"] == cached and row["saved"] == pytest.approx(saving)
    view = cli(
        "sql",
        f"SELECT cached_prompt_tokens FROM cost_by_run WHERE run_id = '{run_id}'",
        "--db",
        db,
        "--format",
        "json",
    )
    assert json.loads(view.stdout)[0]["cached_prompt_tokens"] == cached

    report = cli("report", run_id, "--db", db)
    assert report.exit_code == 0, report.output
    assert f"{cached:,} input tokens cached, saving $" in report.stdout
    assert "| actor | calls | input tokens | cached | output tokens | cost | saved |" in (
        report.stdout
    )
    replay = cli("replay", run_id, "--db", db)
    assert replay.exit_code == 0, replay.output
    assert f"{cached} input tokens cached (saving ${saving:.4f})" in replay.stdout


def test_replay_check_serves_the_recorded_cache_figures(played: tuple[Path, str]) -> None:
    db, run_id = played
    check = cli("replay", run_id, "--db", db, "--check")
    assert check.exit_code == 0, check.output


def test_a_provider_that_reports_no_cache_leaves_it_unknown(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        result = cli("run", SUMMIT, "--db", db, "--turns", "1", env=llm_env(fake.base_url))
    assert result.exit_code == 0, result.output
    run_id = last_line(result.stdout)
    costs: list[Any] = [c for c, _m in _calls(db, run_id)]
    assert costs and all(c.cached_prompt_tokens is None for c in costs)
    assert all(c.cache_saving_usd is None for c in costs)
    report = cli("report", run_id, "--db", db)
    assert "cached" not in report.stdout  # no column of unknowns


@pytest.mark.parametrize(
    ("purpose", "instructions"),
    [
        ("world_update", "## Your task\nYou are the neutral adjudicator."),
        ("metric", "Answer with one JSON object: value"),
        ("validation", "Answer with one JSON object: passed"),
    ],
)
def test_a_judges_instructions_are_in_the_opening_it_shares_across_turns(
    played: tuple[Path, str], purpose: str, instructions: str
) -> None:
    db, run_id = played
    by_turn: dict[int, list[str]] = {}
    for cost, messages in _calls(db, run_id):
        if cost.purpose == purpose:
            by_turn.setdefault(cost.turn, []).append(json.dumps(messages))
    assert sorted(by_turn) == list(range(1, TURNS + 1))
    # one prompt per turn and judge: the first of each turn, compared across turns
    shared = _common_prefix([prompts[0] for prompts in by_turn.values()])
    assert json.dumps(instructions)[1:-1] in shared, shared[-200:]
