"""The browser app in a real headless Chromium against a real uvicorn: sign-in, the runs
tree updating live, the run page's live timeline (with a dropped connection in the
middle), its audit and state drawers, and a human seat's page and what it never shows."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from eventstore import EventStore
from tests.engine_helpers import cli, last_line
from tests.server_helpers import PASSWORD, TABLETOP, World, live, make_world
from tests.web_helpers import (
    ConsoleLog,
    DropProxy,
    browser_fixture,
    ensure_built,
    load_factor,
    off_loop,
    shot,
    sign_in,
    wait_until,
)

pytestmark = pytest.mark.slow
chromium = browser_fixture()  # one headless Chromium for the module


def log_count(db: Path, run_id: str, *types: str) -> int:
    with EventStore.open(db, create=False) as store:
        return sum(1 for r in store.iter_events(run_id) if r.type in types)


def decide_and_resume(w: World, actor: str = "grid-operator", *, server: bool = False) -> None:
    """What a seat's answer does: the human decision, then the run plays on to the next
    halt: played on by the running server, which watches its log (``server``), or by the
    CLI, in this process, on the same log."""
    args = ["decide", w.tabletop, "--actor", actor, "--action-name", "manual_restoration",
            "--action", "Crews restore hospitals first.", "--by", "test", "--db", str(w.db)]  # fmt: skip
    got = off_loop(cli, *args)
    # the server may still be playing the turn before the seat's question: a decide with
    # no question open records nothing and is refused, so ask again until it is open
    deadline = time.monotonic() + 60
    while server and got.exit_code != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        got = off_loop(cli, *args)
    assert got.exit_code == 0, got.output
    if server:
        return
    got = off_loop(cli, "resume", w.tabletop, "--db", str(w.db))
    assert got.exit_code in (0, 3), got.output  # 3: halted again for the seat's next turn


def test_sign_in_and_the_runs_tree_with_a_fork_and_live_status(
    chromium: Any, tmp_path: Path
) -> None:
    w = off_loop(make_world, tmp_path)
    fork = off_loop(cli, "fork", w.strait, "--at-turn", "4", "--db", str(w.db))
    assert fork.exit_code == 0, fork.output
    branch = last_line(fork.stdout)
    with live(w.settings) as srv:
        ctx = chromium.new_context(base_url=srv.url, viewport={"width": 1280, "height": 860})
        page = ctx.new_page()
        console = ConsoleLog(page)
        page.goto("/runs")
        page.get_by_role("heading", name="Sign in to scenario-lab").wait_for()
        shot(page, "login")
        page.get_by_label("Name").fill("fay")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").filter(has_text="wrong name or password").wait_for()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Runs").wait_for()
        assert page.url.endswith("/runs")
        # the branch is listed under its parent, one level in (the rows come after the
        # heading: wait for both runs before reading the order)
        page.locator(f"tr[data-run='{branch}']").wait_for()
        page.locator(f"tr[data-run='{w.strait}']").wait_for()
        rows = page.locator("table.runs tbody tr")
        ids = [rows.nth(i).get_attribute("data-run") for i in range(rows.count())]
        assert ids.index(branch) == ids.index(w.strait) + 1
        assert "fork at turn 4" in page.locator(f"tr[data-run='{branch}']").inner_text()
        # recorded without --play: it never started (it did not die while playing)
        assert "not_started" in page.locator(f"tr[data-run='{branch}']").inner_text()
        # a run resumed elsewhere shows its new status without a reload
        row = page.locator(f"tr[data-run='{w.tabletop}']")
        assert "halted" in row.inner_text()
        decide_and_resume(w, server=True)
        wait_until(lambda: "1" in row.locator("td").nth(3).inner_text(), what="turn 1 done")
        # filters
        page.get_by_label("Status").select_option("completed")
        wait_until(lambda: page.locator(f"tr[data-run='{w.tabletop}']").count() == 0, what="filter")
        assert page.locator(f"tr[data-run='{w.strait}']").count() == 1
        page.get_by_label("Status").select_option("not_started")
        wait_until(lambda: page.locator(f"tr[data-run='{w.strait}']").count() == 0, what="filter")
        assert page.locator(f"tr[data-run='{branch}']").count() == 1
        page.get_by_label("Status").select_option("")
        shot(page, "runs", full_page=True)
        # the 401 of the first visit (not signed in yet) is the only failed request
        assert [e for e in console.errors if "401" not in e] == []
        ctx.close()


def test_run_page_updates_live_and_recovers_a_dropped_stream(chromium: Any, tmp_path: Path) -> None:
    w = off_loop(make_world, tmp_path)
    with live(w.settings) as srv, DropProxy(srv.port) as proxy:
        ctx = sign_in(chromium, proxy.url)
        page = ctx.new_page()
        console = ConsoleLog(page)
        page.goto(f"/runs/{w.tabletop}")
        page.get_by_role("status").filter(has_text="live").wait_for()
        decisions = page.locator(".ev-decision")
        before = decisions.count()
        assert before == log_count(w.db, w.tabletop, "DecisionMade", "HumanDecisionSubmitted")
        assert "Grid Operator" in page.get_by_test_id("waiting").inner_text()

        decide_and_resume(w, server=True)  # live: the next turn arrives with no reload
        page.locator("section.turn[data-turn='2']").wait_for()
        assert page.get_by_test_id("run-turn").inner_text() == "1"

        proxy.drop()  # the connection is lost while the run goes on
        page.get_by_role("status").filter(has_text="reconnecting").wait_for()
        decide_and_resume(w, server=True)
        proxy.restore()
        page.locator("section.turn[data-turn='3']").wait_for()
        page.get_by_role("status").filter(has_text="live").wait_for()
        expected = log_count(w.db, w.tabletop, "DecisionMade", "HumanDecisionSubmitted")
        wait_until(lambda: decisions.count() == expected, what="every decision shown once")
        assert expected > before
        # nothing repeated: each turn is one section
        turns = page.locator("section.turn").evaluate_all("ns => ns.map(n => n.dataset.turn)")
        assert len(turns) == len(set(turns))
        shot(page, "run")
        # the browser reports the requests the drop cut (net::ERR_...), nothing else
        assert [e for e in console.errors if "net::ERR_" not in e] == []
        ctx.close()


def test_run_page_audit_state_diff_and_report(chromium: Any, tmp_path: Path) -> None:
    w = off_loop(make_world, tmp_path)
    with live(w.settings) as srv:
        ctx = sign_in(chromium, srv.url)
        page = ctx.new_page()
        console = ConsoleLog(page)
        page.goto(f"/runs/{w.strait}")
        page.get_by_role("status").filter(has_text="finished").wait_for()
        assert page.locator("section.turn").count() == 11  # setup and ten turns
        assert page.locator(".chart canvas").count() >= 1
        page.get_by_role(
            "button", name=re.compile("Audit Eastern Power's decision in turn 3")
        ).click()
        drawer = page.get_by_role("dialog")
        drawer.get_by_text("Parsed decision").wait_for()
        assert "eastern-power" in drawer.inner_text()
        shot(page, "run-audit")
        page.keyboard.press("Escape")
        page.locator("section.turn[data-turn='2']").get_by_role("button", name="state").click()
        drawer.get_by_text("Changes since turn 1").wait_for()
        assert drawer.locator("table.diff tbody tr").count() > 0
        drawer.get_by_label("Turn").fill("3")
        drawer.get_by_label("Turn").dispatch_event("change")
        drawer.get_by_text("Changes since turn 2").wait_for()
        shot(page, "run-state")
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Report", exact=True).click()
        drawer.locator(".markdown h1, .markdown h2").first.wait_for(timeout=30_000)
        assert console.errors == []
        ctx.close()


def _private_texts(scenario: Path, but: str) -> list[str]:
    """Every other actor's private information and goals, as in the scenario's files."""
    out = []
    for f in sorted((scenario / "actors").glob("*.yaml")):
        spec = yaml.safe_load(f.read_text())
        if f.stem == but:
            continue
        for field in ("private_information",):
            if spec.get(field):
                out.append(" ".join(str(spec[field]).split())[:60])
        out += [str(g) for g in spec.get("goals", [])]
    return out


def test_seat_page_shows_only_its_actor_and_no_ai_instructions(
    chromium: Any, tmp_path: Path
) -> None:
    w = off_loop(make_world, tmp_path)
    decide_and_resume(w)  # a recap of the last turn to show
    with live(w.settings) as srv:
        ctx = chromium.new_context(
            base_url=srv.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        page = ctx.new_page()
        console = ConsoleLog(page)
        page.goto(f"/join/{w.tabletop}#token={w.seat}")
        page.get_by_role("heading", name="Your move").wait_for()
        text = page.locator("main").inner_text()
        assert "National Grid Operator" in text
        assert "Turn 2 of 5" in text
        assert (
            "offline backups from last week are intact"
            in page.get_by_test_id("private").inner_text()
        )
        assert "What happened in turn 1" in text
        # the question in plain words, the declared actions as choices
        assert page.get_by_role("radio").count() == 4
        assert page.get_by_label(re.compile("manual restoration")).count() == 1
        # never another actor's secrets, never the AI's JSON instructions
        others = _private_texts(TABLETOP, but="grid-operator")
        assert others, "the scenario has other actors' private texts to look for"
        html = page.content()
        for secret in others:
            assert secret not in html, secret
        for ai in (
            "JSON",
            "json",
            '{"',
            "long_term_goals",
            "short_term_priorities",
            "respond with",
        ):
            assert ai not in text, ai
        # phone-sized: nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "seat", full_page=True)
        # the player's token opens nothing else: not the run, not another seat
        auth = {"Authorization": f"Bearer {w.seat}"}
        assert ctx.request.get(f"/api/v1/runs/{w.tabletop}", headers=auth).status == 403
        assert ctx.request.get(f"/api/v1/runs/{w.strait}/seat", headers=auth).status == 403
        assert (
            ctx.request.get(f"/api/v1/runs/{w.tabletop}/seat?actor=government", headers=auth).status
            == 403
        )
        # ...and the app says so on another run's seat page, without showing anything
        other = ctx.new_page()
        other.goto(f"/join/{w.strait}#token={w.seat}")
        other.get_by_role("alert").wait_for()
        assert "Forbidden" in other.get_by_role("alert").inner_text()
        assert other.get_by_text("Your briefing").count() == 0
        # and the facilitator's run page asks a player to sign in
        other.goto(f"/runs/{w.tabletop}")
        other.get_by_role("heading", name="Sign in to scenario-lab").wait_for()
        assert console.errors == []
        ctx.close()


def test_seat_link_without_a_token_or_with_a_revoked_one_says_what_to_do(
    chromium: Any, tmp_path: Path
) -> None:
    w = off_loop(make_world, tmp_path)
    with live(w.settings) as srv:
        ctx = chromium.new_context(base_url=srv.url)
        page = ctx.new_page()
        page.goto(f"/join/{w.tabletop}")
        assert "has no seat token" in page.get_by_role("alert").inner_text()
        page.goto(f"/join/{w.tabletop}#token=st_nope_nope")
        page.reload()
        page.get_by_role("alert").filter(has_text="not valid any more").wait_for()
        ctx.close()


def test_pages_are_served_with_a_strict_policy_and_unknown_paths_are_404(tmp_path: Path) -> None:
    ensure_built()
    w = off_loop(make_world, tmp_path)
    with live(w.settings) as srv, srv.client() as c:
        page = c.get("/runs/abc")
        assert page.status_code == 200 and '<div id="app">' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # every asset the shell names is served from here: nothing from a CDN
        for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            if src.startswith("data:"):
                continue
            assert src.startswith("/assets/"), src
            assert c.get(src).status_code == 200
        assert c.get("/assets/..%2Fweb.py").status_code == 404
        assert c.get("/assets/nothing.js").status_code == 404
        assert c.get("/no-such-page").status_code == 404
        assert c.get("/api/v1/no-such-route").status_code in (401, 404)


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))"""


