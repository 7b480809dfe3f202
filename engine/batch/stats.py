"""What a batch did and what it found: status per run and variation, metric statistics.

``batch_status`` says where every planned run stands (completed, halted, failed,
interrupted, running, not started) and why a run was cut short. ``batch_stats`` adds,
per variation and metric, the final values' n, mean, sample standard deviation, 95%
confidence interval of the mean (Student's t), min, median and max over the completed
runs, and the pairs of variations whose means differ by Welch's two-sided t-test at
p < 0.05. The t distribution comes from the regularized incomplete beta function
(Numerical Recipes' continued fraction); no scipy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from engine.batch.plan import batch_plan
from engine.batch.play import is_batch_budget, own_costs, run_ends
from engine.replay import replay
from engine.summary import summarize
from eventstore import EventStore

STATUSES = ("completed", "halted", "failed", "interrupted", "running", "not_started")
ALPHA = 0.05
TEST = (
    "Welch's two-sided t-test on the final values of completed runs, p < 0.05; "
    "p (Holm) is the Holm-Bonferroni adjusted p over all the pairs tested"
)

# -- the t distribution ----------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` (real, > 0) degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(q: float, df: float) -> float:
    """The t with P(T <= t) = q, for 0.5 <= q < 1 (bisection on the two-sided p)."""
    if not 0.5 <= q < 1.0:
        raise ValueError(f"t_quantile needs 0.5 <= q < 1, got {q}")
    target = 2.0 * (1.0 - q)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Welch:
    t: float
    df: float
    p: float


def welch(a: Sequence[float], b: Sequence[float]) -> Welch | None:
    """Welch's two-sided t-test of equal means; None with fewer than 2 values a side.

    Two samples without spread: equal means give p = 1, different ones p = 0 (the
    difference is exact, t infinite).
    """
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se2 = va + vb
    if se2 == 0.0:
        return Welch(0.0, math.inf, 1.0) if ma == mb else Welch(math.inf, math.inf, 0.0)
    t = (ma - mb) / math.sqrt(se2)
    df = se2 * se2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    return Welch(t, df, t_two_sided_p(t, df))


def describe(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, stddev (sample), ci95 of the mean, min, median, max; None where undefined."""
    n = len(values)
    if n == 0:
        return {
            "n": 0,
            "mean": None,
            "stddev": None,
            "ci95": None,
            "min": None,
            "median": None,
            "max": None,
        }
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if n > 1 else None
    ci = None
    if sd is not None:
        half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
        ci = [mean - half, mean + half]
    return {
        "n": n,
        "mean": mean,
        "stddev": sd,
        "ci95": ci,
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


# -- status ----------------------------------------------------------------------------


def batch_status(store: EventStore, batch_ref: str) -> dict[str, Any]:
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
        entry: dict[str, Any] = {
            "run_id": pr.run_id,
            "index": pr.index,
            "variation": pr.variation,
            "replicate": pr.replicate,
            "seed": pr.seed,
            "status": "not_started",
            "halt_reason": None,
            "turns_completed": 0,
            "cost_usd": round(costs.get(pr.run_id, 0.0), 8),
        }
        if info is not None:
            s = summarize(store, info)
            entry.update(status=s.status, turns_completed=s.turns_completed)
            reason, detail = ends.get(pr.run_id, (None, ""))
            if s.status in ("halted", "failed"):
                entry.update(halt_reason=reason, detail=detail)
        entry["why"] = _why(entry, budget_hit, batch_id)
        runs.append(entry)
    variations = []
    for v in plan.variations:
        mine = [r for r in runs if r["variation"] == v.index]
        counts = {s: sum(1 for r in mine if r["status"] == s) for s in STATUSES}
        cost = sum(r["cost_usd"] for r in mine)
        completed = counts["completed"]
        variations.append(
            {
                "index": v.index,
                "name": v.name,
                "label": v.label,
                "planned": len(mine),
                "counts": counts,
                "cost_usd": round(cost, 8),
                "mean_cost_per_run_usd": round(cost / len(mine), 8) if mine else 0.0,
                "completed": completed,
            }
        )
    return {
        "batch_id": batch_id,
        "name": plan.name,
        "kind": plan.kind,
        "description": plan.description,
        "source": plan.source,
        "created_at": row["created_at"],
        "config": plan.config,
        "config_sha256": row["config_sha256"],
        "base_scenario_sha256": plan.base.sha256 if plan.base is not None else None,
        "runs_planned": len(plan.runs),
        "counts": {s: sum(1 for r in runs if r["status"] == s) for s in STATUSES},
        "cost_usd": round(spent, 8),
        "budget_usd": limit,
        "budget_spent": budget_hit,
        "variations": variations,
        "runs": runs,
        "cut_short": [r for r in runs if r["status"] != "completed"],
    }


def _why(run: dict[str, Any], budget_hit: bool, batch_id: str) -> str:
    status, reason, detail = run["status"], run["halt_reason"], run.get("detail", "")
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


def metric_key(name: str, actor: str | None) -> str:
    """A metric's name, with ``/actor`` for an actor-specific one (as replay --json)."""
    return name if actor is None else f"{name}/{actor}"


def final_metrics(store: EventStore, run_id: str, to_turn: int | None = None) -> dict[str, float]:
    """The last recorded value of each (metric, actor) of the run's timeline (up to the
    end of ``to_turn`` when given)."""
    latest = replay(store, run_id, to_turn=to_turn).metrics.latest
    return {metric_key(n, a): float(v) for (n, a), v in latest.items() if v is not None}


def batch_stats(store: EventStore, batch_ref: str) -> dict[str, Any]:
    """``batch_status`` plus, per variation and metric, statistics of the final values
    of the completed runs, and the variation pairs that differ significantly."""
    status = batch_status(store, batch_ref)
    values: dict[int, dict[str, list[float]]] = {v["index"]: {} for v in status["variations"]}
    for run in status["runs"]:
        if run["status"] != "completed":
            continue
        for key, value in final_metrics(store, run["run_id"]).items():
            values[run["variation"]].setdefault(key, []).append(value)
    metrics = sorted({k for per in values.values() for k in per})
    for v in status["variations"]:
        v["metrics"] = {m: describe(values[v["index"]].get(m, [])) for m in metrics}
    pairs = []
    p_values = []  # of every test, for the Holm adjustment
    for m in metrics:
        for a, b in combinations(status["variations"], 2):
            result = welch(values[a["index"]].get(m, []), values[b["index"]].get(m, []))
            if result is None:
                continue
            p_values.append(result.p)
            if result.p < ALPHA:
                mean_a, mean_b = a["metrics"][m]["mean"], b["metrics"][m]["mean"]
                pairs.append(
                    {
                        "metric": m,
                        "a": a["index"],
                        "b": b["index"],
                        "mean_a": mean_a,
                        "mean_b": mean_b,
                        "difference": mean_a - mean_b,
                        "t": _finite(result.t),
                        "df": _finite(result.df),
                        "p": result.p,
                    }
                )
    adjusted = holm(p_values)
    for pair in pairs:
        pair["p_holm"] = adjusted[pair["p"]]
    status.update(metrics=metrics, significant=pairs, tests=len(p_values), test=TEST)
    if status["kind"] == "continuations":
        [branches] = values.values()  # continuations are one variation
        ends = {r["turns_completed"] for r in status["runs"] if r["status"] == "completed"}
        horizon = ends.pop() if len(ends) == 1 else None
        status["original"] = _original(store, status["config"]["parent_run_id"], branches, horizon)
    return status


def _original(
    store: EventStore, run_id: str, branches: dict[str, list[float]], horizon: int | None
) -> dict[str, Any]:
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
    out: dict[str, Any] = {
        "run_id": run_id,
        "status": summary.status,
        "turns_completed": reached,
        "horizon": horizon,
        "metrics": {},
    }
    if horizon is not None and horizon > reached:
        return out  # it never got there: nothing to place
    finals = final_metrics(store, run_id, to_turn=horizon)
    for key, value in sorted(finals.items()):
        others = branches.get(key, [])
        below = (
            (sum(x < value for x in others) + 0.5 * sum(x == value for x in others)) / len(others)
            if others
            else None
        )
        out["metrics"][key] = {"value": value, "branches": len(others), "below": below}
    return out


def holm(p_values: Sequence[float]) -> dict[float, float]:
    """Holm-Bonferroni adjusted p of each p among ``p_values`` (tested together).

    With m tests in ascending order, the i-th (from 0) is multiplied by m - i, and each
    adjusted p is at least the one before it, capped at 1. Equal p values get equal
    adjusted ones, so a mapping from p serves.
    """
    m = len(p_values)
    out: dict[float, float] = {}
    running = 0.0
    for i, p in enumerate(sorted(p_values)):
        running = max(running, min(1.0, (m - i) * p))
        out.setdefault(p, running)
    return out


def _finite(x: float) -> float | None:
    """JSON has no infinity: an exact difference (no spread) reads as null."""
    return x if math.isfinite(x) else None
