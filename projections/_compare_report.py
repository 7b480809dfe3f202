"""A comparison (``compare_data``) as a report: which runs, where they part, the first
decision each actor made differently, final values, each metric's branches overlaid on
one chart, the values per turn, and costs. A comparison of long runs opens with a
summary."""

from __future__ import annotations

import json
from typing import Any

from ._numbers import num, signed, usd
from ._query import markdown_table
from ._run_summary import LONG
from .charts import Chart, Document, Drawn, Line, trajectory


def _variation_text(variation: Any) -> str:
    """``{"a.b": 1, "c": "m"}`` (JSON text or a dict) as ``a.b=1, c=m``; "" for none."""
    if isinstance(variation, str):
        variation = json.loads(variation or "{}")
    if not isinstance(variation, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in variation.items())


def _runs_table(data: dict[str, Any], ids: list[str]) -> list[Line]:
    body: list[tuple[Any, ...]] = [
        (
            f"`{r['run_id']}`",
            r["scenario_name"],
            r["status"] + (f" ({r['halt_reason']})" if r["halt_reason"] else ""),
            r["seed"],
            r["turns_completed"],
            f"`{r['parent_run_id']}` at turn {r['fork_turn']}" if r["parent_run_id"] else "root",
        )
        for r in data["runs"]
    ]
    header = ["run", "scenario", "status", "seed", "turns", "forked from"]
    varied = [_variation_text(r["variation"]) for r in data["runs"]]
    if any(varied):
        # batch runs: the settings they vary are what tells their scenarios apart
        header.append("variation")
        body = [(*row, v or "-") for row, v in zip(body, varied, strict=True)]
    out: list[Line] = [markdown_table(header, body)]
    if not data["same_scenario"]:
        out += [
            "**The runs play different scenarios** (their resolved scenarios differ"
            + ("; see their variations" if any(varied) else "")
            + "); metrics with the same name may not mean the same thing.",
            "",
        ]
    return out


def _summary(data: dict[str, Any], ids: list[str]) -> list[Line]:
    if max((r["turns_completed"] or 0) for r in data["runs"]) <= LONG:
        return []
    out: list[Line] = ["## Summary", ""]
    turn = data["shared_until_turn"]
    if data["related"]:
        out.append(
            f"- Shared history: identical up to turn {turn}"
            if turn is not None
            else "- Shared history: none after the common ancestor's start"
        )
    else:
        out.append("- Shared history: none (unrelated runs)")
    parted = {a: d for a, d in data["first_divergence"].items() if d is not None}
    if parted:
        first = min(d["turn"] for d in parted.values())
        who = ", ".join(a for a, d in parted.items() if d["turn"] == first)
        out.append(f"- First different decision: turn {first} ({who})")
    else:
        out.append("- First different decision: none; every actor took the same actions")
    for r in data["runs"]:
        status = r["status"] + (f" ({r['halt_reason']})" if r["halt_reason"] else "")
        cost = usd(data["costs"].get(r["run_id"], {}).get("cost_usd"))
        out.append(f"- `{r['run_id']}`: {status} after {r['turns_completed']} turns; cost {cost}")
    return [*out, ""]


def _ancestry(data: dict[str, Any], ids: list[str]) -> list[Line]:
    out: list[Line] = ["## Ancestry", ""]
    if data["related"]:
        turn = data["shared_until_turn"]
        out.append(f"- Common ancestor: `{data['common_ancestor']}`")
        out.append(
            f"- Timelines are identical up to seq {data['shared_until_seq']}"
            + (f" (turn {turn})" if turn is not None else "")
        )
        for run in ids:
            for c in data["changes"][run]:
                out.append(
                    f"- `{run}`: forked from `{c['parent_run_id']}` at turn {c['fork_turn']}: {c['summary']}"
                )
            if not data["changes"][run]:
                out.append(f"- `{run}`: no changes after the shared part")
    else:
        out.append("- Unrelated runs: no common ancestor; compared from turn 1.")
    return [*out, ""]


def _choice(d: dict[str, Any], run: str) -> str:
    text = " ".join(d["actions"][run].split())
    name = (d.get("action_names") or {}).get(run)
    return f"`{name}`: {text}" if name else text


