"""What a batch did and what it found: status per run and variation, metric statistics.

``batch_status`` says where every planned run stands (completed, halted, failed,
interrupted, running, not started) and why a run was cut short. ``batch_stats`` adds,
per variation and metric, the ``Summary`` of the final values of the completed runs
(n, mean, sample standard deviation, 95% confidence interval of the mean from Student's
t, min, median, max), and the pairs of variations whose means differ by Welch's
two-sided t-test at p < 0.05. The statistics themselves are ``engine.batch.sample_stats``,
which the analytics table ``variation_stats`` uses too.

Results are frozen msgspec Structs; ``msgspec.to_builtins`` gives their JSON form.
"""

from __future__ import annotations

import math
from itertools import combinations

from engine.batch.outcomes import is_batch_budget, own_costs, run_ends
from engine.batch.plan import BatchPlan, batch_plan
from engine.batch.results import (
    BatchStats,
    BatchStatus,
    Difference,
    OriginalRun,
    Placement,
    RunStatus,
    VariationStats,
    VariationStatus,
)
from engine.batch.sample_stats import Summary, describe, holm, welch
from engine.batch.trajectories import metric_key
from engine.replay import replay
from engine.summary import summarize
from eventstore import EventStore

STATUSES = ("completed", "halted", "failed", "interrupted", "running", "not_started")
ALPHA = 0.05
TEST = (
    "Welch's two-sided t-test on the final values of completed runs, p < 0.05; "
    "p (Holm) is the Holm-Bonferroni adjusted p over all the pairs tested"
)

# -- status ----------------------------------------------------------------------------


def batch_status(store: EventStore, batch_ref: str) -> BatchStatus:
    """Every planned run's status, cost and (when cut short) why; counts per variation."""
    batch_id, plan = batch_plan(store, batch_ref)
    row = store.batch(batch_id)
    infos = {info.run_id: info for info in store.list_runs(batch_id=batch_id)}
    costs = own_costs(store, batch_id)
    ends = run_ends(store, batch_id)
    limit = plan.budget_usd
    spent = sum(costs.values())
    budget_hit = limit is not None and (
        spent >= limit - 1e-9 or any(is_batch_budget(r, d) for r, d in ends.values())
    )
    runs = []
    for pr in plan.runs:
        info = infos.get(pr.run_id)
        status, turns, reason, detail = "not_started", 0, None, None
        if info is not None:
            s = summarize(store, info)
            status, turns = s.status, s.turns_completed
            if status in ("halted", "failed"):
                reason, detail = ends.get(pr.run_id, (None, ""))
        runs.append(
            RunStatus(
                run_id=pr.run_id,
                index=pr.index,
                variation=pr.variation,
                replicate=pr.replicate,
                seed=pr.seed,
                status=status,
                halt_reason=reason,
                turns_completed=turns,
                cost_usd=round(costs.get(pr.run_id, 0.0), 8),
                detail=detail,
                why=_why(status, reason, detail or "", budget_hit, batch_id),
            )
        )
    return BatchStatus(
        batch_id=batch_id,
        name=plan.name,
        kind=plan.kind,
        description=plan.description,
        source=plan.source,
        created_at=row["created_at"],
        config=plan.config,
        config_sha256=row["config_sha256"],
        base_scenario_sha256=plan.base.sha256 if plan.base is not None else None,
        runs_planned=len(plan.runs),
        counts=_counts(runs),
        cost_usd=round(spent, 8),
        budget_usd=limit,
        budget_spent=budget_hit,
        variations=_variations(plan, runs),
        runs=tuple(runs),
        cut_short=tuple(r for r in runs if r.status != "completed"),
    )


def _counts(runs: list[RunStatus]) -> dict[str, int]:
    return {s: sum(1 for r in runs if r.status == s) for s in STATUSES}


def _variations(plan: BatchPlan, runs: list[RunStatus]) -> tuple[VariationStatus, ...]:
    out = []
    for v in plan.variations:
        mine = [r for r in runs if r.variation == v.index]
        counts = _counts(mine)
        cost = sum(r.cost_usd for r in mine)
        out.append(
            VariationStatus(
                index=v.index,
                name=v.name,
                label=v.label,
                planned=len(mine),
                counts=counts,
                cost_usd=round(cost, 8),
                mean_cost_per_run_usd=round(cost / len(mine), 8) if mine else 0.0,
                completed=counts["completed"],
            )
        )
    return tuple(out)


