"""The analyst's and author's pages in a real Chromium: the scenario editor marks a bad
field while typing (within a second), saves the files as a new scenario, estimates and
starts it; the SQL page runs a query, shows the schema, downloads CSV and says why a
statement is refused."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_helpers import live, make_world
from tests.web_helpers import (
    ConsoleLog,
    browser_fixture,
    load_factor,
    off_loop,
    shot,
    sign_in,
)

pytestmark = pytest.mark.slow
chromium = browser_fixture()  # one headless Chromium for the module


@pytest.fixture
def signed_in(chromium: Any, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    # the first scenarios folder receives the scenarios the editor saves
    w = off_loop(lambda: make_world(tmp_path, scenario_dirs=(tmp_path / "saved",)))
    with live(w.settings) as srv:
        ctx = sign_in(chromium, srv.url, accept_downloads=True)
        yield ctx, w
        ctx.close()


def test_editor_marks_a_bad_field_within_a_second_then_saves_estimates_and_starts(
    signed_in: tuple[Any, Any], tmp_path: Path
) -> None:
    ctx, _w = signed_in
    page = ctx.new_page()
    console = ConsoleLog(page)
    page.goto("/editor?scenario=tabletop-human")
    page.get_by_test_id("validity").filter(has_text="Valid").wait_for(timeout=15_000)
    files = page.get_by_role("navigation", name="Scenario files")
    assert files.get_by_role("button", name="actors/grid-operator.yaml").count() == 1
    line = page.locator(".cm-line", has_text="turns: 5")
    line.click()
    page.keyboard.press("End")
    page.keyboard.press("Backspace")
    page.keyboard.type("five")
    typed = time.monotonic()
    # within a second on an idle machine; others' load stretches it
    bound = 1.0 * load_factor()
    page.locator(".cm-lintRange-error").first.wait_for(timeout=bound * 1000)
    assert time.monotonic() - typed < bound
    assert "1 error" in page.get_by_test_id("validity").inner_text()
    problem = page.locator("table.problems tbody tr").first.inner_text()
    assert "scenario.yaml" in problem and "turns" in problem
    # the problem is on the edited line, in the gutter as well
    assert page.locator(".cm-lint-marker-error").count() == 1
    shot(page, "editor")
    # saving files with an error is refused, with the server's reasons; nothing is saved
    name = page.get_by_label("Save as a new scenario named")
    name.fill("short-blackout")
    page.get_by_role("button", name="Save as new scenario").click()
    page.get_by_role("alert").filter(has_text="1 error").wait_for(timeout=10_000)
    assert not (tmp_path / "saved" / "short-blackout").exists()
    # fixing it clears the mark
    page.locator(".cm-content").click()
    page.keyboard.press("Control+z")
    page.get_by_test_id("validity").filter(has_text="Valid").wait_for(timeout=3000)
    assert page.locator(".cm-lintRange-error").count() == 0
    # a change worth saving: three turns instead of five
    page.locator(".cm-line", has_text="turns: 5").click()
    page.keyboard.press("End")
    page.keyboard.press("Backspace")
    page.keyboard.type("3")
    page.get_by_test_id("validity").filter(has_text="Valid").wait_for(timeout=3000)
    page.get_by_role("button", name="Save as new scenario").click()
    page.get_by_role("status").filter(has_text="Saved as short-blackout").wait_for(timeout=10_000)
    on_disk = (tmp_path / "saved" / "short-blackout" / "scenario.yaml").read_text()
    assert "turns: 3" in on_disk
    page.get_by_role("button", name="Estimate").click()
    assert "no model calls" in page.get_by_test_id("estimate").inner_text(timeout=10_000)
    shot(page, "editor-saved")
    page.get_by_role("button", name="Start a run (seed 1)").click()
    page.wait_for_function("() => /^\\/runs\\/[^/]+$/.test(location.pathname)", timeout=15_000)
    page.locator("section.turn[data-turn='0']").wait_for(timeout=30_000)
    assert "Grid Blackout Tabletop" in page.locator("main").inner_text()
    # the refused save is a 422 the page showed, not a page error
    assert [e for e in console.errors if "status of 422" not in e] == []


def test_sql_page_runs_a_query_downloads_csv_and_explains_a_refusal(
    signed_in: tuple[Any, Any],
) -> None:
    ctx, w = signed_in
    page = ctx.new_page()
    console = ConsoleLog(page)
    page.goto("/sql")
    schema = page.get_by_role("complementary", name="Schema")
    schema.get_by_text("runs", exact=True).first.wait_for(timeout=30_000)
    box = page.get_by_label("Statement (read-only, DuckDB; Ctrl+Enter runs it)")
    box.fill("SELECT run_id, status FROM runs ORDER BY run_id")
    page.get_by_role("button", name="Run").click()
    page.locator("table.results tbody tr").first.wait_for(timeout=30_000)
    shown = page.locator("table.results").inner_text()
    assert w.strait in shown and w.tabletop in shown
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text())))
    assert rows[0] == ["run_id", "status"]
    assert sorted(r[0] for r in rows[1:]) == sorted([w.strait, w.tabletop])
    shot(page, "sql")
    box.fill("DELETE FROM runs")
    box.press("Control+Enter")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text().strip()
    assert page.locator("table.results").count() == 0
    # the refusal is a 4xx the app shows, not a page error
    assert [e for e in console.errors if "status of 4" not in e] == []


def test_fork_into_a_batch_and_follow_it_on_the_batch_page(signed_in: tuple[Any, Any]) -> None:
    ctx, w = signed_in
    page = ctx.new_page()
    console = ConsoleLog(page)
    page.goto(f"/runs/{w.strait}")
    page.get_by_role("button", name="Fork here after turn 5").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Branches").fill("4")
    dialog.get_by_role("button", name="Fork").click()
    page.wait_for_function("() => location.pathname.startsWith('/batches/')")
    page.get_by_text("4 of 4 runs completed").wait_for(timeout=60_000)
    # a fan chart per metric, drawn from the four runs
    page.locator(".chart canvas").first.wait_for()
    assert page.locator(".chart").count() >= 3
    # one variation: a forest plot per metric with its one row
    page.locator("figure.ci-chart svg").first.wait_for(timeout=30_000)
    assert (
        page.locator("figure.ci-chart svg .ci-row").count()
        == page.locator("figure.ci-chart").count()
    )
    # the server's full report, once every run has ended
    page.get_by_text("The full report (markdown, printable)").click()
    page.locator(".markdown table").first.wait_for(timeout=30_000)
    assert console.errors == []


BATCH = """\
experiment_name: Browser sweep
base_scenario: strait-crisis
runs_per_variation: 5
seed: 5
variations:
  - type: scenario_parameter
    parameter: turns
    values: [1, 10]
