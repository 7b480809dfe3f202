"""The report of a batch: the experiment, its matrix, statistics per metric (with
charts of the means across variations and of the runs over the turns), cost, cut-short
runs, and the variation pairs that differ significantly. Built from the engine's
``batch_stats``; drawn like every report (``charts``: markdown with Mermaid, SVG files,
or HTML) with the same rounding of numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.batch.trajectories import trajectories
from eventstore import EventStore

from ._batch_charts import Group, metric_charts
from ._numbers import num, pct, usd
from .charts import Document, Line

if TYPE_CHECKING:
    from engine.batch.stats import BatchStats

_SHORT = 28  # characters of a variation's values on a chart axis


def batch_report_markdown(store: EventStore, batch_id: str) -> str:
    """The whole report as markdown (``batch_id`` may be a unique prefix)."""
    return batch_report_document(store, batch_id).markdown()


def batch_report_document(store: EventStore, batch_id: str) -> Document:
    """The whole report as a ``Document`` (markdown and charts)."""
    # the statistics bring the batch planner and scenario loader: loaded when used
    from engine.batch.stats import batch_stats

    s = batch_stats(store, batch_id)
    out: list[Line] = []
    out += _heading(s)
    out += _matrix(s)
    out += _metrics(s, store)
    out += _original(s)
    out += _costs(s)
    out += _cut_short(s)
    out += _significant(s)
    return Document(f"Batch: {s.status.name}", out)


def _heading(stats: BatchStats) -> list[str]:
    s = stats.status
    c = s.config
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in s.counts.items() if n)
    rows = [
        ("batch", f"`{s.batch_id}`"),
        ("kind", "parameter matrix" if s.kind == "matrix" else "Monte-Carlo continuations"),
        ("source", _cell(s.source)),
        ("created", s.created_at),
    ]
    if s.kind == "matrix":
        rows += [
            (
                "base scenario",
                f"{_cell(c.get('base_scenario', ''))} (`{(s.base_scenario_sha256 or '')[:12]}`)",
            ),
            ("runs per variation", str(c.get("runs_per_variation"))),
        ]
    else:
        rows.append(("forked from", f"`{c['parent_run_id']}` after turn {c['at_turn']}"))
    rows += [
        ("seed", str(c.get("seed"))),
        ("runs", f"{s.runs_planned} planned: {counts or 'none'}"),
        ("cost", usd(s.cost_usd)),
        ("budget", usd(s.budget_usd) if s.budget_usd is not None else "none"),
        (
            "cost per run limit",
            usd(c["cost_per_run_limit"]) if c.get("cost_per_run_limit") else "none",
        ),
    ]
    lines = [f"# Batch: {s.name}", ""]
    if s.description:
        lines += [s.description.strip(), ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return [*lines, ""]


def _matrix(stats: BatchStats) -> list[str]:
    s = stats.status
    lines = [
        "## Matrix",
        "",
        f"{len(s.variations)} variation(s); each run's seed derives from the batch seed "
        "and the run's index.",
        "",
        "| # | variation | planned | completed | halted | failed | interrupted | not started |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in s.variations:
        n = v.counts
        lines.append(
            f"| {v.index} | {_cell(v.name)} | {v.planned} | {n['completed']} | "
            f"{n['halted']} | {n['failed']} | {n['interrupted'] + n['running']} | "
            f"{n['not_started']} |"
        )
    return [*lines, ""]


def _metrics(s: BatchStats, store: EventStore) -> list[Line]:
    lines: list[Line] = ["## Metrics", ""]
    if not s.metrics:
        return [*lines, "No completed run recorded a metric.", ""]
    lines += [
        "The final value of each metric in each completed run (the last one recorded); "
        "95% CI: the mean's confidence interval from Student's t.",
        "",
    ]
    runs = trajectories(store, (r.run_id for r in s.status.runs if r.status == "completed"))
    for m in s.metrics:
        lines += [
            f"### {m}",
            "",
            "| # | variation | n | mean | stddev | 95% CI | min | median | max |",
            "|---:|---|---:|---:|---:|---|---:|---:|---:|",
        ]
        for v in s.variations:
            d = v.metrics[m]
            ci = f"{_num(d.ci95[0])} to {_num(d.ci95[1])}" if d.ci95 else "-"
            lines.append(
                f"| {v.index} | {_cell(v.name)} | {d.n} | {_num(d.mean)} | "
                f"{_num(d.stddev)} | {ci} | {_num(d.min)} | {_num(d.median)} | "
                f"{_num(d.max)} |"
            )
        lines += ["", *metric_charts(m, _groups(s, m), runs, _chart(s, m)), ""]
    return lines


def _groups(s: BatchStats, metric: str) -> list[Group]:
    done: dict[int, list[str]] = {}
    for r in s.status.runs:
        if r.status == "completed":
            done.setdefault(r.variation, []).append(r.run_id)
    return [
        Group(_axis_label(v.index, v.label), d.n, d.mean, d.ci95, tuple(done.get(v.index, ())))
        for v in s.variations
        for d in [v.metrics[metric]]
    ]


def _chart(s: BatchStats, metric: str) -> list[str]:
    shown = [v for v in s.variations if v.metrics[metric].mean is not None]
    if not shown:
        return [f"No completed run has a value of {metric}."]
    labels = ", ".join(f'"{_axis_label(v.index, v.label)}"' for v in shown)
    means = ", ".join(_num(v.metrics[metric].mean) for v in shown)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{_quote(metric)}: mean by variation"',
        f"    x-axis [{labels}]",
        f'    y-axis "{_quote(metric)}"',
        f"    bar [{means}]",
        "```",
    ]


def _original(s: BatchStats) -> list[str]:
    """Continuations: was what happened in the original run the typical outcome?"""
    o = s.original
    if o is None:
        return []
    horizon = o.horizon
    lines = [
        "## The original run among its continuations",
        "",
        f"The branches fork from run `{o.run_id}` ({o.status}, {o.turns_completed} "
        f"turns) after turn {s.status.config['at_turn']}"
        + (f" and end at turn {horizon}" if horizon is not None else "")
        + ".",
        "",
    ]
    if horizon is not None and horizon > o.turns_completed:
        return [
            *lines,
            f"It stopped before turn {horizon}, where the branches end: it has no outcome "
            "there to place among theirs.",
            "",
        ]
    lines += [
        (f"Its values at turn {horizon}" if horizon is not None else "Its final values")
        + " are one outcome of what could follow. *Below*: the share of completed branches "
        "that ended under its value (ties count half): near 50% it ended where the "
        "branches typically do, near 0% or 100% it was an outlier.",
        "",
    ]
    if not o.metrics:
        return [*lines, "The original run recorded no metric.", ""]
    lines += [
        "| metric | original | branches' mean | branches | below |",
        "|---|---:|---:|---:|---:|",
    ]
    [v] = s.variations
    for key, m in o.metrics.items():
        summary = v.metrics.get(key)
        mean = summary.mean if summary is not None else None
        below = pct(m.below)
        lines.append(f"| {key} | {_num(m.value)} | {_num(mean)} | {m.branches} | {below} |")
    return [*lines, ""]


def _costs(stats: BatchStats) -> list[str]:
    s = stats.status
    total = s.cost_usd
    lines = [
        "## Cost per variation",
        "",
        "| # | variation | runs played | cost | per run | share |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for v in s.variations:
        played = v.planned - v.counts["not_started"]
        per = v.cost_usd / played if played else 0.0
        share = pct(v.cost_usd / total) if total else "-"
        lines.append(
            f"| {v.index} | {_cell(v.name)} | {played} | {usd(v.cost_usd)} | {usd(per)} | {share} |"
        )
    lines.append(f"| | total | | {usd(total)} | | |")
    return [*lines, ""]


def _cut_short(s: BatchStats) -> list[str]:
    lines = ["## Runs cut short", ""]
    if not s.status.cut_short:
        return [*lines, "None: every planned run completed.", ""]
    lines += ["| run | variation | status | turns | why |", "|---|---:|---|---:|---|"]
    for r in s.status.cut_short:
        run = f"`{r.run_id}`" if r.status != "not_started" else f"({r.run_id})"
        lines.append(
            f"| {run} | {r.variation} | {r.status.replace('_', ' ')} | "
            f"{r.turns_completed} | {_cell(r.why)} |"
        )
    return [*lines, ""]


def _significant(s: BatchStats) -> list[str]:
    lines = ["## Significant differences", "", f"{s.test}; {s.tests} pair(s) tested.", ""]
    if not s.significant:
        return [*lines, "No pair of variations differs at p < 0.05.", ""]
    held = sum(p.p_holm < 0.05 for p in s.significant)
    lines += [
        f"{held} of these {len(s.significant)} hold up after the Holm correction for "
        "testing every pair at once (p (Holm) < 0.05); the others may be chance.",
        "",
        "| metric | A | B | mean A | mean B | A - B | t | df | p | p (Holm) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in s.significant:
        lines.append(
            f"| {p.metric} | {p.a} | {p.b} | {_num(p.mean_a)} | {_num(p.mean_b)} | "
            f"{_num(p.difference)} | {_num(p.t)} | {_num(p.df)} | {p.p:.3g} | "
            f"{p.p_holm:.3g} |"
        )
    return [*lines, ""]


def _num(x: float | None) -> str:
    return num(x)  # rounded as in every report


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _quote(text: str) -> str:
    return str(text).replace('"', "'")


def _axis_label(index: int, label: dict[str, object]) -> str:
    values = " / ".join(str(x) for x in label.values()) or "base"
    if len(values) > _SHORT:
        values = values[: _SHORT - 1] + "…"
    return _quote(f"{index}: {values}")
