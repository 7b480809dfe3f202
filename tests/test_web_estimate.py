"""The browser's scenario list shows an LLM scenario's estimate with and without the
prompt-cache hits ``estimate`` expects (an actor's long briefing read from the cache
from turn 2), in a real Chromium."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.server_helpers import live, make_world
from tests.web_helpers import ConsoleLog, browser_fixture, off_loop, sign_in

pytestmark = pytest.mark.slow
chromium = browser_fixture()  # one headless Chromium for the module

MODEL = "openai/gpt-4o-mini"  # the shipped table has its cache price


def _briefed_scenario(folder: Path) -> None:
    """Two AI actors whose briefing (a long background) passes the 1,024-token minimum."""
    (folder / "actors").mkdir(parents=True)
    (folder / "background").mkdir()
    (folder / "scenario.yaml").write_text(
        "name: Long briefing\nsystem_prompt: A policy simulation.\n"
        f"initial_world_state: Talks open.\nturns: 3\nactors: [a, b]\nworld_state_model: {MODEL}\n"
    )
    for x in "ab":
        (folder / "actors" / f"{x}.yaml").write_text(
            f"name: Actor {x}\nshort_name: {x}\nllm_model: {MODEL}\ngoals: [Win]\n"
        )
    (folder / "background" / "history.md").write_text("The long history of the dispute. " * 150)


def test_the_scenario_list_shows_the_cost_without_cache_hits(chromium: Any, tmp_path: Path) -> None:
    offered = tmp_path / "offered"
    _briefed_scenario(offered / "long-briefing")
    w = off_loop(make_world, tmp_path)
    settings = replace(w.settings, scenario_dirs=(offered,))
    with live(settings) as srv:
        page = sign_in(chromium, srv.url).new_page()
        console = ConsoleLog(page)
        page.goto("/scenarios/long-briefing")
        card = page.locator("li.card", has_text="Long briefing")
        line = card.get_by_test_id("estimate")
        line.filter(has_text="without").wait_for(timeout=15_000)
        text = line.inner_text()
        assert "9 model calls" in text and "with prompt-cache hits" in text, text
        # the scenario that plays offline says so, with no cache talk
        free = page.locator("li.card", has_text="Strait Crisis").get_by_test_id("estimate")
        assert "no model calls" in free.inner_text(timeout=15_000)
        assert console.errors == []