def test_a_50_turn_run_page_is_interactive_within_a_second_and_every_control_is_labelled(
    chromium: Any, tmp_path: Path
) -> None:
    w = off_loop(make_world, tmp_path)
    got = off_loop(
        cli, "run", "scenarios/strait-crisis", "--seed", "5", "--turns", "50", "--db", str(w.db)
    )
    assert got.exit_code == 0, got.output
    run_id = last_line(got.stdout)
    with live(w.settings) as srv:
        ctx = sign_in(chromium, srv.url)
        page = ctx.new_page()
        page.goto(f"/runs/{run_id}")  # a first visit loads and caches the assets
        page.locator("section.turn[data-turn='50']").wait_for()
        timings = []
        for _ in range(5):
            page.goto(f"/runs/{run_id}")
            page.locator("section.turn[data-turn='50']").wait_for()
            page.locator(".chart canvas").first.wait_for()
            timings.append(page.evaluate("performance.now()"))
        assert page.locator("section.turn").count() == 51
        # under a second on this machine when idle (~0.5 s); others' load stretches it
        busy = load_factor()
        print(f"50-turn run page ready after {[round(t) for t in timings]} ms, load x{busy:.1f}")
        assert min(timings) < 1000 * busy, timings
        # every visible control has a name a screen reader can say
        assert page.evaluate(UNLABELLED) == []
        for path in ("/runs", "/scenarios/strait-crisis", "/sql", "/compare"):
            page.goto(path)
            page.locator("main h1").wait_for()
            page.wait_for_load_state("networkidle")
            assert page.evaluate(UNLABELLED) == [], path
        ctx.close()
