"""The exercise end to end in a real Chromium: a facilitator starts the bundled human
tabletop with a human seat, a player decides on a phone through the join link, the
facilitator's run page shows the next turn with no reload, then forks from the
timeline, finds the branch in the runs tree and compares it with its parent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.server_helpers import live, make_world
from tests.web_helpers import ConsoleLog, browser_fixture, off_loop, shot, sign_in

pytestmark = pytest.mark.slow
chromium = browser_fixture()  # one headless Chromium for the module


def test_facilitator_and_player_play_a_turn_fork_and_compare(chromium: Any, tmp_path: Path) -> None:
    w = off_loop(make_world, tmp_path)
    with live(w.settings) as srv:
        fac = sign_in(chromium, srv.url)
        page = fac.new_page()
        console = ConsoleLog(page)

        # the scenario browser and its start form
        page.goto("/scenarios/tabletop-human")
        form = page.locator("form[aria-labelledby='start-title']")
        form.wait_for()
        page.get_by_text(re.compile(r"\d+ model calls")).first.wait_for()
        shot(page, "scenarios")
        assert form.get_by_label("National Grid Operator is played by a person").is_checked()
        form.get_by_label("Seed").fill("3")
        form.get_by_label("Name (optional)").fill("Cohort 3 tabletop")
        form.get_by_label("Tags (comma-separated)").fill("training, cohort-3")
        form.get_by_role("button", name="Start the run").click()
        link = page.get_by_label("Join link for grid-operator")
        link.wait_for()
        join = link.input_value()
        assert "/join/" in join and "#token=st_" in join
        page.get_by_role("link", name="Open the run").click()
        page.get_by_test_id("waiting").filter(has_text="National Grid Operator").wait_for(
            timeout=30_000
        )
        run_id = page.url.rsplit("/", 1)[1]

        # the player, on a phone, with nothing but the link
        player = chromium.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        seat = player.new_page()
        seat_console = ConsoleLog(seat)
        seat.goto(join)
        seat.get_by_role("heading", name="Your move").wait_for()
        seat.get_by_label(re.compile("manual restoration")).check()
        seat.get_by_label("In your words (optional)").fill("Crews restore hospitals first.")
        seat.get_by_role("button", name="Send my decision").click()
        # the run plays on by itself and asks again, in turn 2
        seat.get_by_text("What happened in turn 1").wait_for(timeout=30_000)
        seat.get_by_text("What does National Grid Operator do in turn 2?").wait_for(timeout=30_000)
        shot(seat, "seat-turn-2", full_page=True)

        # the facilitator's page followed without a reload
        page.locator("section.turn[data-turn='2']").wait_for(timeout=30_000)
        assert (
            "Crews restore hospitals first."
            in page.locator("section.turn[data-turn='1']").inner_text()
        )
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

        # fork after turn 1 from the timeline
        page.get_by_role("button", name="Fork here after turn 1").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Inject an event into turn 2").fill(
            "A second wave of the attack hits the water utilities"
        )
        shot(page, "fork-dialog")
        dialog.get_by_role("button", name="Fork").click()
        page.wait_for_function(f"() => !location.pathname.endsWith('/{run_id}')")
        branch = page.url.rsplit("/", 1)[1]
        page.get_by_text(f"{run_id}").first.wait_for()

        page.goto("/runs")
        row = page.locator(f"tr[data-run='{branch}']")
        row.wait_for()
        rows = page.locator("table.runs tbody tr")
        ids = [rows.nth(i).get_attribute("data-run") for i in range(rows.count())]
        assert ids.index(branch) == ids.index(run_id) + 1  # under its parent
        assert "fork at turn 1" in row.inner_text()
        # the tag filter keeps the tagged run and its branch (a fork carries its parent's tags)
        page.get_by_label("Tag").select_option("cohort-3")
        page.locator(f"tr[data-run='{w.strait}']").wait_for(state="detached")
        assert "Cohort 3 tabletop" in page.locator(f"tr[data-run='{run_id}']").inner_text()
        assert page.locator(f"tr[data-run='{branch}']").count() == 1

        # compare the branch with its parent
        page.goto(f"/runs/{branch}")
        page.get_by_role("link", name="compare with parent").click()
        page.get_by_test_id("shared").wait_for()
        assert "until turn 1" in page.get_by_test_id("shared").inner_text()
        assert page.locator(".chart canvas").count() >= 1
        shot(page, "compare", full_page=True)
        assert console.errors == [] and seat_console.errors == []
        player.close()
        fac.close()
