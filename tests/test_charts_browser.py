"""An HTML report in a real browser (Debian's chromium through Playwright): every chart
is drawn, nothing is fetched from anywhere, no console error; hovering a point shows
its values and clicking a legend entry brings that series forward."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventstore import EventStore
from projections import compare_data, compare_document, open_readonly, project, run_report_document
from tests.chart_helpers import vega_cache
from tests.projection_logs import family

__all__ = ["vega_cache"]  # a fixture

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="chromium is not installed (apt-get install -y chromium); CI installs it",
    ),
]
DRAWN = (
    "document.querySelectorAll('figure.chart svg.marks').length === "
    "document.querySelectorAll('figure.chart').length"
)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, vega_cache: Path) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("html")
    with EventStore.open(tmp / "log.db") as store:
        family(store)
        project(store, tmp / "log.duckdb")
    with open_readonly(tmp / "log.duckdb") as con:
        run_report_document(con, "twig-c").write(tmp / "run.html", "html")
        data = compare_data(con, ["root-a", "branch-b", "twig-c"])
        compare_document(data).write(tmp / "compare.html", "html")
    return {"run": tmp / "run.html", "compare": tmp / "compare.html"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def _open(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """The page with every chart drawn, and what went wrong on the way (console errors,
    uncaught exceptions, any request that left the file)."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)  # fmt: skip
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on("request", lambda r: None if r.url.startswith("file:") else problems.append(f"fetched {r.url}"))  # fmt: skip
    page.goto(path.as_uri())
    page.wait_for_function(DRAWN, timeout=30_000)
    return page, problems


@pytest.mark.parametrize("name", ["run", "compare"])
def test_every_chart_is_drawn_offline_without_errors(
    browser: Any, pages: dict[str, Path], name: str
) -> None:
    page, problems = _open(browser, pages[name])
    try:
        charts = page.locator("figure.chart").count()
        assert charts == {"run": 3, "compare": 5}[name]
        assert page.locator("figure.chart svg.marks").count() == charts
        assert page.locator("figure.chart").filter(has_text="could not be drawn").count() == 0
        assert problems == []
    finally:
        page.close()


def test_hover_shows_values_and_the_legend_brings_a_series_forward(
    browser: Any, pages: dict[str, Path]
) -> None:
    page, problems = _open(browser, pages["run"])
    try:
        resolve = page.locator("figure.chart").filter(has_text="per actor").first
        resolve.scroll_into_view_if_needed()
        resolve.locator('path[aria-roledescription="point"]').first.hover(force=True)
        tip = page.locator("#vg-tooltip-element.visible")
        tip.wait_for(timeout=5_000)
        assert "turn" in tip.inner_text() and "actor" in tip.inner_text()
        lines = resolve.locator('path[aria-roledescription="line mark"]')
        assert [lines.nth(i).get_attribute("opacity") for i in range(3)] == ["1", "1", "1"]
        resolve.locator("g.role-legend-symbol path").first.click(force=True)
        page.wait_for_function(
            "[...document.querySelectorAll('path[aria-roledescription=\"line mark\"]')]"
            ".some(p => p.getAttribute('opacity') === '0.15')",
            timeout=5_000,
        )
        faded = [lines.nth(i).get_attribute("opacity") for i in range(3)]
        assert sorted(faded) == ["0.15", "0.15", "1"]
        assert problems == []
    finally:
        page.close()
