"""Helpers of the chart tests: read an SVG as a person would (its texts), read an HTML
report's parts, and give the Vega bundle a cache folder of the test session's own."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_texts(path: Path) -> list[str]:
    """Every text an SVG file shows (titles, axis titles, tick and legend labels);
    parsing it proves it is well-formed SVG."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg", f"{path} is not an SVG document"
    assert float(root.attrib["width"]) > 300 and float(root.attrib["height"]) > 150
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG_NS}text")]


def image_links(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


class PageParts(HTMLParser):
    """The scripts (inline text, src), links and chart specs of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, Any]] = []
        self.links: list[dict[str, str | None]] = []
        self.figures = 0
        self._in_script: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self._in_script = {"attrs": a, "text": ""}
        elif tag in ("link", "img", "iframe", "source"):
            self.links.append(a)
        elif tag == "figure":
            self.figures += 1

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self._in_script["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script is not None:
            self.scripts.append(self._in_script)
            self._in_script = None

    def specs(self) -> list[dict[str, Any]]:
        return [
            json.loads(s["text"])
            for s in self.scripts
            if s["attrs"].get("type") == "application/json"
        ]


def page_parts(text: str) -> PageParts:
    parts = PageParts()
    parts.feed(text)
    parts.close()
    return parts


def assert_self_contained(text: str) -> PageParts:
    """No script, style, image or frame is loaded from anywhere: the page stands alone
    and inlines the chart library when it has charts."""
    parts = page_parts(text)
    assert all("src" not in s["attrs"] for s in parts.scripts), "a script is loaded from a file"
    assert parts.links == [], parts.links
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text), "CSS loads something"
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", text), "an external reference"
    return parts


@pytest.fixture(scope="session")
def vega_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's own cache folder for the bundled Vega JavaScript (the user's is
    left alone); bundling costs seconds once per session."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(folder))
        yield folder
