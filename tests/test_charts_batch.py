"""Charts of a batch report: per metric the variations' means with 95% intervals (the
table's very numbers) and fan charts of the runs over the turns, as SVG files beside the
markdown or in one HTML page; printed markdown keeps its Mermaid bars."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.batch.stats import batch_stats
from eventstore import EventStore
from projections import batch_report_document
from tests.chart_helpers import assert_self_contained, image_links, svg_texts, vega_cache
from tests.engine_helpers import RULES3, cli
from tests.test_batch_helpers import bcli, last_line, write_batch

__all__ = ["vega_cache"]  # a fixture


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("batch")
    path = write_batch(
        tmp,
        "b.yaml",
        {
            "experiment_name": "Calm or tense start",
            "base_scenario": str(RULES3),
            "runs_per_variation": 3,
            "seed": 5,
            "variations": [
                {
                    "type": "scenario_parameter",
                    "parameter": "variables.tension.initial",
                    "values": [2, 8],
                }
            ],
        },
    )
    db = tmp / "log.db"
    result = bcli("batch", "run", path, "--db", db)
    assert result.exit_code == 0, result.output
    return db, last_line(result.stdout)


def test_the_markdown_links_means_and_fan_charts_per_metric(
    batch: tuple[Path, str], tmp_path: Path
) -> None:
    db, batch_id = batch
    with EventStore.open(db) as store:
        batch_report_document(store, batch_id).write(tmp_path / "b.md")
    text = (tmp_path / "b.md").read_text()
    assert image_links(text) == [
        f"b_files/{kind}-{metric}.svg"
        for metric in ("tension", "trade")
        for kind in ("means", "fan")
    ]
    assert "xychart-beta" not in text
    means = svg_texts(tmp_path / "b_files" / "means-tension.svg")
    assert {"tension: final value by variation", "tension (mean, 95% CI)", "0: 2", "1: 8"} <= set(means)  # fmt: skip
    fan = svg_texts(tmp_path / "b_files" / "fan-trade.svg")
    assert {"trade over the turns", "turn", "trade", "variation", "0: 2", "1: 8"} <= set(fan)


def test_the_charts_show_the_tables_numbers(batch: tuple[Path, str]) -> None:
    db, batch_id = batch
    with EventStore.open(db) as store:
        doc = batch_report_document(store, batch_id)
        stats = batch_stats(store, batch_id)
    specs = {c.slug: c.spec for c in doc.charts()}
    shown = specs["means-tension"]["data"]["values"]
    for v, row in zip(stats.variations, shown, strict=True):
        d = v.metrics["tension"]
        assert (row["n"], row["mean"], (row["low"], row["high"])) == (d.n, d.mean, d.ci95)
    fans = specs["fan-tension"]["data"]["values"]
    last = max(r["turn"] for r in fans)
    for v in stats.variations:
        [row] = [r for r in fans if r["turn"] == last and r["series"].startswith(f"{v.index}:")]
        d = v.metrics["tension"]
        # every run plays every turn, so the last turn's spread is the final values'
        assert row["n"] == d.n == 3
        assert row["median"] == pytest.approx(d.median)
        assert d.min is not None and d.max is not None
        assert d.min <= row["p10"] and row["p90"] <= d.max
    start = [r for r in fans if r["turn"] == 0]
    assert sorted(r["median"] for r in start) == [2, 8]  # the varied initial tension


def test_printed_markdown_keeps_the_mermaid_bars_only(batch: tuple[Path, str]) -> None:
    db, batch_id = batch
    with EventStore.open(db) as store:
        text = batch_report_document(store, batch_id).markdown()
    assert text.count("```mermaid\nxychart-beta") == 2 and "![" not in text


def test_report_batch_as_html_through_the_cli(
    batch: tuple[Path, str], tmp_path: Path, vega_cache: Path
) -> None:
    db, batch_id = batch
    out = tmp_path / "b.html"
    result = cli("report", "--batch", batch_id, "--db", db, "--format", "html", "-o", out)
    assert result.exit_code == 0, result.output
    parts = assert_self_contained(out.read_text())
    assert [s["title"]["text"] for s in parts.specs()] == [
        "tension: final value by variation",
        "tension over the turns",
        "trade: final value by variation",
        "trade over the turns",
    ]


def test_continuations_fan_out_from_the_shared_turns(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    parent = last_line(cli("run", RULES3, "--db", db, "--seed", "2").stdout)
    made = cli("fork", parent, "--at-turn", "2", "--play", "--count", "4", "--db", db)
    assert made.exit_code == 0, made.output
    with EventStore.open(db) as store:
        doc = batch_report_document(store, last_line(made.stdout))
    fans = {c.slug: c.spec for c in doc.charts()}["fan-tension"]["data"]["values"]
    by_turn = {r["turn"]: r for r in fans}
    for turn in (0, 1, 2):  # inherited: every branch has the parent's value
        assert by_turn[turn]["p10"] == by_turn[turn]["p90"] and by_turn[turn]["n"] == 4
    spread = [by_turn[t]["p90"] - by_turn[t]["p10"] for t in (3, 4)]
    assert min(spread) > 0  # then they part
