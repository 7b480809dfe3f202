"""Report charts and numbers: rounding for people, the Vega-Lite specs drawn to real SVG
by vl-convert, the document's three forms, the self-contained HTML page, and the cache
of the bundled chart library."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eventstore import UsageError
from projections import markdown_table
from projections._numbers import num, pct, signed, usd
from projections.charts import (
    Chart,
    Diagram,
    Document,
    Drawn,
    fan,
    fan_rows,
    means,
    render,
    trajectory,
)
from projections.charts.page import page
from projections.charts.specs import quantile
from tests.chart_helpers import assert_self_contained, image_links, svg_texts, vega_cache

__all__ = ["vega_cache"]  # a fixture


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8.433, "8.43"),
        (0.15432, "0.154"),
        (3.726, "3.73"),
        (29.0, "29"),
        (99.94, "99.9"),
        (99.96, "100"),
        (12345.6, "12,346"),
        (-0.068, "-0.068"),
        (0.1 + 0.2, "0.3"),
        (0.0, "0"),
        (-0.0, "0"),
        (-0.0001, "-0.0001"),
        (1.23456e-9, "1.23e-09"),
        (None, "-"),
        (math.inf, "inf"),
        (math.nan, "nan"),
    ],
)
def test_metrics_have_three_significant_figures(value: float | None, text: str) -> None:
    assert num(value) == text


def test_differences_carry_their_sign() -> None:
    assert [signed(x) for x in (2.1234, -0.5, 0.0, None)] == ["+2.12", "-0.5", "0", "-"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1234.567, "$1,234.57"),
        (1.0, "$1.00"),
        (0.5, "$0.50"),
        (0.0102, "$0.0102"),
        (0.007998, "$0.007998"),
        (0.00041234, "$0.0004123"),
        (0.0, "$0.00"),
        (None, "$0.00"),
    ],
)
def test_costs_in_cents_from_a_dollar_and_four_figures_below(
    value: float | None, text: str
) -> None:
    assert usd(value) == text


def test_shares_as_whole_percentages_never_a_false_0_or_100() -> None:
    assert [pct(x) for x in (0.0, 0.004, 0.5, 0.996, 1.0, None)] == [
        "0%",
        "<1%",
        "50%",
        ">99%",
        "100%",
        "-",
    ]


def test_quantiles_interpolate_between_order_statistics() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert [quantile(values, q) for q in (0, 0.1, 0.25, 0.5, 0.9, 1)] == pytest.approx(
        [1.0, 1.4, 2.0, 3.0, 7.6, 10.0]
    )
    assert quantile([5.0], 0.9) == 5.0
    [row] = fan_rows("g", {3: [4.0, 1.0, 2.0, 3.0, 10.0]})
    assert row == {"series": "g", "turn": 3, "n": 5, "median": 3.0, "p10": pytest.approx(1.4),
                   "p90": pytest.approx(7.6), "p25": 2.0, "p75": 4.0}  # fmt: skip


def test_a_trajectory_draws_every_series_with_axis_titles_and_legend(tmp_path: Path) -> None:
    spec = trajectory(
        "tension",
        "tension level",
        [("north", 0, 1.0), ("north", 1, 2.5), ("south", 0, 3.0), ("south", 1, math.nan)],
        series_title="actor",
        marker=(1, "forked here"),
    )
    assert json.dumps(spec, allow_nan=False)  # NaN left out as missing, JSON stays valid
    path = tmp_path / "t.svg"
    path.write_text(render.svg(spec))
    texts = svg_texts(path)
    for label in ("tension", "tension level", "turn", "actor", "north", "south", "forked here"):
        assert label in texts, label


def test_one_series_draws_no_legend(tmp_path: Path) -> None:
    spec = trajectory("trade", "trade", [("trade", 0, 1.0), ("trade", 1, 2.0)])
    path = tmp_path / "t.svg"
    path.write_text(render.svg(spec))
    assert "color" not in spec["layer"][0]["encoding"] and "trade" in svg_texts(path)


def test_means_with_intervals_and_fans_draw_their_groups(tmp_path: Path) -> None:
    rows = [("0: low", 4, 2.0, 1.0, 3.0), ("1: high", 1, 5.0, None, None)]
    (tmp_path / "m.svg").write_text(render.svg(means("m: final", "m (mean, 95% CI)", rows)))
    texts = svg_texts(tmp_path / "m.svg")
    assert {"m: final", "m (mean, 95% CI)", "0: low", "1: high"} <= set(texts)
    fans = fan_rows("0: low", {0: [1.0, 1.0], 1: [0.0, 2.0, 4.0]}) + fan_rows(
        "1: high", {0: [5.0], 1: [6.0, 7.0]}
    )
    (tmp_path / "f.svg").write_text(render.svg(fan("m over the turns", "m", fans)))
    assert {"m over the turns", "turn", "variation", "0: low", "1: high"} <= set(
        svg_texts(tmp_path / "f.svg")
    )


def test_many_fans_get_a_panel_each(tmp_path: Path) -> None:
    fans = [r for g in range(6) for r in fan_rows(f"v{g}", {0: [g, g + 1.0], 1: [g + 2.0]})]
    spec = fan("m", "m", fans)
    assert spec["facet"]["field"] == "series" and spec["columns"] == 3
    (tmp_path / "f.svg").write_text(render.svg(spec))
    assert {f"v{g}" for g in range(6)} <= set(svg_texts(tmp_path / "f.svg"))


def _doc() -> Document:
    spec = trajectory("a b", "a", [("a", 0, 1.0), ("a", 1, 2.0)])
    return Document(
        "Report <1>",
        [
            "# Report",
            "",
            Drawn(("## Charts", "")),
            Chart("a b", "a by turn", spec, ("```mermaid", "xychart-beta", "```")),
            "",
            Chart("a b", "a again", spec),  # same slug: a file of its own
            "",
            Diagram(("```mermaid", "graph LR", "```"), ("- root", "  - fork")),
            "",
            "The end.",
        ],
    )


def test_printed_markdown_keeps_mermaid_and_leaves_out_what_only_files_show() -> None:
    text = _doc().markdown()
    assert text == (
        "# Report\n\n```mermaid\nxychart-beta\n```\n\n```mermaid\ngraph LR\n```\n\nThe end.\n"
    )


def test_a_markdown_file_links_each_chart_file_by_a_relative_path(tmp_path: Path) -> None:
    written = _doc().write(tmp_path / "out.md")
    assert written == [
        tmp_path / "out.md",
        tmp_path / "out_files" / "a-b.svg",
        tmp_path / "out_files" / "a-b-2.svg",
    ]
    text = (tmp_path / "out.md").read_text()
    assert image_links(text) == ["out_files/a-b.svg", "out_files/a-b-2.svg"]
    assert "## Charts" in text and "xychart-beta" not in text and "graph LR" in text
    for link in image_links(text):
        assert "a" in svg_texts(tmp_path / link)


def test_the_html_page_stands_alone_and_carries_each_spec(tmp_path: Path, vega_cache: Path) -> None:
    doc = _doc()
    [path] = doc.write(tmp_path / "out.html", "html")
    text = path.read_text()
    parts = assert_self_contained(text)
    assert "window.vegaEmbed" in text  # the library itself, inlined
    assert parts.figures == 2 and parts.specs() == [c.spec for c in doc.charts()]
    assert "<title>Report &lt;1&gt;</title>" in text
    assert "<li>root" in text and "graph LR" not in text  # the diagram as a list


def test_model_text_cannot_inject_markup_or_end_a_script(vega_cache: Path) -> None:
    hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    spec = trajectory(hostile, hostile, [(hostile, 0, 1.0), ("b", 0, 2.0)])
    text = page(Document(hostile, [f"- **Action:** {hostile}", Chart(hostile, hostile, spec)]))
    own = text.replace(render.javascript_bundle(), "")  # the library's code has "<img"
    assert "<script>alert" not in own and "<img" not in own
    parts = assert_self_contained(text)
    assert parts.specs() == [spec]  # the JSON survived its escaping intact


def test_a_page_without_charts_carries_no_library() -> None:
    table = markdown_table(["a"], [("line one\nline two",)])
    text = Document("t", ["# Only text", "", table]).html()
    assert "vegaEmbed" not in text and "<table>" in text
    assert "<td>line one<br>line two</td>" in text  # a cell's line break, kept


def test_unknown_format_and_missing_folder_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown report format 'pdf'"):
        _doc().write(tmp_path / "x.pdf", "pdf")
    with pytest.raises(UsageError, match=r"the folder .*nowhere does not exist"):
        _doc().write(tmp_path / "nowhere" / "x.md")
    assert not (tmp_path / "nowhere").exists()


def test_the_bundle_is_cached_per_version_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vega_cache: Path
) -> None:
    import vl_convert

    bundled: list[int] = []

    def bundle() -> str:  # stands in for seconds of bundling; what is tested is the cache
        bundled.append(1)
        return "window.vegaEmbed = 'bundled';"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(vl_convert, "javascript_bundle", bundle)
    render.javascript_bundle.cache_clear()
    try:
        assert render.javascript_bundle() == "window.vegaEmbed = 'bundled';"
        [cached] = (tmp_path / "scenario-lab").glob("vega-bundle-*.js")
        assert vl_convert.get_vega_version() in cached.name
        cached.write_text("window.vegaEmbed = 'from the cache';")
        render.javascript_bundle.cache_clear()
        assert render.javascript_bundle() == "window.vegaEmbed = 'from the cache';"
        cached.write_text("")  # not a bundle: made again
        render.javascript_bundle.cache_clear()
        assert render.javascript_bundle() == "window.vegaEmbed = 'bundled';"
        assert len(bundled) == 2
        cached.unlink()
        (tmp_path / "scenario-lab").chmod(0o500)  # a cache that cannot be written
        render.javascript_bundle.cache_clear()
        assert render.javascript_bundle() == "window.vegaEmbed = 'bundled';"
    finally:
        (tmp_path / "scenario-lab").chmod(0o700)
        render.javascript_bundle.cache_clear()  # the real library for later tests
