"""The report of two batches compared (``report --batch A --batch B``): a summary of
the final differences first, the two sets, then per metric the difference ``B - A`` at
every turn with its 95% confidence interval and effect size, and the two sets' fan
charts overlaid. The numbers are ``engine.batch.compare``'s; drawn like every report
(markdown with Mermaid, SVG files beside it, or one HTML page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.batch.trajectories import trajectories
from eventstore import EventStore

from ._batch_charts import Group, metric_charts
from ._batch_report import _cell, _quote
from ._numbers import num, signed
from .charts import Chart, Document, Line, means

if TYPE_CHECKING:
    from engine.batch.compare import BatchComparison, ComparedSet, MetricComparison
    from engine.batch.sample_stats import MeanDifference
    from engine.batch.trajectories import Trajectories


def batch_comparison_document(store: EventStore, c: BatchComparison) -> Document:
    """The comparison as a ``Document`` (the runs' values per turn are read from
    ``store`` for the fan charts)."""
    runs = trajectories(store, (*c.completed_a, *c.completed_b))
    out: list[Line] = [
        f"# Batches compared: B `{c.b.batch_id}` vs A `{c.a.batch_id}`",
        "",
        f"- A: {_cell(c.a.name)}",
        f"- B: {_cell(c.b.name)}",
        "",
    ]
    out += _summary(c)
    out += _sets(c)
    out += _method(c)
    for m in c.metrics:
        out += _metric(c, m, runs)
    if c.only_a or c.only_b:
        out += ["## Metrics not compared", ""]
        for side, names in (("A", c.only_a), ("B", c.only_b)):
            if names:
                out.append(f"- only in {side}: {', '.join(names)}")
        out.append("")
    return Document(f"Batches compared: B {c.b.batch_id} vs A {c.a.batch_id}", out)


def _summary(c: BatchComparison) -> list[str]:
    lines = [
        "## Summary",
        "",
        f"Final values, B - A ({'paired' if c.paired else 'Welch'}; 95% CI). *Clear* "
        "where the interval excludes 0.",
        "",
        "| metric | n A | n B | mean A | mean B | B - A | 95% CI | effect size | |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for m in c.metrics:
        f = m.final
        lines.append(
            f"| {m.metric} | {f.n_a} | {f.n_b} | {num(f.mean_a)} | {num(f.mean_b)} | "
            f"{signed(f.difference)} | {_ci(f)} | {num(f.effect_size)} | {_verdict(f)} |"
        )
    return [*lines, ""]


def _sets(c: BatchComparison) -> list[str]:
    lines = [
        "## The two batches",
        "",
        "| | A | B |",
        "|---|---|---|",
        f"| batch | `{c.a.batch_id}` | `{c.b.batch_id}` |",
        f"| name | {_cell(c.a.name)} | {_cell(c.b.name)} |",
        f"| kind | {c.a.kind} | {c.b.kind} |",
        f"| scenario | {_cell(c.a.scenario)} | {_cell(c.b.scenario)} |",
        f"| source | {_cell(c.a.source)} | {_cell(c.b.source)} |",
        f"| edit | {_edit(c.a)} | {_edit(c.b)} |",
        f"| completed runs | {c.a.completed} of {c.a.runs_planned} | "
        f"{c.b.completed} of {c.b.runs_planned} |",
        f"| seeds | {_seeds(c.a)} | {_seeds(c.b)} |",
    ]
    return [*lines, ""]


def _method(c: BatchComparison) -> list[str]:
    if c.paired:
        how = (
            f"The batches pair run by run ({c.pairs} planned pairs share their seeds): "
            "each difference is over the pairs whose runs both completed with a value."
        )
    else:
        how = "The batches do not pair run by run: they are compared as independent samples."
    lines = ["## Method", "", f"{how} Test: {c.test}.", ""]
    for side, s in (("A", c.a), ("B", c.b)):
        if s.variations > 1:
            lines += [f"{side}'s {s.variations} variations are pooled into one sample.", ""]
    if c.shared_until_turn is not None:
        lines += [
            f"Both continue run `{c.a.parent_run_id}` after turn {c.shared_until_turn}: "
            "the turns before are shared, so only later turns are compared.",
            "",
        ]
    return lines


def _metric(c: BatchComparison, m: MetricComparison, runs: Trajectories) -> list[Line]:
    lines: list[Line] = [
        f"## {m.metric}",
        "",
        "| turn | n A | n B | mean A | mean B | B - A | 95% CI | effect size |",
        "|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for t in m.turns:
        s = t.stats
        lines.append(
            f"| {t.turn} | {s.n_a} | {s.n_b} | {num(s.mean_a)} | {num(s.mean_b)} | "
            f"{signed(s.difference)} | {_ci(s)} | {num(s.effect_size)} |"
        )
    groups = [
        Group(f"A: {_short(c.a)}", m.final_a.n, m.final_a.mean, m.final_a.ci95, c.completed_a),
        Group(f"B: {_short(c.b)}", m.final_b.n, m.final_b.mean, m.final_b.ci95, c.completed_b),
    ]
    return [
        *lines,
        "",
        *_difference_chart(c, m),
        *metric_charts(m.metric, groups, runs, _mermaid(m)),
        "",
    ]


def _difference_chart(c: BatchComparison, m: MetricComparison) -> list[Line]:
    """B - A at each turn with its 95% interval (drawn forms only: the table above
    has the numbers in printed markdown)."""
    rows = [
        (f"turn {t.turn}", min(t.stats.n_a, t.stats.n_b), t.stats.difference, *t.stats.ci95)
        for t in m.turns
        if t.stats.ci95 is not None
    ]
    if not rows:
        return []
    test = "paired" if c.paired else "Welch"
    return [
        Chart(
            f"difference-{m.metric}",
            f"{m.metric}: B - A by turn, with 95% confidence intervals ({test})",
            means(
                f"{m.metric}: B - A by turn",
                f"{m.metric}, B - A (95% CI, {test})",
                rows,
                subtitle="difference of the means; bars: 95% confidence interval; "
                "an interval clear of 0 is a clear difference",
            ),
        ),
        "",
    ]


def _mermaid(m: MetricComparison) -> list[str]:
    """Printed markdown's chart: each side's mean per turn."""
    turns = [t for t in m.turns if t.stats.mean_a is not None and t.stats.mean_b is not None]
    if not turns:
        return [f"No turn has values of {m.metric} on both sides."]
    axis = ", ".join(str(t.turn) for t in turns)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{_quote(m.metric)}: mean by turn, A and B"',
        f"    x-axis [{axis}]",
        f'    y-axis "{_quote(m.metric)}"',
        f"    line [{', '.join(num(t.stats.mean_a) for t in turns)}]",
        f"    line [{', '.join(num(t.stats.mean_b) for t in turns)}]",
        "```",
    ]


def _ci(d: MeanDifference) -> str:
    return f"{signed(d.ci95[0])} to {signed(d.ci95[1])}" if d.ci95 else "-"


def _verdict(d: MeanDifference) -> str:
    if d.ci95 is None:
        return "too few runs"
    low, high = d.ci95
    if low > 0 or high < 0:
        return "clear"
    return "unclear" if low < high else "none"


def _edit(s: ComparedSet) -> str:
    if s.kind != "continuations":
        return "(batch file)"
    edit = s.edit or {}
    parts = [f"{a}={t}" for a, t in edit.get("decisions", {}).items()]
    parts += [f"inject: {t}" for t in edit.get("inject", [])]
    return _cell(", ".join(parts)) if parts else "none (baseline)"


def _seeds(s: ComparedSet) -> str:
    if s.kind != "continuations":
        return "from the batch seed"
    return "paired (parent, turn, index)" if s.paired_seeds else "own"


def _short(s: ComparedSet) -> str:
    text = _edit(s) if s.kind == "continuations" else s.name
    return text if len(text) <= 40 else text[:39] + "…"
