"""Two batches compared: per metric and turn, the difference of means with its 95%
confidence interval, an effect size, and n per side.

Any two batches of one scenario compare: two sets of continuations (a baseline and a
counterfactual), two batch files, or one of each. The difference is always
``B - A`` (what the second batch changes over the first). Only completed runs count,
as in a batch's own statistics; a batch file's variations are pooled into one sample.

Two batches are *paired* when every planned run of the smaller one has a partner in
the other drawing the same random numbers: same seed, and (continuations) the same
parent run and fork turn. Sets made with ``fork --paired`` are, as are two batch files
with the same seed. Paired, each turn's difference is Student's t on the per-pair
differences (pairs whose runs both completed and both have a value), with Cohen's d_z;
otherwise Welch's t with Cohen's d. The numbers come from ``engine.batch.sample_stats``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from engine.batch.plan import BatchPlan, batch_plan
from engine.batch.results import (
    BatchComparison,
    BatchStatus,
    ComparedSet,
    MetricComparison,
    RunStatus,
    TurnDifference,
)
from engine.batch.sample_stats import (
    MeanDifference,
    describe,
    paired_difference,
    welch_difference,
)
from engine.batch.stats import batch_status, final_metrics
from engine.batch.trajectories import Trajectories, trajectories
from eventstore import EventStore, InvalidRequest

PAIRED_TEST = (
    "paired: Student's t on the differences of runs that share their random numbers "
    "(same seed and fork point); effect size Cohen's d_z (mean difference / sd of the "
    "differences)"
)
WELCH_TEST = (
    "independent samples: Welch's t; effect size Cohen's d (difference / pooled standard deviation)"
)


def compare_batches(
    store: EventStore, a_ref: str, b_ref: str, *, paired: bool | None = None
) -> BatchComparison:
    """Compare batch ``b_ref`` with ``a_ref`` (ids or unique prefixes).

    ``paired``: None decides from the batches (paired when they pair run by run);
    True insists (an ``InvalidRequest`` when they do not pair); False uses Welch even
    for paired sets. Refuses two batches of different scenarios, the same batch twice,
    and batches with no metric in common.
    """
    a_id, a_plan = batch_plan(store, a_ref)
    b_id, b_plan = batch_plan(store, b_ref)
    if a_id == b_id:
        raise InvalidRequest(
            "{batches} names batch {a} twice: compare two different batches",
            field="batches",
            values={"a": a_id},
        )
    a_status, b_status = batch_status(store, a_id), batch_status(store, b_id)
    a_set, b_set = _side(store, a_status, a_plan), _side(store, b_status, b_plan)
    if a_set.scenario != b_set.scenario:
        raise InvalidRequest(
            "batches {a} ({sa}) and {b} ({sb}) play different scenarios: compare batches "
            "of one scenario",
            field="batches",
            values={"a": a_id, "sa": a_set.scenario, "b": b_id, "sb": b_set.scenario},
        )
    partners = _partners(a_status, b_status, a_plan, b_plan)
    if paired and partners is None:
        raise InvalidRequest(
            "{paired}: batches {a} and {b} do not share their runs' seeds, so no run of one "
            "has a partner in the other",
            hint="make both sets with `fork RUN --at-turn N --count K --paired` "
            "(same run, turn and seed)",
            field="paired",
            values={"a": a_id, "b": b_id},
        )
    use_pairs = partners is not None and paired is not False
    a_done = [r.run_id for r in a_status.runs if r.status == "completed"]
    b_done = [r.run_id for r in b_status.runs if r.status == "completed"]
    a_final = {r: final_metrics(store, r) for r in a_done}
    b_final = {r: final_metrics(store, r) for r in b_done}
    a_keys = {k for v in a_final.values() for k in v}
    b_keys = {k for v in b_final.values() for k in v}
    common = sorted(a_keys & b_keys)
    if not common:
        raise InvalidRequest(
            "batches {a} and {b} have no metric in common among their completed runs "
            "({a}: {ka}; {b}: {kb})",
            hint="finish them with `scenario-lab batch resume BATCH`",
            field="batches",
            values={
                "a": a_id,
                "b": b_id,
                "ka": ", ".join(sorted(a_keys)) or "none",
                "kb": ", ".join(sorted(b_keys)) or "none",
            },
        )
    a_turns, b_turns = trajectories(store, a_done), trajectories(store, b_done)
    pairs = partners if use_pairs and partners is not None else []
    shared = None
    if a_set.parent_run_id is not None and (a_set.parent_run_id, a_set.at_turn) == (
        b_set.parent_run_id,
        b_set.at_turn,
    ):
        shared = a_set.at_turn
    metrics = []
    for m in common:
        a_values = {r: v.get(m) for r, v in a_final.items()}
        b_values = {r: v.get(m) for r, v in b_final.items()}
        metrics.append(
            MetricComparison(
                metric=m,
                final=_difference(a_values, b_values, pairs if use_pairs else None),
                final_a=describe([v for v in a_values.values() if v is not None]),
                final_b=describe([v for v in b_values.values() if v is not None]),
                turns=_per_turn(m, a_turns, b_turns, pairs if use_pairs else None, shared),
            )
        )
    return BatchComparison(
        a=a_set,
        b=b_set,
        paired=use_pairs,
        pairs=len(pairs),
        shared_until_turn=shared,
        test=PAIRED_TEST if use_pairs else WELCH_TEST,
        metrics=tuple(metrics),
        only_a=tuple(sorted(a_keys - b_keys)),
        only_b=tuple(sorted(b_keys - a_keys)),
        completed_a=tuple(a_done),
        completed_b=tuple(b_done),
    )


def _side(store: EventStore, status: BatchStatus, plan: BatchPlan) -> ComparedSet:
    c = status.config
    if plan.kind == "continuations":
        parent = str(c["parent_run_id"])
        scenario = store.timeline_facts(parent).scenario_name or "?"
    else:
        parent = None
        scenario = plan.base.scenario.name if plan.base is not None else "?"
    return ComparedSet(
        batch_id=status.batch_id,
        name=status.name,
        kind=status.kind,
        scenario=scenario,
        source=status.source,
        variations=len(status.variations),
        runs_planned=status.runs_planned,
        completed=status.counts["completed"],
        parent_run_id=parent,
        at_turn=c.get("at_turn") if parent is not None else None,
        edit=c.get("edit") if parent is not None else None,
        paired_seeds=bool(c.get("paired", False)),
    )


def _keys(status: BatchStatus, plan: BatchPlan) -> dict[tuple[Any, ...], RunStatus]:
    """Each planned run by what makes its random draws: fork point and seed."""
    point = (
        (plan.config["parent_run_id"], plan.config["at_turn"])
        if plan.kind == "continuations"
        else (None, None)
    )
    return {(*point, r.seed): r for r in status.runs}


def _partners(
    a: BatchStatus, b: BatchStatus, a_plan: BatchPlan, b_plan: BatchPlan
) -> list[tuple[str, str]] | None:
    """(run of A, run of B) for every planned pair, when the smaller batch's every run
    has a partner in the other (None: the batches do not pair)."""
    ka, kb = _keys(a, a_plan), _keys(b, b_plan)
    if len(ka) != len(a.runs) or len(kb) != len(b.runs):
        return None  # a seed repeats within a batch: pairing would be ambiguous
    smaller = ka if len(ka) <= len(kb) else kb
    if not smaller or any(k not in ka or k not in kb for k in smaller):
        return None
    return [(ka[k].run_id, kb[k].run_id) for k in sorted(smaller, key=lambda k: smaller[k].index)]


def _difference(
    a: dict[str, float | None], b: dict[str, float | None], pairs: list[tuple[str, str]] | None
) -> MeanDifference:
    """``B - A`` over the runs' values (None: no value); paired over ``pairs``."""
    if pairs is not None:
        both = [(a.get(x), b.get(y)) for x, y in pairs]
        kept = [(x, y) for x, y in both if x is not None and y is not None]
        return paired_difference([x for x, _ in kept], [y for _, y in kept])
    return welch_difference(
        [v for v in a.values() if v is not None], [v for v in b.values() if v is not None]
    )


def _per_turn(
    metric: str,
    a: Trajectories,
    b: Trajectories,
    pairs: list[tuple[str, str]] | None,
    shared: int | None,
) -> tuple[TurnDifference, ...]:
    """The difference at each turn after ``shared`` (the turns both sides inherit are
    equal by construction: nothing to test)."""
    by_turn_a: dict[int, dict[str, float | None]] = defaultdict(dict)
    by_turn_b: dict[int, dict[str, float | None]] = defaultdict(dict)
    for runs, out in ((a, by_turn_a), (b, by_turn_b)):
        for run, metrics in runs.items():
            for turn, value in metrics.get(metric, {}).items():
                out[turn][run] = value
    return tuple(
        TurnDifference(turn=t, stats=_difference(by_turn_a[t], by_turn_b[t], pairs))
        for t in sorted(set(by_turn_a) | set(by_turn_b))
        if shared is None or t > shared
    )
