"""What a batch query returns: each run's and variation's status, the statistics of the
completed runs' final metric values, and two batches compared. Plain values (msgspec
Structs) with no database or engine import, so the application layer can name them
cheaply."""

from __future__ import annotations

from typing import Any

import msgspec

from engine.batch.sample_stats import MeanDifference, Summary


# omit_defaults: ``detail`` appears (in JSON) only for a halted or failed run
class RunStatus(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One planned run: where it stands, what it cost, and why it was cut short."""

    run_id: str
    index: int  # position in the plan
    variation: int
    replicate: int
    seed: int
    status: str  # one of STATUSES
    halt_reason: str | None  # a halted run's reason, a failed run's error type
    turns_completed: int
    cost_usd: float  # the run's own spending (a fork's inherited calls are its parent's)
    detail: str | None = None  # a halted or failed run's detail text
    why: str  # one line for a person; "" for a completed run


class VariationStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One variation of the plan: its runs by status and their cost."""

    index: int
    name: str  # as the batch commands print it, e.g. "x=1, y=2" or "base scenario"
    label: dict[str, Any]  # setting -> value
    planned: int
    counts: dict[str, int]  # status (STATUSES, in that order) -> runs
    cost_usd: float
    mean_cost_per_run_usd: float
    completed: int


class BatchStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A batch's plan and every planned run's status."""

    batch_id: str
    name: str
    kind: str  # "matrix" or "continuations"
    description: str
    source: str  # the batch file, or "run <id> at turn <n>"
    created_at: str
    config: dict[str, Any]  # the resolved batch file (or the continuation request)
    config_sha256: str
    base_scenario_sha256: str | None
    runs_planned: int
    counts: dict[str, int]  # status (STATUSES, in that order) -> runs
    cost_usd: float
    budget_usd: float | None
    budget_spent: bool
    variations: tuple[VariationStatus, ...]
    runs: tuple[RunStatus, ...]
    cut_short: tuple[RunStatus, ...]  # the runs that are not completed


class VariationStats(msgspec.Struct, frozen=True, kw_only=True):
    """A variation's ``Summary`` of each metric's final values (every metric of the
    batch, with n = 0 where no completed run of the variation has a value)."""

    index: int
    name: str
    label: dict[str, Any]
    metrics: dict[str, Summary]  # metric key (``metric_key``) -> summary


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    """Two variations whose means of a metric differ (Welch, p < 0.05)."""

    metric: str
    a: int  # variation index
    b: int
    mean_a: float
    mean_b: float
    difference: float  # mean_a - mean_b
    t: float | None  # None: no spread on either side, the difference is exact
    df: float | None
    p: float
    p_holm: float  # adjusted over every pair tested


class Placement(msgspec.Struct, frozen=True, kw_only=True):
    """Where the original run's value of a metric falls among the branches' values."""

    value: float
    branches: int  # completed branches with a value
    below: float | None  # share of them under ``value``, ties half; None without any


class OriginalRun(msgspec.Struct, frozen=True, kw_only=True):
    """Continuations: the run the branches continue, compared at their horizon."""

    run_id: str
    status: str
    turns_completed: int
    horizon: int | None  # the turn every completed branch ended on, if they agree
    metrics: dict[str, Placement]


class BatchStats(msgspec.Struct, frozen=True, kw_only=True):
    """``BatchStatus`` plus the statistics of the completed runs' final metric values."""

    status: BatchStatus
    metrics: tuple[str, ...]  # every metric key any completed run recorded, sorted
    variations: tuple[VariationStats, ...]
    significant: tuple[Difference, ...]
    tests: int  # pairs tested (for the Holm correction)
    test: str  # what was tested, in words
    original: OriginalRun | None  # continuations only


# -- two batches compared (engine.batch.compare) ------------------------------------


class ComparedSet(msgspec.Struct, frozen=True, kw_only=True):
    """One side of a comparison: which batch, of what, and how many runs completed."""

    batch_id: str
    name: str
    kind: str  # matrix or continuations
    scenario: str
    source: str
    variations: int  # a batch file's variations are pooled into one sample
    runs_planned: int
    completed: int
    parent_run_id: str | None  # continuations: the run they continue
    at_turn: int | None
    edit: dict[str, Any] | None  # continuations: what every branch changed, if anything
    paired_seeds: bool  # made with ``paired`` (seeds shared with any paired set)


class TurnDifference(msgspec.Struct, frozen=True, kw_only=True):
    """A metric's difference ``B - A`` at the end of one turn."""

    turn: int
    stats: MeanDifference


class MetricComparison(msgspec.Struct, frozen=True, kw_only=True):
    """One metric: its difference at every turn either side recorded (after the turns
    both share), and of the final values (each run's last recorded value), with each
    side's summary of its final values (every completed run's, paired or not)."""

    metric: str
    final: MeanDifference
    final_a: Summary
    final_b: Summary
    turns: tuple[TurnDifference, ...]


class BatchComparison(msgspec.Struct, frozen=True, kw_only=True):
    """Two batches compared (``B - A``), metric by metric and turn by turn."""

    a: ComparedSet
    b: ComparedSet
    paired: bool
    pairs: int  # planned pairs (0 unless paired)
    shared_until_turn: int | None  # continuations of one fork point share turns 0..N
    test: str  # what was computed, in words
    metrics: tuple[MetricComparison, ...]  # the metrics both sides recorded
    only_a: tuple[str, ...]  # metrics only A's runs recorded (not compared)
    only_b: tuple[str, ...]
    completed_a: tuple[str, ...]  # run ids of A's completed runs (the sample)
    completed_b: tuple[str, ...]