def _why(status: str, reason: str | None, detail: str, budget_hit: bool, batch_id: str) -> str:
    if status == "completed":
        return ""
    if status == "not_started":
        if budget_hit:
            return "not started: the batch budget was spent"
        return f"not started yet: `scenario-lab batch resume {batch_id}` starts it"
    if status == "halted":
        if is_batch_budget(reason, detail):
            # the engine's hint speaks of a run's credit limit; the budget is the batch's
            detail = detail.removesuffix(" (resume with a higher --credit-limit)")
            return f"halted by the batch budget: {detail}"
        if reason == "credit_limit":
            return f"halted by its cost_per_run_limit: {detail}"
        return f"halted ({reason}): {detail}"
    if status == "failed":
        return f"failed ({reason}): {detail}"
    if status == "interrupted":
        return f"interrupted (its process died): `scenario-lab batch resume {batch_id}` finishes it"
    return "being played by a live process"


# -- statistics ------------------------------------------------------------------------


def final_metrics(store: EventStore, run_id: str, to_turn: int | None = None) -> dict[str, float]:
    """The last recorded value of each (metric, actor) of the run's timeline (up to the
    end of ``to_turn`` when given)."""
    latest = replay(store, run_id, to_turn=to_turn).metrics.latest
    return {metric_key(n, a): float(v) for (n, a), v in latest.items() if v is not None}


def batch_stats(store: EventStore, batch_ref: str) -> BatchStats:
    """``batch_status`` plus, per variation and metric, statistics of the final values
    of the completed runs, and the variation pairs that differ significantly."""
    status = batch_status(store, batch_ref)
    values: dict[int, dict[str, list[float]]] = {v.index: {} for v in status.variations}
    for run in status.runs:
        if run.status != "completed":
            continue
        for key, value in final_metrics(store, run.run_id).items():
            values[run.variation].setdefault(key, []).append(value)
    metrics = tuple(sorted({k for per in values.values() for k in per}))
    variations = tuple(
        VariationStats(
            index=v.index,
            name=v.name,
            label=v.label,
            metrics={m: describe(values[v.index].get(m, [])) for m in metrics},
        )
        for v in status.variations
    )
    tested = []  # (metric, a, b, result) of every test, for the Holm adjustment
    for m in metrics:
        for a, b in combinations(variations, 2):
            result = welch(values[a.index].get(m, []), values[b.index].get(m, []))
            if result is not None:
                tested.append((m, a, b, result))
    adjusted = holm([result.p for *_, result in tested])
    pairs = []
    for m, a, b, result in tested:
        if result.p < ALPHA:
            # welch tested both: each side has at least two values, so a mean
            mean_a, mean_b = _mean(a.metrics[m]), _mean(b.metrics[m])
            pairs.append(
                Difference(
                    metric=m,
                    a=a.index,
                    b=b.index,
                    mean_a=mean_a,
                    mean_b=mean_b,
                    difference=mean_a - mean_b,
                    t=_finite(result.t),
                    df=_finite(result.df),
                    p=result.p,
                    p_holm=adjusted[result.p],
                )
            )
    original = None
    if status.kind == "continuations":
        [branches] = values.values()  # continuations are one variation
        ends = {r.turns_completed for r in status.runs if r.status == "completed"}
        horizon = ends.pop() if len(ends) == 1 else None
        original = _original(store, status.config["parent_run_id"], branches, horizon)
    return BatchStats(
        status=status,
        metrics=metrics,
        variations=variations,
        significant=tuple(pairs),
        tests=len(tested),
        test=TEST,
        original=original,
    )


def _mean(summary: Summary) -> float:
    if summary.mean is None:
        raise ValueError("a variation tested without values")  # welch needs two a side
    return summary.mean


def _original(
    store: EventStore, run_id: str, branches: dict[str, list[float]], horizon: int | None
) -> OriginalRun:
    """Where the run the branches continue stood, among the branches' final values.

    Compared at ``horizon``, the turn every completed branch ended on (``fork --count
    --turns`` may play them longer or shorter than the original), so like is compared
    with like; an original that stopped before it has no outcome there. ``below`` is the
    share of completed branches that ended under the original's value, ties counting
    half: 0.5 means what happened was the typical outcome from the fork point, near 0
    or 1 that it was an outlier.
    """
    summary = summarize(store, store.run_info(run_id))
    reached = summary.turns_completed
    placements: dict[str, Placement] = {}
    if horizon is None or horizon <= reached:  # else it never got there: nothing to place
        for key, value in sorted(final_metrics(store, run_id, to_turn=horizon).items()):
            others = branches.get(key, [])
            below = (
                (sum(x < value for x in others) + 0.5 * sum(x == value for x in others))
                / len(others)
                if others
                else None
            )
            placements[key] = Placement(value=value, branches=len(others), below=below)
    return OriginalRun(
        run_id=run_id,
        status=summary.status,
        turns_completed=reached,
        horizon=horizon,
        metrics=placements,
    )


def _finite(x: float) -> float | None:
    """JSON has no infinity: an exact difference (no spread) reads as null."""
    return x if math.isfinite(x) else None
