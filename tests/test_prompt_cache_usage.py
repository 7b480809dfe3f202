"""Cached prompt tokens: read from the usage, priced, recorded, read back from old logs.

The pieces under the end-to-end test of ``test_prompt_cache``: the usage shapes
providers send, the cost with and without a cache price, ``--price MODEL=IN,OUT,CACHED``
and its one-line errors, OpenRouter's ``input_cache_read``, the CostIncurred upcaster and
the fold, and the fake's emulated cache.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.fold.handlers import apply, replay_events
from engine.llm import ModelPrice, OpenAICompatibleClient, PriceTable, fetch_openrouter_prices
from engine.llm.pricing import read_price_file
from engine.llm.usage import cached_prompt_tokens
from eventstore import CostIncurred, decode, encode
from tests.engine_helpers import LLM3, cli, last_line, llm_env, payloads
from tests.fakellm import FakeLLMServer, PrefixCache, cacheable_tokens, common_prefix_len

MESSAGES = [{"role": "user", "content": "Decide."}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the usage ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "cached"),
    [
        ({"prompt_tokens": 2000, "prompt_tokens_details": {"cached_tokens": 1920}}, 1920),
        ({"prompt_tokens": 2000, "prompt_tokens_details": {"cached_tokens": 0}}, 0),
        ({"prompt_tokens": 2000, "cache_read_input_tokens": 1024}, 1024),  # Anthropic-style
        ({"prompt_tokens": 2000}, None),  # not reported: unknown, not 0
        ({"prompt_tokens": 2000, "prompt_tokens_details": None}, None),
        ({"prompt_tokens": 2000, "prompt_tokens_details": {"audio_tokens": 0}}, None),
        ({"prompt_tokens_details": {"cached_tokens": -5}}, None),
        ({"prompt_tokens_details": {"cached_tokens": "12"}}, None),
        ({"prompt_tokens_details": {"cached_tokens": True}}, None),
        ({"cache_read_input_tokens": 1.5}, None),
    ],
)
def test_cached_tokens_are_read_from_the_usage_shapes_providers_send(
    usage: dict[str, Any], cached: int | None
) -> None:
    assert cached_prompt_tokens(usage) == cached


@pytest.fixture
async def client(srv: FakeLLMServer) -> AsyncIterator[OpenAICompatibleClient]:
    async with OpenAICompatibleClient(srv.base_url, "sk-test", timeout_s=5) as c:
        yield c


@pytest.fixture
def srv() -> Any:
    with FakeLLMServer() as server:
        yield server


@pytest.mark.anyio
async def test_the_client_passes_the_cached_count_on(
    srv: FakeLLMServer, client: OpenAICompatibleClient
) -> None:
    from engine.llm import ChatRequest

    usage = {
        "prompt_tokens": 1500,
        "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 1280},
    }
    srv.script(
        {"content": "ok", "usage": usage}, {"content": "ok"}, {"content": "x", "usage": False}
    )
    request = ChatRequest(model="openai/gpt-4o-mini", messages=MESSAGES)
    cached = await client.complete(request)
    assert (cached.input_tokens, cached.cached_prompt_tokens) == (1500, 1280)
    plain = await client.complete(request)  # the fake's usage without details
    assert plain.cached_prompt_tokens is None
    estimated = await client.complete(request)  # no usage at all: estimated, unknown
    assert estimated.usage_estimated and estimated.cached_prompt_tokens is None


# -- prices ---------------------------------------------------------------------------


def test_cached_tokens_are_billed_at_the_cache_price_and_the_saving_is_the_difference() -> None:
    table = PriceTable({"m/cached": (2.0, 8.0, 0.5), "m/plain": (2.0, 8.0)})
    cost, saving = table.call_cost("m/cached", 1000, 100, 600)
    assert cost == pytest.approx((400 * 2.0 + 600 * 0.5 + 100 * 8.0) / 1e6)
    assert saving == pytest.approx(600 * 1.5 / 1e6)
    # no known cache price: billed as input, no saving claimed
    cost, saving = table.call_cost("m/plain", 1000, 100, 600)
    assert cost == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6) and saving == 0.0
    # not reported: the full price, and the saving unknown
    assert table.call_cost("m/cached", 1000, 100, None) == (
        pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6),
        None,
    )
    # a count above the prompt is not believed past the prompt
    cost, _ = table.call_cost("m/cached", 100, 0, 5000)
    assert cost == pytest.approx(100 * 0.5 / 1e6)
    assert table.call_cost("m/unknown", 1000, 100, 600) == (None, None)
    assert table.cost("m/cached", 1000, 100, 600) == table.call_cost("m/cached", 1000, 100, 600)[0]
    assert table.price("m/cached") == ModelPrice(2.0, 8.0, True, 0.5)


def test_a_price_file_may_give_a_cache_price(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {"a/b": {"input": 1, "output": 2, "cached": 0.25}, "c/d": {"input": 1, "output": 2}}
        )
    )
    assert read_price_file(path) == {"a/b": (1.0, 2.0, 0.25), "c/d": (1.0, 2.0)}
    path.write_text(json.dumps({"a/b": {"input": 1, "output": 2, "cached": "cheap"}}))
    with pytest.raises(Exception, match=r"model 'a/b' needs numeric .*'cached', if given"):
        read_price_file(path)


@pytest.mark.anyio
async def test_openrouter_prices_carry_the_cache_read_price() -> None:
    models: list[dict[str, Any]] = [
        {
            "id": "openai/gpt-4o-mini",
            "pricing": {"prompt": "0.00000015", "completion": "6e-7", "input_cache_read": "7.5e-8"},
        },
        {
            "id": "x/nan",
            "pricing": {"prompt": "1e-6", "completion": "1e-6", "input_cache_read": "nan"},
        },
        {
            "id": "x/none",
            "pricing": {"prompt": "1e-6", "completion": "1e-6", "input_cache_read": None},
        },
    ]
    with FakeLLMServer(models=models) as srv:
        prices = await fetch_openrouter_prices(srv.base_url, "sk-or-key")
    assert prices == {
        "openai/gpt-4o-mini": (0.15, 0.6, 0.075),
        "x/nan": (1.0, 1.0),
        "x/none": (1.0, 1.0),
    }


def test_the_shipped_table_knows_cache_prices_of_caching_providers() -> None:
    table = PriceTable.load()
    for model in ("openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "deepseek/deepseek-chat"):
        p = table.price(model)
        assert p.cached_per_m is not None and 0 <= p.cached_per_m < p.input_per_m, model


def test_price_option_takes_a_cache_price(tmp_path: Path) -> None:
    est = cli(
        "estimate", LLM3, "--json", "--price", "test/actor=1,2,0.5", "--price", "test/world=3,4"
    )
    assert est.exit_code == 0, est.output
    assert json.loads(est.stdout)["cost_usd"] > 0


@pytest.mark.parametrize(
    "value", ["test/actor=1,2,3,4", "test/actor=1,2,x", "test/actor=1,2,-1", "test/actor=1,2,inf"]
)
def test_a_malformed_cache_price_is_one_line(value: str) -> None:
    result = cli("estimate", LLM3, "--price", value)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, lines
    assert "--price takes MODEL=IN,OUT or MODEL=IN,OUT,CACHED" in lines[0]
    assert value in lines[0]


# -- the event and the fold -----------------------------------------------------------


def test_older_costs_read_with_the_cache_unknown() -> None:
    # v3 (and older) never read the cache from the usage: unknown, not "nothing cached"
    v3 = msgspec.json.encode(
        {"type": "CostIncurred", "turn": 1, "model": "m", "purpose": "decision", "cost_usd": 0.2}
    )
    for version in (1, 2, 3):
        old = decode("CostIncurred", version, v3)
        assert isinstance(old, CostIncurred)
        assert old.cached_prompt_tokens is None and old.cache_saving_usd is None
        assert old.cost_usd == 0.2
    now = CostIncurred(
        turn=1, model="m", purpose="decision", cached_prompt_tokens=0, cache_saving_usd=0.0
    )
    assert decode("CostIncurred", CostIncurred.SCHEMA_VERSION, encode(now)) == now
    assert CostIncurred.SCHEMA_VERSION == 4


def test_the_fold_sums_cached_tokens_and_savings_of_the_calls_that_reported_them() -> None:
    from tests.test_fold import started

    start = started()

    def cost(turn: int, cached: int | None, saving: float | None) -> CostIncurred:
        return CostIncurred(
            turn=turn,
            model="m",
            purpose="decision",
            actor="a",
            input_tokens=2000,
            cost_usd=0.001,
            cached_prompt_tokens=cached,
            cache_saving_usd=saving,
        )

    events = [start, cost(1, None, None), cost(1, 1024, 0.0001), cost(2, 1152, 0.0002)]
    state = replay_events(events)
    assert state.costs.cached_prompt_tokens == 1024 + 1152
    assert state.costs.cache_saving_usd == pytest.approx(0.0003)
    assert state.costs.input_tokens == 6000
    # one event at a time folds to the same sums as the stretch fast path
    one_by_one = None
    for e in events:
        one_by_one = apply(one_by_one, e)
    assert one_by_one is not None and one_by_one.costs == state.costs


# -- the fake's cache -----------------------------------------------------------------


def test_the_fakes_cache_counts_the_longest_prefix_seen_in_whole_blocks() -> None:
    assert common_prefix_len("abcdef", "abcxyz") == 3
    assert common_prefix_len("", "abc") == 0 and common_prefix_len("abc", "abc") == 3
    assert cacheable_tokens(1023) == 0 and cacheable_tokens(1024) == 1024
    assert cacheable_tokens(1300) == 1280 and cacheable_tokens(130, minimum=0) == 128
    cache = PrefixCache(minimum=0, block=128)
    stable = "s" * 4 * 600  # 600 tokens
    assert cache.cached_tokens("m", stable + "turn 1") == 0  # nothing seen yet
    assert cache.cached_tokens("m", stable + "turn 2") == 512  # 600 tokens shared
    assert cache.cached_tokens("other", stable + "turn 2") == 0  # per model
    assert cache.cached_tokens("m", "x" + stable) == 0


def test_a_run_records_no_cache_when_the_provider_reports_none(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        done = cli("run", LLM3, "--db", db, "--turns", "1", env=llm_env(fake.base_url))
    assert done.exit_code == 0, done.output
    costs = [p for _t, kind, p in payloads(db, last_line(done.stdout)) if kind == "CostIncurred"]
    assert costs and all(c["cached_prompt_tokens"] is None for c in costs)
