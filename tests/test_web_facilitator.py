"""The facilitator's tools in a real Chromium: a run started in white-cell mode waits
on each world update; the review panel edits one (the edits shown as a diff) and
approves it; a live inject; stop; the after-action report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.server_helpers import live, make_world
from tests.web_helpers import ConsoleLog, browser_fixture, off_loop, shot, sign_in

pytestmark = pytest.mark.slow
chromium = browser_fixture()  # one headless Chromium for the module


def test_white_cell_review_inject_stop_and_after_action(chromium: Any, tmp_path: Path) -> None:
    w = off_loop(make_world, tmp_path)
    with live(w.settings) as srv:
        ctx = sign_in(chromium, srv.url)
        page = ctx.new_page()
        console = ConsoleLog(page)
        page.goto("/scenarios/strait-crisis")
        form = page.locator("form[aria-labelledby='start-title']")
        form.get_by_label("White cell: each world update waits for a facilitator's review").check()
        form.get_by_role("button", name="Start the run").click()
        page.get_by_role("link", name="Open the run").click()

        review = page.get_by_role("region", name="White cell: review the world update of turn 1")
        review.wait_for(timeout=30_000)
        narrative = review.get_by_label("Narrative")
        narrative.fill("The white cell rules: both fleets stand off.")
        review.get_by_label("tension (proposed", exact=False).fill("2")
        diff = review.get_by_test_id("review-diff")
        assert "narrative" in diff.inner_text() and "variables.tension" in diff.inner_text()
        shot(page, "white-cell-review")
        review.get_by_role("button", name="Approve with my edits").click()

        # the run goes on with the edited update, then waits on turn 2's
        turn1 = page.locator("section.turn[data-turn='1']")
        turn1.get_by_text("The white cell rules: both fleets stand off.").first.wait_for(
            timeout=30_000
        )
        assert "edited and approved by user:fay" in turn1.inner_text()
        page.get_by_role("region", name="White cell: review the world update of turn 2").wait_for(
            timeout=30_000
        )

        # a live inject, recorded with who gave it
        page.get_by_role("toolbar", name="Facilitator controls").get_by_role(
            "button", name="Inject event"
        ).click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Title").fill("Typhoon")
        dialog.get_by_label("What happens").fill("A typhoon closes the strait for a week.")
        dialog.get_by_label("Effects on variables (optional)").fill("trade_flow -5")
        dialog.get_by_role("button", name="Inject").click()
        page.get_by_text("Inject queued: Typhoon").wait_for(timeout=30_000)
        assert "by user:fay" in page.locator(".ev", has_text="Inject queued: Typhoon").inner_text()

        # an effect that is not NAME +N is refused in the dialog, before any request
        page.get_by_role("button", name="Inject event").click()
        dialog.get_by_label("What happens").fill("More weather.")
        dialog.get_by_label("Effects on variables (optional)").fill("trade_flow lots")
        dialog.get_by_role("button", name="Inject").click()
        dialog.get_by_role("alert").filter(has_text='effect "trade_flow lots"').wait_for()
        page.keyboard.press("Escape")

        # stop for good, then the after-action report
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Stop").click()
        page.locator(".badge", has_text="stopped").first.wait_for(timeout=30_000)
        assert page.get_by_role("button", name="Resume").is_disabled()
        page.get_by_role("button", name="After-action report").click()
        report = page.get_by_role("dialog")
        report.locator(".markdown h1, .markdown h2").first.wait_for(timeout=30_000)
        assert "A typhoon closes the strait for a week." in report.inner_text()
        shot(page, "after-action")
        assert console.errors == []
        ctx.close()
