"""The markdown report of a batch: the experiment, its matrix, statistics per metric
(with a Mermaid chart of the means across variations), cost, cut-short runs, and the
variation pairs that differ significantly. Built from ``batch_stats``."""

from __future__ import annotations

from engine.batch.stats import BatchStats, batch_stats
from eventstore import EventStore

_SHORT = 28  # characters of a variation's values on a chart axis


def batch_report_markdown(store: EventStore, batch_id: str) -> str:
    """The whole report as markdown (``batch_id`` may be a unique prefix)."""
    s = batch_stats(store, batch_id)
    out: list[str] = []
    out += _heading(s)
    out += _matrix(s)
    out += _metrics(s)
    out += _original(s)
    out += _costs(s)
    out += _cut_short(s)
    out += _significant(s)
    return "\n".join(out).rstrip() + "\n"


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
        ("cost", f"${s.cost_usd:.4f}"),
        ("budget", f"${s.budget_usd:.4f}" if s.budget_usd is not None else "none"),
        (
            "cost per run limit",
            f"${c['cost_per_run_limit']:.4f}" if c.get("cost_per_run_limit") else "none",
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


def _metrics(s: BatchStats) -> list[str]:
    lines = ["## Metrics", ""]
    if not s.metrics:
        return [*lines, "No completed run recorded a metric.", ""]
    lines += [
        "The final value of each metric in each completed run (the last one recorded); "
        "95% CI: the mean's confidence interval from Student's t.",
        "",
    ]
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
        lines += ["", *_chart(s, m), ""]
    return lines


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
        below = f"{100 * m.below:.0f}%" if m.below is not None else "-"
        lines.append(f"| {key} | {_num(m.value)} | {_num(mean)} | {m.branches} | {below} |")
    return [*lines, ""]


def _costs(stats: BatchStats) -> list[str]:
    s = stats.status
    total = s.cost_usd
    lines = [
        "## Cost per variation",
        "",
        "| # | variation | runs played | cost (USD) | per run (USD) | share |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for v in s.variations:
        played = v.planned - v.counts["not_started"]
        per = v.cost_usd / played if played else 0.0
        share = f"{100 * v.cost_usd / total:.0f}%" if total else "-"
        lines.append(
            f"| {v.index} | {_cell(v.name)} | {played} | {v.cost_usd:.4f} | {per:.4f} | {share} |"
        )
    lines.append(f"| | total | | {total:.4f} | | |")
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
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:.1f}"
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _quote(text: str) -> str:
    return str(text).replace('"', "'")


def _axis_label(index: int, label: dict[str, object]) -> str:
    values = " / ".join(str(x) for x in label.values()) or "base"
    if len(values) > _SHORT:
        values = values[: _SHORT - 1] + "…"
    return _quote(f"{index}: {values}")