def _divergence(data: dict[str, Any], ids: list[str]) -> list[Line]:
    out: list[Line] = ["## First diverging decision per actor", ""]
    rows = []
    for actor, d in data["first_divergence"].items():
        if d is None:
            rows.append((actor, "-", *("same" for _ in ids)))
        else:
            rows.append((actor, d["turn"], *(_choice(d, r) for r in ids)))
    if not rows:
        return [*out, "No decisions.", ""]
    named = any(d and d.get("compared") == "action_name" for d in data["first_divergence"].values())
    if named:
        out += [
            "Decisions that name a declared action are compared by that name (their wording "
            "may differ); others by their text.",
            "",
        ]
    return [*out, markdown_table(["actor", "turn", *ids], rows)]


def _finals(data: dict[str, Any], ids: list[str]) -> list[Line]:
    if not data["final_metrics"]:
        return []
    out: list[Line] = ["## Final values", "", f"Differences (Δ) are against `{ids[0]}`.", ""]
    body = []
    for key, entry in data["final_metrics"].items():
        cells = [num(entry["values"].get(r)) for r in ids]
        deltas = [signed(entry["delta"][r]) if r in entry["delta"] else "-" for r in ids[1:]]
        body.append((key, *cells, *deltas))
    return [*out, markdown_table(["metric", *ids, *(f"Δ {r}" for r in ids[1:])], body)]


def _charts(data: dict[str, Any], ids: list[str]) -> list[Line]:
    """Per metric, every run's values over the turns on one chart."""
    if not data["metrics"]:
        return []
    turn = data["shared_until_turn"]
    marker = (turn, f"identical up to turn {turn}") if data["related"] and turn else None
    out: list[Line] = [Drawn(("## Metric trajectories", ""))]
    for key, turns in data["metrics"].items():
        points = [(r, int(t), v.get(r)) for r in ids for t, v in turns.items() if r in v]
        spec = trajectory(
            key, key, points, series_title="run", subtitle="each run, by turn", marker=marker
        )
        out += [Chart(f"compare-{key}", f"{key} by turn, each run", spec), ""]
    return out


def _per_turn(data: dict[str, Any], ids: list[str]) -> list[Line]:
    if not data["metrics"]:
        return []
    out: list[Line] = ["## Metrics per turn", ""]
    for key, turns in data["metrics"].items():
        body = [(t, *(num(v.get(r)) for r in ids)) for t, v in turns.items()]
        out += [f"### {key}", "", markdown_table(["turn", *ids], body)]
    return out


def _costs(data: dict[str, Any], ids: list[str]) -> list[Line]:
    body = []
    # cache columns only when some run's provider reported its prompt cache
    cached = any(data["costs"].get(r, {}).get("cached_prompt_tokens") is not None for r in ids)
    for r in ids:
        c = data["costs"].get(r, {})
        body.append(
            (
                f"`{r}`",
                c.get("calls", 0),
                f"{c.get('input_tokens', 0):,}",
                *((_cached(c),) if cached else ()),
                f"{c.get('output_tokens', 0):,}",
                usd(c.get("cost_usd")),
                usd(c.get("own_cost_usd")),
            )
        )
    header = ["run", "calls", "input tokens", "output tokens", "timeline cost", "own cost"]
    if cached:
        header[3:3] = ["cached (saved)"]
    return ["## Costs", "", markdown_table(header, body)]


def _cached(costs: dict[str, Any]) -> str:
    tokens = costs.get("cached_prompt_tokens")
    if tokens is None:
        return "-"
    return f"{tokens:,} ({usd(costs.get('cache_saving_usd'))})"


def compare_document(data: dict[str, Any]) -> Document:
    """The comparison as a report (``Document``): markdown with a chart per metric."""
    ids = [r["run_id"] for r in data["runs"]]
    out: list[Line] = ["# Comparison of " + ", ".join(f"`{r}`" for r in ids), ""]
    for part in (
        _runs_table,
        _summary,
        _ancestry,
        _divergence,
        _finals,
        _charts,
        _per_turn,
        _costs,
    ):
        out += part(data, ids)
    return Document("Comparison of " + ", ".join(ids), out)


def compare_markdown(data: dict[str, Any]) -> str:
    """The comparison as a markdown document (``compare_document``, printed)."""
    return compare_document(data).markdown()