"""


def test_batch_page_draws_intervals_fans_and_the_significance_table(
    signed_in: tuple[Any, Any],
) -> None:
    ctx, w = signed_in
    api = ctx.request
    key = {"Authorization": f"Bearer {w.keys['facilitator']}"}
    r = api.post("/api/v1/batches", data={"file": BATCH}, headers=key)
    assert r.ok, r.text()
    batch = r.json()["batch_id"]
    page = ctx.new_page()
    console = ConsoleLog(page)
    page.goto(f"/batches/{batch}")
    page.get_by_text("10 of 10 runs completed").wait_for(timeout=90_000)
    data = api.get(f"/api/v1/batches/{batch}/statistics").json()
    metrics = data["stats"]["metrics"]
    assert metrics
    # a forest plot per metric: a row per variation (a mean dot, and interval whiskers)
    plots = page.locator("figure.ci-chart")
    plots.nth(len(metrics) - 1).wait_for(timeout=15_000)
    assert plots.count() == len(metrics)
    for i, metric in enumerate(metrics):
        plot = plots.nth(i)
        assert metric in plot.locator("figcaption").inner_text()
        rows = plot.locator("svg .ci-row")
        assert rows.count() == 2
        labels = [rows.nth(j).get_attribute("data-variation") for j in range(2)]
        assert labels == [v["name"] for v in data["stats"]["variations"]]
        assert plot.locator("svg circle.mean").count() == 2
        with_interval = sum(
            1 for v in data["stats"]["variations"] if v["metrics"][metric]["ci95"] is not None
        )
        assert plot.locator("svg g.whisker").count() == with_interval
        name = plot.locator("svg").get_attribute("aria-label") or ""
        assert "95% CI" in name or with_interval == 0
    # a fan chart (uPlot canvas) per metric, for every variation pooled, then for one
    page.locator(".chart canvas").first.wait_for()
    fans = page.locator(".chart-grid .chart")
    assert fans.count() == len(metrics)
    assert "median" in (fans.first.get_attribute("aria-label") or "")
    page.get_by_label("Runs of").select_option(label=data["stats"]["variations"][1]["name"])
    page.locator(".chart canvas").first.wait_for()
    assert page.locator(".chart-grid .chart").count() == len(metrics)
    # the significance table: the server's significant pairs, one row each
    # (1 turn against 10 moves this scenario's readiness, support and trade: seed 5 gives
    # p < 0.01 for each)
    significant = data["stats"]["significant"]
    assert significant
    table = page.locator("table.significance tbody tr")
    assert table.count() == len(significant)
    for i, pair in enumerate(significant):
        assert pair["metric"] in table.nth(i).inner_text()
    assert f"Tests made: {data['stats']['tests']}." in page.locator("main").inner_text()
    shot(page, "batch", full_page=True)
    assert console.errors == []
