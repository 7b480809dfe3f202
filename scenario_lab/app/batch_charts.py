"""A batch's statistics as data for charts: per variation and metric the mean of the
final values with its 95% confidence interval (``BatchStats``), the significance table,
and fan charts (median and percentile bands per turn) of every metric, per variation
and pooled.

The batch report draws the same numbers (``projections``' batch report uses the same
``batch_stats`` and ``fan_rows``); this is their JSON form for a browser to draw live.
"""

from __future__ import annotations

from collections import defaultdict

import msgspec

# plain Structs with no database or engine import: cheap to name here
from engine.batch.results import BatchStats

from .settings import LabSettings
from .store import open_store

# runs whose turns feed the fan charts: the ones that have played (or play) to the end
_FAN_STATUSES = ("completed", "running")


class FanPoint(msgspec.Struct, frozen=True, kw_only=True):
    """One turn of a fan chart: how many runs have a value, their median and bands."""

    turn: int
    n: int
    median: float
    p10: float
    p25: float
    p75: float
    p90: float


class MetricFan(msgspec.Struct, frozen=True, kw_only=True):
    """A metric's values over the turns across a variation's runs (``variation`` None:
    every run of the batch pooled)."""

    metric: str
    variation: int | None
    points: tuple[FanPoint, ...]


class BatchStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """``stats``: status, per-variation summaries (mean, 95% CI) of each metric's final
    values over the completed runs, and the significant differences; ``fans``: each
    metric's trajectory bands over the completed and running runs."""

    stats: BatchStats
    fans: tuple[MetricFan, ...]
    fan_runs: int  # runs the fans are drawn from


def batch_statistics(settings: LabSettings, batch_ref: str) -> BatchStatistics:
    """The statistics and fan charts of the batch ``batch_ref`` (an id or unique prefix)."""
    from engine.batch.stats import batch_stats
    from engine.batch.trajectories import trajectories
    from projections.charts import fan_rows

    with open_store(settings) as store:
        stats = batch_stats(store, batch_ref)
        runs = [r for r in stats.status.runs if r.status in _FAN_STATUSES and r.turns_completed > 0]
        paths = trajectories(store, (r.run_id for r in runs))
    # metric -> variation (None: pooled) -> turn -> values
    values: dict[str, dict[int | None, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for run in runs:
        for metric, turns in paths.get(run.run_id, {}).items():
            for turn, value in turns.items():
                values[metric][run.variation][turn].append(value)
                values[metric][None][turn].append(value)
    fans = []
    for metric in sorted(values):
        per_variation = values[metric]
        for variation in sorted(per_variation, key=lambda v: -1 if v is None else v):
            rows = fan_rows("", dict(per_variation[variation]))
            points = tuple(
                FanPoint(
                    turn=r["turn"],
                    n=r["n"],
                    median=r["median"],
                    p10=r["p10"],
                    p25=r["p25"],
                    p75=r["p75"],
                    p90=r["p90"],
                )
                for r in rows
            )
            fans.append(MetricFan(metric=metric, variation=variation, points=points))
    return BatchStatistics(stats=stats, fans=tuple(fans), fan_runs=len(runs))
