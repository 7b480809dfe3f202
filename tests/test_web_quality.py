"""The browser app's quality bar (issue 13), page by page in a real Chromium against a
real uvicorn: no console error and no uncaught exception on any page, every visible
control with a name a screen reader can say, and nothing requested from any host but
the server (no CDN, no font service, no analytics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine_helpers import cli, last_line
from tests.server_helpers import bearer, live, make_world
from tests.test_server_scenarios import played_batch
from tests.web_helpers import ConsoleLog, browser_fixture, off_loop, sign_in

pytestmark = pytest.mark.slow
chromium = browser_fixture()  # one headless Chromium for the module

# every visible form control, button and link that has no accessible name: no label
# (for=, wrapping, aria-labelledby), no aria-label, no title, and no text of its own
UNNAMED = """() => {
  const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
  const text = (el) => (el.textContent || '').trim() || el.getAttribute('alt');
  const named = (el) =>
    (el.labels && el.labels.length > 0) ||
    (el.getAttribute('aria-label') || '').trim() ||
    (el.getAttribute('aria-labelledby') || '').split(/\\s+/).some((id) => id && document.getElementById(id)) ||
    (el.getAttribute('title') || '').trim() ||
    (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) || el.getAttribute('role') === 'button') && text(el) ||
    (el.tagName === 'A' && [...el.querySelectorAll('img[alt]')].some((i) => i.alt.trim()));
  const controls = document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a[href], summary, [role=button], [contenteditable=true]');
  return [...controls].filter(visible).filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 120));
}"""


def _pages(w: Any, batch: str, branch: str) -> list[tuple[str, str]]:
    """(path, a selector that shows the page has drawn its data)."""
    return [
        ("/runs", f"a[href='/runs/{w.strait}']"),
        (f"/runs/{w.strait}", "section.turn[data-turn='1']"),
        (f"/runs/{w.tabletop}", "[data-testid=waiting]"),
        ("/scenarios", "ul.scenario-list li"),
        ("/scenarios/strait-crisis", "form.card"),
        (f"/compare?runs={w.strait},{branch}", ".chart canvas"),
        ("/sql", "aside details"),
        ("/editor?scenario=strait-crisis", "[data-testid=validity]"),
        (f"/batches/{batch}", "figure.ci-chart svg"),
    ]


BATCH = """\
experiment_name: Quality sweep
base_scenario: strait-crisis
runs_per_variation: 2
seed: 2
variations:
  - type: scenario_parameter
    parameter: turns
    values: [2, 3]
"""


def _world(tmp_path: Path) -> tuple[Any, str]:
    w = make_world(tmp_path, scenario_dirs=(tmp_path / "saved",))
    fork = cli("fork", w.strait, "--at-turn", "3", "--db", str(w.db))
    assert fork.exit_code == 0, fork.output
    return w, last_line(fork.stdout)


def test_no_console_error_unnamed_control_or_outside_request_on_any_page(
    chromium: Any, tmp_path: Path
) -> None:
    w, branch = off_loop(_world, tmp_path)
    with live(w.settings) as srv:
        with srv.client(headers=bearer(w.keys["facilitator"])) as c:
            batch = played_batch(c, BATCH, 4)
        outside: list[str] = []
        problems: dict[str, list[str]] = {}

        def watch(page: Any) -> ConsoleLog:
            page.on(
                "request",
                lambda req: (
                    req.url.startswith((srv.url + "/", "data:", "blob:")) or outside.append(req.url)
                ),
            )
            return ConsoleLog(page)

        def visit(page: Any, path: str, ready: str) -> None:
            console = watch(page)
            page.goto(path)
            page.locator(ready).first.wait_for(timeout=30_000)
            # live pages keep a stream open (never network-idle): let late requests land
            page.wait_for_timeout(800)
            unnamed = page.evaluate(UNNAMED)
            if console.errors or unnamed:
                problems[path] = [*console.errors, *(f"no name: {u}" for u in unnamed)]
            page.close()

        # signed out: the login page
        anonymous = chromium.new_context(base_url=srv.url)
        visit(anonymous.new_page(), "/runs", "form input[type=password]")
        anonymous.close()
        # a facilitator: every page
        ctx = sign_in(chromium, srv.url)
        for path, ready in _pages(w, batch, branch):
            visit(ctx.new_page(), path, ready)
        ctx.close()
        # a player: the join link, on a phone-sized screen
        phone = chromium.new_context(base_url=srv.url, viewport={"width": 390, "height": 844})
        visit(phone.new_page(), f"/join/{w.tabletop}#token={w.seat}", ".question")
        phone.close()
    assert problems == {}
    assert outside == []
