"""Fog of war in the browser: a player's seat page beside AI actors (the loopback fake
LLM answers them with secret-marked reasoning) never shows another actor's private
information, reasoning or goals, nor the JSON instructions the AI actors get, through
two turns played live; the facilitator's run page shows those secrets, so a leak would
be seen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scenario_lab.app import LLMSettings
from tests.engine_helpers import DATA, llm_env
from tests.fakellm import FakeLLMServer
from tests.server_helpers import live, make_world
from tests.test_server_fog import OTHERS, _decision, _leaks
from tests.web_helpers import ConsoleLog, browser_fixture, off_loop, shot, sign_in

pytestmark = pytest.mark.slow
chromium = browser_fixture()  # one headless Chromium for the module

# what the AI actors are told about answering, never meant for a person
AI_INSTRUCTIONS = ("JSON", "json", "long_term_goals", "short_term_priorities", '{"', "schema")


def test_the_seat_page_beside_ai_actors_shows_nothing_of_theirs(
    chromium: Any, tmp_path: Path
) -> None:
    w = off_loop(make_world, tmp_path)
    with FakeLLMServer() as fake:
        fake.responder = _decision
        llm = LLMSettings.from_env(llm_env(fake.base_url))
        settings = replace(w.settings, scenario_dirs=(DATA,), llm=llm, user_rate_per_min=None)
        with live(settings) as srv:
            fac = sign_in(chromium, srv.url)
            csrf = fac.request.get("/api/v1/me").json()["csrf_token"]
            head = {"X-CSRF-Token": csrf}
            started = fac.request.post(
                "/api/v1/runs",
                data={"scenario": "llm3", "turns": 2, "humans": ["ngo"]},
                headers=head,
            )
            assert started.status == 201, started.text()
            run_id = started.json()["run_id"]
            seat = fac.request.post(
                f"/api/v1/runs/{run_id}/seats", data={"actor": "ngo"}, headers=head
            )
            join = seat.json()["url"]

            player = chromium.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = player.new_page()
            console = ConsoleLog(page)
            page.goto(join)
            seen: list[str] = []
            for turn in (1, 2):
                question = page.get_by_text(f"in turn {turn}?")
                question.wait_for(timeout=60_000)
                seen += [page.content(), page.locator("main").inner_text()]
                page.get_by_label("What you do").fill(f"The ngo campaigns in turn {turn}.")
                page.get_by_role("button", name="Send my decision").click()
            page.get_by_role("heading", name="The exercise is over").wait_for(timeout=60_000)
            seen += [page.content(), page.locator("main").inner_text()]
            shot(page, "seat-beside-ai", full_page=True)
            everything = "\n".join(seen)
            assert "SECRET-ngo-PRIVATE" in everything  # its own briefing
            assert "The ngo campaigns in turn 1." in everything
            assert _leaks(everything) == []
            for actor in OTHERS:
                assert f"SECRET-{actor}-REASONING" not in everything
                assert f"SECRET-{actor}-GOAL" not in everything
            text = "\n".join(seen[1::2])
            for words in AI_INSTRUCTIONS:
                assert words not in text, words
            assert console.errors == []

            # the facilitator's page does show the others' reasoning: the check can fail
            staff = fac.new_page()
            staff.goto(f"/runs/{run_id}")
            staff.get_by_role("status").filter(has_text="finished").wait_for(timeout=30_000)
            assert "SECRET-techco-REASONING" in staff.content()
            player.close()
            fac.close()
