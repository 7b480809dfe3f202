"""The charts of the reports as Vega-Lite specifications (plain dicts).

Each chart is defined once, here; ``render`` turns a spec into an SVG file for a
markdown report and ``page`` embeds the same spec in an HTML report, where Vega draws
it with hover values (tooltips) and a legend that highlights a series when clicked
(shift-click for several). Nothing here imports the renderer, so building a report's
text costs no more than building dicts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

WIDTH = 560
HEIGHT = 260
PANEL_WIDTH = 250  # of one panel when a fan chart is drawn as small multiples
PANEL_HEIGHT = 150
WIDEST, THINNEST = 5.0, 1.5  # stroke widths of the first and last of several lines
MAX_OVERLAID = 4  # more fans than this on one plot hide each other: one panel each
ROW, MIN_HEIGHT = 34, 140  # of a means chart: per group, and at least (one group is not a sliver)
SERIES = "series"  # the field that tells lines apart
_PICK = "pick"  # the legend selection
_NUMBER = ",.4~r"  # d3-format of values in tooltips: 4 significant figures, no noise

# Shared looks: readable sizes in a markdown viewer and in a browser alike.
CONFIG: dict[str, Any] = {
    "font": "Helvetica, Arial, sans-serif",
    "background": "white",
    "padding": 8,
    "title": {"fontSize": 15, "anchor": "start", "subtitleFontSize": 12, "subtitleColor": "#555"},
    "axis": {"labelFontSize": 11, "titleFontSize": 12, "gridColor": "#e6e6e6"},
    "legend": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 220},
    "view": {"stroke": None},
}


def _base(title: str, subtitle: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    head: dict[str, Any] = {"text": title}
    if subtitle:
        head["subtitle"] = subtitle
    return {"title": head, "config": CONFIG, "data": {"values": values}}


def _clean(x: float | None) -> float | None:
    """JSON (and so Vega) has no infinity or NaN: such a value is left out, as missing."""
    return x if x is not None and math.isfinite(x) else None


def _legend_pick() -> dict[str, Any]:
    return {"name": _PICK, "select": {"type": "point", "fields": [SERIES]}, "bind": "legend"}


def _faded(strong: float, weak: float) -> dict[str, Any]:
    """Opacity: full for the series picked in the legend (all when none is), faint otherwise."""
    return {"condition": {"param": _PICK, "value": strong}, "value": weak}


def _turn_axis() -> dict[str, Any]:
    return {
        "field": "turn",
        "type": "quantitative",
        "title": "turn",
        "axis": {"tickMinStep": 1, "format": "d"},
    }


def _color(title: str, order: Sequence[str]) -> dict[str, Any]:
    return {"field": SERIES, "type": "nominal", "title": title, "sort": list(order)}


def trajectory(
    title: str,
    y_title: str,
    points: Iterable[tuple[str, int, float | None]],
    *,
    series_title: str = "",
    subtitle: str = "",
    marker: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """Lines of a value over turns, one per series (``(series, turn, value)`` points;
    a missing value leaves a gap). One series draws no legend. ``marker``: a dashed
    vertical line at a turn, with its label (where compared branches part)."""
    values = [{SERIES: s, "turn": t, "value": _clean(v)} for s, t, v in points]
    order = list(dict.fromkeys(str(v[SERIES]) for v in values))
    encoding: dict[str, Any] = {
        "x": _turn_axis(),
        "y": {"field": "value", "type": "quantitative", "title": y_title, "scale": {"zero": False}},
        "tooltip": [
            *([{"field": SERIES, "title": series_title or "series"}] if len(order) > 1 else []),
            {"field": "turn", "title": "turn"},
            {"field": "value", "title": y_title, "format": _NUMBER},
        ],
    }
    line: dict[str, Any] = {"mark": {"type": "line", "point": True, "strokeWidth": 2.5}}
    if len(order) > 1:
        encoding["color"] = _color(series_title, order)
        encoding["opacity"] = _faded(1.0, 0.15)
        # where series coincide (branches before they part) the later would hide the
        # earlier: each is drawn thinner than the one before, so all stay visible
        step = (WIDEST - THINNEST) / (len(order) - 1)
        widths = [round(WIDEST - i * step, 2) for i in range(len(order))]
        encoding["strokeWidth"] = {
            "field": SERIES,
            "type": "nominal",
            "sort": order,
            "scale": {"type": "ordinal", "domain": order, "range": widths},
            "legend": None,
        }
        line["mark"] = {"type": "line", "point": True}  # the encoded width must not be overridden
        line["params"] = [_legend_pick()]
    line["encoding"] = encoding
    layers = [line]
    if marker is not None:
        turn, label = marker
        rule: dict[str, Any] = {
            "data": {"values": [{"turn": turn, "label": label}]},
            "encoding": {"x": {"field": "turn", "type": "quantitative"}},
        }
        layers.append({**rule, "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#888"}})
        layers.append(
            {
                **rule,
                "mark": {
                    "type": "text",
                    "align": "left",
                    "baseline": "top",
                    "dx": 4,
                    "y": 2,
                    "color": "#555",
                },
                "encoding": {**rule["encoding"], "text": {"field": "label"}},
            }
        )
    return {**_base(title, subtitle, values), "width": WIDTH, "height": HEIGHT, "layer": layers}


def means(
    title: str,
    x_title: str,
    rows: Iterable[tuple[str, int, float | None, float | None, float | None]],
    *,
    subtitle: str = "",
) -> dict[str, Any]:
    """Means with their 95% confidence intervals as error bars, one row per group
    (``(label, n, mean, low, high)``; a group without an interval draws only its mean)."""
    values = [
        {"group": g, "n": n, "mean": _clean(m), "low": _clean(lo), "high": _clean(hi)}
        for g, n, m, lo, hi in rows
    ]
    order = [v["group"] for v in values]
    y = {
        "field": "group",
        "type": "nominal",
        "title": None,
        "sort": order,
        "axis": {"labelLimit": 260},
    }
    tooltip = [
        {"field": "group", "title": "variation"},
        {"field": "n", "title": "runs"},
        {"field": "mean", "title": "mean", "format": _NUMBER},
        {"field": "low", "title": "95% CI from", "format": _NUMBER},
        {"field": "high", "title": "95% CI to", "format": _NUMBER},
    ]
    x = {"type": "quantitative", "title": x_title, "scale": {"zero": False}}
    return {
        **_base(title, subtitle, values),
        "width": WIDTH,
        "height": max(ROW * len(values), MIN_HEIGHT),
        "layer": [
            {
                "mark": {"type": "rule", "strokeWidth": 2, "color": "#4c78a8"},
                "encoding": {
                    "y": y,
                    "x": {**x, "field": "low"},
                    "x2": {"field": "high"},
                    "tooltip": tooltip,
                },
            },
            {
                "mark": {"type": "point", "filled": True, "size": 70, "color": "#1f3f66"},
                "encoding": {"y": y, "x": {**x, "field": "mean"}, "tooltip": tooltip},
            },
        ],
    }


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values by linear interpolation between order
    statistics (numpy's default, R's type 7)."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


BANDS = ((0.1, 0.9), (0.25, 0.75))  # outer and inner band of a fan chart


def fan_rows(group: str, per_turn: dict[int, list[float]]) -> list[dict[str, Any]]:
    """A fan chart's rows for one group: per turn the runs' count, median and bands."""
    out = []
    for turn in sorted(per_turn):
        ordered = sorted(per_turn[turn])
        if not ordered:
            continue
        row: dict[str, Any] = {SERIES: group, "turn": turn, "n": len(ordered)}
        row["median"] = quantile(ordered, 0.5)
        for lo, hi in BANDS:
            row[f"p{round(100 * lo)}"] = quantile(ordered, lo)
            row[f"p{round(100 * hi)}"] = quantile(ordered, hi)
        out.append(row)
    return out


def fan(
    title: str, y_title: str, rows: list[dict[str, Any]], *, subtitle: str = ""
) -> dict[str, Any]:
    """Fan charts: per group (``fan_rows``) the median over turns and the bands where the
    middle 80% and 50% of the runs lie. Up to ``MAX_OVERLAID`` groups share one plot
    (click the legend to bring one forward); more get a small plot each."""
    order = list(dict.fromkeys(str(r[SERIES]) for r in rows))
    y = {"type": "quantitative", "title": y_title, "scale": {"zero": False}}
    tooltip = [
        {"field": SERIES, "title": "variation"},
        {"field": "turn", "title": "turn"},
        {"field": "n", "title": "runs"},
        {"field": "median", "title": "median", "format": _NUMBER},
        {"field": "p25", "title": "25th percentile", "format": _NUMBER},
        {"field": "p75", "title": "75th percentile", "format": _NUMBER},
        {"field": "p10", "title": "10th percentile", "format": _NUMBER},
        {"field": "p90", "title": "90th percentile", "format": _NUMBER},
    ]
    # the legend would take the faint opacity of the bands: its symbols are drawn solid
    color = {**_color("variation", order), "legend": {"symbolOpacity": 1}}
    layers: list[dict[str, Any]] = [
        {
            "mark": {"type": "area", "line": False},
            "encoding": {
                "x": _turn_axis(),
                "y": {**y, "field": f"p{round(100 * lo)}"},
                "y2": {"field": f"p{round(100 * hi)}"},
                "color": color,
                "opacity": _faded(strength, 0.04),
            },
        }
        for (lo, hi), strength in zip(BANDS, (0.15, 0.3), strict=True)
    ]
    layers.append(
        {
            "mark": {"type": "line", "point": True, "strokeWidth": 2},
            "params": [_legend_pick()],
            "encoding": {
                "x": _turn_axis(),
                "y": {**y, "field": "median"},
                "color": color,
                "opacity": _faded(1.0, 0.15),
                "tooltip": tooltip,
            },
        }
    )
    base = _base(title, subtitle, rows)
    if len(order) <= MAX_OVERLAID:
        return {**base, "width": WIDTH, "height": HEIGHT, "layer": layers}
    return {
        **base,
        "facet": {
            "field": SERIES,
            "type": "nominal",
            "title": None,
            "sort": order,
            "header": {"labelFontSize": 12, "labelLimit": PANEL_WIDTH},
        },
        "columns": 3,
        "spec": {"width": PANEL_WIDTH, "height": PANEL_HEIGHT, "layer": layers},
    }
