"""``estimate`` counts prompt caching: from turn 2, each actor's stable opening (system
message and briefing) is expected from the provider's cache when its model has a cache
price and the opening is at least 1,024 tokens; the cost without cache hits is shown
beside the cost with them. Through the real CLI on a small scenario written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.play.calls import estimate_tokens
from engine.play.estimate import MIN_CACHED_PREFIX
from engine.play.prompts import actor_system_prompt, decision_prefix
from engine.scenario.load import load_scenario
from tests.engine_helpers import cli

# test/a has a cache price, test/b none; USD per 1M tokens
PRICES = ("--price", "test/a=1,2,0.5", "--price", "test/b=1,2", "--price", "test/world=1,2")


def _scenario(folder: Path, background: str) -> Path:
    (folder / "actors").mkdir(parents=True)
    (folder / "background").mkdir()
    (folder / "scenario.yaml").write_text(
        "name: Cache test\nsystem_prompt: A policy simulation.\n"
        "initial_world_state: Talks open.\nturns: 3\nactors: [a, b]\n"
        "world_state_model: test/world\n"
    )
    for x in "ab":
        (folder / "actors" / f"{x}.yaml").write_text(
            f"name: Actor {x}\nshort_name: {x}\nllm_model: test/{x}\ngoals: [Win]\n"
        )
    (folder / "background" / "history.md").write_text(background)
    return folder


def _estimate(folder: Path) -> dict[str, Any]:
    done = cli("estimate", folder, "--json", *PRICES)
    assert done.exit_code == 0, done.output
    return dict(json.loads(done.stdout))


def _opening_tokens(folder: Path) -> int:
    scenario = load_scenario(folder).scenario
    actor = scenario.actors["a"]
    return estimate_tokens(actor_system_prompt(scenario, actor) + decision_prefix(scenario, actor))


def test_an_actors_opening_is_cached_from_turn_2_where_its_model_has_a_cache_price(
    tmp_path: Path,
) -> None:
    folder = _scenario(tmp_path / "s", "The long history of the dispute. " * 150 + "\n")
    assert _opening_tokens(folder) == 1296
    est = _estimate(folder)
    a, b, world = est["by_model"]
    # a: 3 decisions of 1,368 tokens (+180 context per turn: 4,644 in all), 450 out each;
    # turns 2 and 3 read the 1,296-token opening from the cache at half the input price
    assert (a["model"], a["input_tokens"], a["output_tokens"]) == ("test/a", 4644, 1350)
    assert a["cached_tokens"] == 2 * 1296 == 2592
    assert a["cost_usd"] == 0.006048  # (4644 - 2592) * 1 + 2592 * 0.5 + 1350 * 2, per 1M
    assert a["cost_without_cache_usd"] == 0.007344  # 4644 * 1 + 1350 * 2
    # b's model has no cache price: nothing is claimed; the world update is a judge's call
    assert (b["cached_tokens"], b["cost_usd"], b["cost_without_cache_usd"]) == (
        0,
        0.007344,
        0.007344,
    )
    assert world["cached_tokens"] == 0 and world["cost_usd"] == world["cost_without_cache_usd"]
    assert est["cached_tokens"] == 2592
    assert est["cost_usd"] == 0.019344 and est["cost_without_cache_usd"] == 0.02064
    table = cli("estimate", folder, *PRICES).stdout
    assert (
        "prompt caching: 2592 of the prompt tokens are expected from the providers' caches "
        "(each actor's opening, from turn 2): $0.0193 with these cache hits, $0.0206 without"
    ) in table


def test_an_opening_under_the_minimum_is_not_cached(tmp_path: Path) -> None:
    base = _opening_tokens(_scenario(tmp_path / "probe", "x\n"))
    # each 4 characters of background add one token to the opening
    at = _scenario(tmp_path / "at", "x" * (1 + 4 * (MIN_CACHED_PREFIX - base)) + "\n")
    under = _scenario(tmp_path / "under", "x" * (1 + 4 * (MIN_CACHED_PREFIX - 1 - base)) + "\n")
    assert _opening_tokens(at) == MIN_CACHED_PREFIX == 1024
    assert _opening_tokens(under) == 1023
    assert _estimate(at)["by_model"][0]["cached_tokens"] == 2 * 1024
    est = _estimate(under)
    assert est["by_model"][0]["cached_tokens"] == 0
    assert est["cost_usd"] == est["cost_without_cache_usd"]
    said = cli("estimate", under, *PRICES).stdout
    assert "prompt caching: none expected" in said
