"""The charts of a batch report: per metric, the variations' means with their 95%
confidence intervals, and a fan chart of the runs' values over the turns.

The statistics (n, mean, interval) come from the batch statistics the report's tables
show, so chart and table cannot disagree; the per-turn values of the fan charts are
read from the completed runs' ``MetricRecorded`` events (each turn's last value).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from engine.batch.trajectories import Trajectories

from .charts import Chart, Line, fan, fan_rows, means


@dataclass(frozen=True)
class Group:
    """One variation of a batch as a metric's charts show it."""

    label: str
    n: int  # completed runs with a value (the mean's sample)
    mean: float | None
    ci95: Sequence[float] | None  # (low, high) of the mean; None below two values
    run_ids: tuple[str, ...]  # its completed runs


def metric_charts(
    metric: str, groups: Sequence[Group], runs: Trajectories, mermaid: Sequence[str]
) -> list[Line]:
    """The metric's two charts: means with intervals (printed markdown keeps ``mermaid``,
    the bar chart of the means, in its place) and the fan chart (drawn forms only)."""
    rows = [(g.label, g.n, g.mean, *(g.ci95 if g.ci95 else (None, None))) for g in groups if g.n]
    out: list[Line] = [
        Chart(
            f"means-{metric}",
            f"{metric}: mean of the final values by variation, with 95% confidence intervals",
            means(
                f"{metric}: final value by variation",
                f"{metric} (mean, 95% CI)",
                rows,
                subtitle="mean of the completed runs' final values; bars: 95% confidence interval",
            ),
            tuple(mermaid),
        )
    ]
    fans = []
    for g in groups:
        per_turn: dict[int, list[float]] = defaultdict(list)
        for run in g.run_ids:
            for turn, value in runs.get(run, {}).get(metric, {}).items():
                per_turn[turn].append(value)
        fans += fan_rows(g.label, per_turn)
    if fans:
        out += [
            "",
            Chart(
                f"fan-{metric}",
                f"{metric} over the turns by variation: median and the bands of the middle 50% and 80% of runs",
                fan(
                    f"{metric} over the turns",
                    metric,
                    fans,
                    subtitle="median of the completed runs; bands: middle 50% and 80% of them",
                ),
            ),
        ]
    return out
