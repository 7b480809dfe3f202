"""The price table, overrides, unknown models, and OpenRouter's live prices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.llm import ModelPrice, PriceTable, fetch_openrouter_prices
from eventstore import UsageError
from tests.fakellm import FakeLLMServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_shipped_table_covers_common_models() -> None:
    table = PriceTable.load()
    for model in (
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/gpt-4.1",
        "openai/gpt-4.1-mini",
        "anthropic/claude-3.5-sonnet",
        "anthropic/claude-3-haiku",
        "google/gemini-2.0-flash-001",
        "meta-llama/llama-3.1-70b-instruct",
        "mistralai/mistral-large",
        "deepseek/deepseek-chat",
        "qwen/qwen-2.5-72b-instruct",
    ):
        price = table.price(model)
        assert price.known and price.input_per_m > 0 and price.output_per_m > 0, model
    assert table.price("openai/gpt-4o-mini") == ModelPrice(0.15, 0.6, True, 0.075)
    shipped = json.loads((Path(__file__).parents[1] / "engine/llm/prices.json").read_text())
    assert len(shipped["models"]) >= 25


def test_lookup_rules() -> None:
    table = PriceTable.load()
    assert table.price("ollama/llama3.1:8b") == ModelPrice(0.0, 0.0, True)
    assert table.price("meta-llama/llama-3.1-8b-instruct:free") == ModelPrice(0.0, 0.0, True)
    # An OpenRouter variant costs what its base model does.
    assert table.price("openai/gpt-4o:nitro") == table.price("openai/gpt-4o")
    # A bare name (explicit endpoint) finds its one provider-prefixed entry.
    assert table.price("gpt-4o-mini") == table.price("openai/gpt-4o-mini")
    assert table.price("made-up/model") == ModelPrice(0.0, 0.0, False)
    assert table.cost("made-up/model", 10_000, 10_000) is None  # unknown, never free


def test_cost_is_per_million_tokens() -> None:
    table = PriceTable.load()
    assert table.cost("openai/gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("openai/gpt-4o-mini", 2_000, 1_000) == pytest.approx(
        (2_000 * 0.15 + 1_000 * 0.6) / 1e6
    )


def test_override_merges_over_shipped(tmp_path: Path) -> None:
    override = tmp_path / "prices.json"
    override.write_text(
        json.dumps(
            {
                "openai/gpt-4o-mini": {"input": 1, "output": 2},
                "my/finetune": {"input": 3, "output": 4},
                "my/*": {"input": 9, "output": 9},
            }
        )
    )
    table = PriceTable.load(override)
    assert table.price("openai/gpt-4o-mini") == ModelPrice(1.0, 2.0, True)
    assert table.price("my/finetune") == ModelPrice(3.0, 4.0, True)
    assert table.price("my/other") == ModelPrice(9.0, 9.0, True)
    assert table.price("openai/gpt-4o") == PriceTable.load().price("openai/gpt-4o")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"models": {"x/y": {"input": 5, "output": 6}}}))
    assert PriceTable.load(wrapped).price("x/y") == ModelPrice(5.0, 6.0, True)


@pytest.mark.parametrize(
    "content",
    ["not json", "[1, 2]", '{"a/b": {"input": 1}}', '{"a/b": {"input": "x", "output": 1}}'],
)
def test_bad_override_is_a_usage_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        PriceTable.load(path)
    assert str(path) in info.value.message


def test_missing_override_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        PriceTable.load(tmp_path / "nope.json")


@pytest.mark.anyio
async def test_fetch_openrouter_prices_from_the_fake() -> None:
    models: list[dict[str, Any]] = [
        {"id": "openai/gpt-4o-mini", "pricing": {"prompt": "0.00000015", "completion": "6e-7"}},
        {"id": "fake/new", "pricing": {"prompt": "0.000001", "completion": "0.000002"}},
        {"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}},
        {"id": "no/pricing"},
    ]
    with FakeLLMServer(models=models) as srv:
        prices = await fetch_openrouter_prices(srv.base_url, "sk-or-key")
        assert srv.requests[0]["method"] == "GET"
        assert srv.requests[0]["path"] == "/v1/models"
    assert prices == {"openai/gpt-4o-mini": (0.15, 0.6), "fake/new": (1.0, 2.0)}
    table = PriceTable.load().merged(prices)
    assert table.price("fake/new") == ModelPrice(1.0, 2.0, True)
    assert table.price("ollama/x").known


@pytest.mark.parametrize("kind", ["500", "malformed", "truncated", "401", "connection"])
@pytest.mark.anyio
async def test_fetch_openrouter_prices_failure_is_empty(kind: str) -> None:
    with FakeLLMServer() as srv:
        srv.fail_next(1, kind)
        assert await fetch_openrouter_prices(srv.base_url, None) == {}


@pytest.mark.anyio
async def test_fetch_openrouter_prices_gives_up_at_its_timeout() -> None:
    with FakeLLMServer() as srv:
        srv.fail_next(1, "stall")
        assert await fetch_openrouter_prices(srv.base_url, None, timeout_s=0.3) == {}
