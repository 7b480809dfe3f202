"""Comparing runs: where branches part, what each changed, how outcomes differ.

For branches of one lineage the timelines share a prefix: the same stored events (the
same global positions) up to a point. That point is found from the ``events`` rows, so
it is right for forks of forks too, including a fork taken inside an inherited prefix.
Unrelated runs share nothing and are compared turn by turn from the start.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import duckdb

from eventstore import UsageError

from ._data import changes_text, lineage, num, rows, run_row, usd
from ._query import markdown_table, plain


def _shared_seq(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> int:
    """The last seq up to which every run's timeline holds the same stored events."""
    marks = ", ".join("?" * len(run_ids))
    found = rows(
        con,
        f"SELECT seq FROM events WHERE run_id IN ({marks}) GROUP BY seq "
        "HAVING count(*) < ? OR count(DISTINCT position) > 1 ORDER BY seq LIMIT 1",
        *run_ids,
        len(run_ids),
    )
    if found:
        return int(found[0]["seq"]) - 1
    last = rows(
        con,
        f"SELECT min(n) AS n FROM (SELECT max(seq) AS n FROM events WHERE run_id IN ({marks}) GROUP BY run_id)",
        *run_ids,
    )
    return int(last[0]["n"] or 0)


def _decisions(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[tuple[str, int], str]:
    found = rows(
        con,
        "SELECT actor, turn, action FROM decisions WHERE run_id = ? AND NOT failed ORDER BY seq",
        run_id,
    )
    return {(d["actor"], d["turn"]): d["action"] for d in found}  # a retry's decision wins


def _first_divergence(per_run: dict[str, dict[tuple[str, int], str]]) -> dict[str, Any]:
    """Per actor, the first turn every run decided in where their actions differ."""
    actors = sorted({a for decisions in per_run.values() for a, _ in decisions})
    out: dict[str, Any] = {}
    for actor in actors:
        turns = sorted(
            set.intersection(*({t for a, t in d if a == actor} for d in per_run.values()))
        )
        out[actor] = None
        for t in turns:
            actions = {run: d[(actor, t)] for run, d in per_run.items()}
            if len(set(actions.values())) > 1:
                out[actor] = {"turn": t, "actions": actions}
                break
    return out


def _metric_series(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, Any]:
    """metric key -> turn -> run -> last value of the turn."""
    marks = ", ".join("?" * len(run_ids))
    found = rows(
        con,
        f"SELECT run_id, name, actor, turn, arg_max(value, seq) AS value FROM metrics "
        f"WHERE run_id IN ({marks}) AND value IS NOT NULL GROUP BY ALL ORDER BY name, actor, turn, run_id",
        *run_ids,
    )
    series: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for m in found:
        key = m["name"] + (f" [{m['actor']}]" if m["actor"] else "")
        series[key][m["turn"]][m["run_id"]] = m["value"]
    return {k: {t: dict(v) for t, v in sorted(turns.items())} for k, turns in series.items()}


def _finals(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    marks = ", ".join("?" * len(run_ids))
    found = rows(
        con,
        f"SELECT run_id, name, actor, value FROM final_metrics WHERE run_id IN ({marks}) "
        "ORDER BY name, actor NULLS FIRST, run_id",
        *run_ids,
    )
    out: dict[str, dict[str, Any]] = {}
    for m in found:
        key = m["name"] + (f" [{m['actor']}]" if m["actor"] else "")
        out.setdefault(key, {"values": {}, "delta": {}})["values"][m["run_id"]] = m["value"]
    base = run_ids[0]
    for entry in out.values():
        values = entry["values"]
        for run in run_ids[1:]:
            if base in values and run in values:
                entry["delta"][run] = values[run] - values[base]
    return out


def compare_data(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, Any]:
    """Everything ``compare`` shows, as plain data (the ``--json`` output)."""
    if len(run_ids) < 2:
        raise UsageError("compare needs at least two runs", hint="give two or more run ids")
    if len(set(run_ids)) < len(run_ids):
        raise UsageError("the same run is given twice", hint="give distinct run ids")
    runs = [run_row(con, r) for r in run_ids]
    chains = {r: [x["run_id"] for x in lineage(con, r)] for r in run_ids}
    related = len({c[0] for c in chains.values()}) == 1
    ancestor = None
    if related:
        common = [c for c in zip(*chains.values(), strict=False) if len(set(c)) == 1]
        ancestor = common[-1][0] if common else None
    shared = _shared_seq(con, run_ids) if related else 0
    shared_turn = None
    if shared:
        at = rows(con, "SELECT turn FROM events WHERE run_id = ? AND seq = ?", run_ids[0], shared)
        shared_turn = at[0]["turn"] if at else None
    changes: dict[str, list[dict[str, Any]]] = {}
    for r in run_ids:
        forks = rows(
            con,
            "SELECT * FROM lifecycle WHERE run_id = ? AND type = 'RunForked' AND seq > ? ORDER BY seq",
            r,
            shared,
        )
        changes[r] = [
            {
                "fork_run_id": f["source_run_id"],
                "parent_run_id": f["parent_run_id"],
                "fork_turn": f["fork_turn"],
                "summary": changes_text(f),
                "seed": f["seed"],
                "changes": json.loads(f["changes"] or "{}"),
                "variation": json.loads(f["variation"] or "{}"),
            }
            for f in forks
        ]
    per_run = {r: _decisions(con, r) for r in run_ids}
    marks = ", ".join("?" * len(run_ids))
    costs = rows(
        con, f"SELECT * FROM cost_by_run WHERE run_id IN ({marks}) ORDER BY run_id", *run_ids
    )
    return plain(
        {
            "runs": [
                {
                    k: r[k]
                    for k in (
                        "run_id",
                        "scenario_name",
                        "scenario_sha256",
                        "parent_run_id",
                        "fork_turn",
                        "status",
                        "halt_reason",
                        "seed",
                        "turns_completed",
                        "models",
                        "variation",
                    )
                }
                for r in runs
            ],
            "same_scenario": len({r["scenario_sha256"] for r in runs}) == 1,
            "related": related,
            "common_ancestor": ancestor,
            "shared_until_seq": shared,
            "shared_until_turn": shared_turn,
            "changes": changes,
            "first_divergence": _first_divergence(per_run),
            "metrics": _metric_series(con, run_ids),
            "final_metrics": _finals(con, run_ids),
            "costs": {c["run_id"]: {k: v for k, v in c.items() if k != "run_id"} for c in costs},
        }
    )  # type: ignore[no-any-return]


def _variation_text(variation: Any) -> str:
    """``{"a.b": 1, "c": "m"}`` (JSON text or a dict) as ``a.b=1, c=m``; "" for none."""
    if isinstance(variation, str):
        variation = json.loads(variation or "{}")
    if not isinstance(variation, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in variation.items())


def compare_markdown(data: dict[str, Any]) -> str:
    """The comparison as a markdown document."""
    ids = [r["run_id"] for r in data["runs"]]
    out = ["# Comparison of " + ", ".join(f"`{r}`" for r in ids), ""]
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
    out += [markdown_table(header, body)]
    if not data["same_scenario"]:
        out += [
            "**The runs play different scenarios** (their resolved scenarios differ"
            + ("; see their variations" if any(varied) else "")
            + "); metrics with the same name may not mean the same thing.",
            "",
        ]
    out += ["## Ancestry", ""]
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
    out.append("")
    out += ["## First diverging decision per actor", ""]
    div_rows = []
    for actor, d in data["first_divergence"].items():
        if d is None:
            div_rows.append((actor, "-", *("same" for _ in ids)))
        else:
            div_rows.append((actor, d["turn"], *(" ".join(d["actions"][r].split()) for r in ids)))
    out += [markdown_table(["actor", "turn", *ids], div_rows) if div_rows else "No decisions.\n"]
    if data["metrics"]:
        out += ["## Metrics per turn", ""]
        for key, turns in data["metrics"].items():
            body = [(t, *(num(v.get(r)) for r in ids)) for t, v in turns.items()]
            out += [f"### {key}", "", markdown_table(["turn", *ids], body)]
    if data["final_metrics"]:
        out += ["## Final values", "", f"Deltas are against `{ids[0]}`.", ""]
        body = []
        for key, entry in data["final_metrics"].items():
            cells = [num(entry["values"].get(r)) for r in ids]
            deltas = [f"{entry['delta'][r]:+.6g}" if r in entry["delta"] else "-" for r in ids[1:]]
            body.append((key, *cells, *deltas))
        out += [markdown_table(["metric", *ids, *(f"Δ {r}" for r in ids[1:])], body)]
    out += ["## Costs", ""]
    body = []
    for r in ids:
        c = data["costs"].get(r, {})
        body.append(
            (
                f"`{r}`",
                c.get("calls", 0),
                f"{c.get('input_tokens', 0):,}",
                f"{c.get('output_tokens', 0):,}",
                usd(c.get("cost_usd")),
                usd(c.get("own_cost_usd")),
            )
        )
    out += [
        markdown_table(
            ["run", "calls", "input tokens", "output tokens", "timeline cost", "own cost"], body
        )
    ]
    return "\n".join(out).rstrip() + "\n"
