"""The report of one run, read from the analytics tables: a ``Document`` of markdown
and charts (printed as markdown, or written as markdown with SVG charts, or as HTML).

Everything in the body comes from the log's contents; wall-clock facts (start time and
duration) are confined to two header rows so a report of the same events is the same
text apart from those.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import duckdb

from ._data import changes_text, lineage, node_id, rows, run_row, scenario, timeline
from ._numbers import cost_text, num, usd
from ._query import markdown_table
from ._run_summary import summary
from .charts import Chart, Diagram, Document, Line, trajectory

MAX_TREE_NODES = 60  # a batch of hundreds of forks would make an unreadable diagram


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.strip().splitlines())


def _bullets(label: str, items: list[str]) -> list[str]:
    if not items:
        return []
    if len(items) == 1:
        return [f"- {label}: {items[0]}"]
    return [f"- {label}:"] + [f"  - {i}" for i in items]


def _lineage_text(chain: list[dict[str, Any]]) -> str:
    if len(chain) == 1:
        return "root run"
    steps = [f"`{chain[0]['run_id']}`"]
    steps += [f"fork at turn {r['fork_turn']} → `{r['run_id']}`" for r in chain[1:]]
    return " → ".join(steps)


def _header(
    con: duckdb.DuckDBPyConnection, run: dict[str, Any], chain: list[dict[str, Any]]
) -> list[str]:
    status = run["status"] + (f" ({run['halt_reason']})" if run["halt_reason"] else "")
    span = rows(
        con,
        "SELECT min(recorded_at) AS first, max(recorded_at) AS last FROM events "
        "WHERE run_id = ? AND NOT inherited",
        run["run_id"],
    )[0]
    duration = (
        f"{(span['last'] - span['first']).total_seconds():.1f} s of this run's own events"
        if span["first"] is not None
        else "-"
    )
    started = run["started_at"].strftime("%Y-%m-%d %H:%M:%S UTC") if run["started_at"] else "-"
    calls = rows(con, "SELECT * FROM cost_by_run WHERE run_id = ?", run["run_id"])
    unpriced = calls[0]["unpriced_calls"] if calls else 0
    # every call unpriced: the total is unknown, not $0
    total = None if unpriced and unpriced == calls[0]["calls"] else run["total_cost_usd"]
    labels = [("Name", run["name"])] if run["name"] else []
    if run["tags"]:
        labels.append(("Tags", ", ".join(f"`{t}`" for t in run["tags"])))
    facts = [
        *labels,
        ("Scenario", f"{run['scenario_name']} (`{(run['scenario_sha256'] or '')[:12]}`)"),
        ("Lineage", _lineage_text(chain)),
        ("Seed", str(run["seed"])),
        ("Models", ", ".join(run["models"]) or "none (no model calls)"),
        ("Status", status),
        ("Turns", f"{run['turns_completed']} of {run['turns_planned']} completed"),
        (
            "Cost",
            f"{cost_text(total, unpriced)} "
            f"({usd(run['own_cost_usd'])} in this run; "
            f"{run['input_tokens']:,} input / {run['output_tokens']:,} output tokens"
            f"{cache_text(calls[0] if calls else {})})",
        ),
        ("Started", started),
        ("Duration", duration),
    ]
    if run["batch_id"]:
        facts.append(("Batch", f"`{run['batch_id']}`"))
    if run["variation"] not in (None, "{}"):
        facts.append(("Variation", f"`{run['variation']}`"))
    forks = rows(
        con,
        "SELECT * FROM lifecycle WHERE run_id = ? AND type = 'RunForked' ORDER BY seq",
        run["run_id"],
    )
    for f in forks:
        facts.append((f"Changes at turn {f['fork_turn']}", changes_text(f)))
    return [f"# Run `{run['run_id']}`: {run['scenario_name']}", "", markdown_table(["", ""], facts)]


def _tree(con: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> list[Line]:
    family = rows(
        con,
        "SELECT run_id, parent_run_id, fork_turn, status, turns_completed FROM runs "
        "WHERE root_run_id = ? ORDER BY depth, started_at, run_id",
        run["root_run_id"],
    )
    if len(family) < 2:
        return []
    mermaid = ["```mermaid", "graph LR"]
    shown = family[:MAX_TREE_NODES]
    ids = {r["run_id"] for r in shown}
    for r in shown:
        label = f"{r['run_id']}<br/>{r['status']}, {r['turns_completed']} turns"
        mermaid.append(f'    {node_id(r["run_id"])}["{label}"]')
    for r in shown:
        if r["parent_run_id"] in ids:
            mermaid.append(
                f"    {node_id(r['parent_run_id'])} -->|turn {r['fork_turn']}| {node_id(r['run_id'])}"
            )
    mermaid.append(f"    style {node_id(run['run_id'])} stroke-width:3px")
    mermaid.append("```")
    out: list[Line] = ["## Lineage", "", Diagram(tuple(mermaid), tuple(_tree_list(shown, run))), ""]
    if len(family) > len(shown):
        out += [f"({len(family) - len(shown)} more runs of this lineage are not drawn.)", ""]
    return out


def _tree_list(shown: list[dict[str, Any]], run: dict[str, Any]) -> list[str]:
    """The lineage as a nested markdown list (for pages without a Mermaid renderer)."""
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    ids = {r["run_id"] for r in shown}
    for r in shown:
        children[r["parent_run_id"] if r["parent_run_id"] in ids else None].append(r)
    out: list[str] = []

    def walk(r: dict[str, Any], depth: int) -> None:
        name = f"**`{r['run_id']}`**" if r["run_id"] == run["run_id"] else f"`{r['run_id']}`"
        fork = f"forked at turn {r['fork_turn']}: " if r["parent_run_id"] in ids else ""
        out.append(f"{'  ' * depth}- {name} ({fork}{r['status']}, {r['turns_completed']} turns)")
        for child in children[r["run_id"]]:
            if depth < MAX_TREE_NODES:  # bounded however the rows are linked
                walk(child, depth + 1)

    for root in children[None]:
        walk(root, 0)
    return out


def _actors_table(sc: dict[str, Any]) -> list[str]:
    actors = sc["actors"]
    if not actors:
        return []
    body = [
        (aid, a.get("name", ""), a.get("control", "ai"), a.get("llm_model") or "")
        for aid, a in actors.items()
    ]
    return ["### Actors", "", markdown_table(["id", "name", "control", "model"], body)]


def _by_turn(items: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        out[item["turn"]].append(item)
    return out


def _decision(d: dict[str, Any], names: dict[str, Any]) -> list[str]:
    name = (names.get(d["actor"]) or {}).get("name") or d["actor"]
    who = d["brain"] + (f", {d['model']}" if d["model"] else "")
    out = [f"#### {name} (`{d['actor']}`, {who})", ""]
    if d["failed"]:
        return [*out, f"Decision failed ({d['error_kind'] or 'error'}): {d['error']}", ""]
    out += _bullets("Goals", list(d["long_term_goals"]))
    out += _bullets("Priorities", list(d["short_term_priorities"]))
    if d["reasoning"]:
        out.append(f"- Reasoning: {' '.join(d['reasoning'].split())}")
    action = " ".join(d["action"].split())
    out.append(f"- **Action:** {action}" + (f" (`{d['action_name']}`)" if d["action_name"] else ""))
    return [*out, ""]


def _turn(
    turn: dict[str, Any], parts: dict[str, list[dict[str, Any]]], names: dict[str, Any]
) -> list[str]:
    title = f"## Turn {turn['turn']}" + (
        f" ({turn['simulated_date']})" if turn["simulated_date"] else ""
    )
    out = [title, ""]
    if turn["inherited"]:
        out += [f"*Inherited from `{turn['source_run_id']}`.*", ""]
    if parts["exogenous"]:
        out += ["### Events", ""]
        out += [f"- **{e['name']}** ({e['kind']}): {e['description']}" for e in parts["exogenous"]]
        out.append("")
    if parts["messages"]:
        out += ["### Messages", ""]
        for m in parts["messages"]:
            to = ", ".join(m["recipients"]) or "all"
            out.append(
                f"- **{m['sender']} → {to}** ({m['channel']}, {m['kind']}): "
                + " ".join(m["content"].split())
            )
        out.append("")
    if parts["decisions"]:
        out += ["### Decisions", ""]
        for d in parts["decisions"]:
            out += _decision(d, names)
    for w in parts["world"]:
        out += ["### World update", "", " ".join(w["narrative"].split()) or "-", ""]
        out += _bullets("Key changes", list(w["key_changes"]))
        out += _bullets("Consequences", list(w["consequences"]))
        values = [v for v in parts["variables"] if v["seq"] == w["seq"]]
        if values:
            out.append(
                "- Variables: " + ", ".join(f"{v['name']} = {num(v['value'])}" for v in values)
            )
        out.append("")
    if parts["metrics"]:
        body = [
            (
                m["name"],
                m["actor"] or "",
                num(m["value"]) if m["error"] is None else f"error: {m['error']}",
                m["method"],
            )
            for m in parts["metrics"]
        ]
        out += ["### Metrics", "", markdown_table(["metric", "actor", "value", "method"], body)]
    if parts["validations"]:
        out += ["### Validation", ""]
        for v in parts["validations"]:
            mark = "passed" if v["passed"] else f"**failed** ({v['severity']})"
            issues = "; ".join(v["issues"])
            out.append(f"- {v['check_name']}: {mark}" + (f": {issues}" if issues else ""))
        out.append("")
    if parts["failures"]:
        out += ["### Answers not used", ""]
        for f in parts["failures"]:
            who = f" ({f['actor']})" if f["actor"] else ""
            out.append(f"- {f['purpose']}{who}, {f['error_kind']}: {f['error']}")
        out.append("")
    if turn["cost_usd"]:
        out += [f"Turn cost: {usd(turn['cost_usd'])}", ""]
    return out


def _mermaid(name: str, by_actor: dict[str, dict[int, float]]) -> tuple[str, ...]:
    """The metric as a Mermaid xychart (one line per actor; xychart has no legend)."""
    turns = sorted({t for values in by_actor.values() for t in values})
    actors = sorted(by_actor)
    lines = []
    filled = False
    for actor in actors:
        values, last = [], None
        for t in turns:
            v = by_actor[actor].get(t)
            if v is None:
                filled = True
                v = last if last is not None else 0.0
            values.append(v)
            last = v
        lines.append("    line [" + ", ".join(num(v) for v in values) + "]")
    out = [
        "```mermaid",
        "xychart-beta",
        f'    title "{name}"',
        '    x-axis "turn" [' + ", ".join(str(t) for t in turns) + "]",
        f'    y-axis "{name}"',
        *lines,
        "```",
    ]
    if actors != [""]:
        out += ["", "Lines, in order: " + ", ".join(a or "(all)" for a in actors) + "."]
    if filled:
        out += ["", "Turns without a value repeat the previous one."]
    return tuple(out)


def _charts(metrics: list[dict[str, Any]]) -> list[Line]:
    """One chart per metric over the turns, one line per actor."""
    named: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for m in metrics:
        if m["value"] is not None:
            named[m["name"]][m["actor"] or ""][m["turn"]] = m["value"]
    if not named:
        return []
    out: list[Line] = ["## Metric trajectories", ""]
    for name, by_actor in named.items():
        points = [
            (actor or name, t, v)
            for actor in sorted(by_actor)
            for t, v in sorted(by_actor[actor].items())
        ]
        spec = trajectory(
            name,
            name,
            points,
            series_title="actor",
            subtitle="per actor, by turn" if len(by_actor) > 1 else "by turn",
        )
        out += [
            f"### {name}",
            "",
            Chart(f"metric-{name}", f"{name} by turn", spec, _mermaid(name, by_actor)),
            "",
        ]
    return out


def _costs(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    out = ["## Costs", ""]
    any_rows = any_cached = False
    for view, key, title in (
        ("cost_by_actor", "actor", "By actor"),
        ("cost_by_model", "model", "By model"),
        ("cost_by_purpose", "purpose", "By phase"),
    ):
        found = rows(
            con,
            f"SELECT * FROM {view} WHERE run_id = ? ORDER BY cost_usd DESC, {key} NULLS LAST",
            run_id,
        )
        if not found:
            continue
        any_rows = True
        # the cache columns only where a provider reported its cache: for the other runs
        # they would be a column of unknowns
        cached = any(r["cached_prompt_tokens"] is not None for r in found)
        any_cached = any_cached or cached
        body = [
            (
                r[key] or "(world, metrics, validation)" if key == "actor" else r[key],
                r["calls"],
                f"{r['input_tokens']:,}",
                *((_count(r["cached_prompt_tokens"]),) if cached else ()),
                f"{r['output_tokens']:,}",
                cost_text(r["cost_usd"], r["unpriced_calls"]),
                *((_saving(r["cache_saving_usd"]),) if cached else ()),
            )
            for r in found
        ]
        header = [key, "calls", "input tokens", "output tokens", "cost"]
        if cached:
            header = [key, "calls", "input tokens", "cached", "output tokens", "cost", "saved"]
        out += [f"### {title}", "", markdown_table(header, body)]
    if any_cached:
        out += [
            "`cached`: input tokens the provider served from its prompt cache (billed at its "
            "cache price); `saved`: what they would have cost at the full input price, less "
            "what they cost.",
            "",
        ]
    if not any_rows:
        out += ["No model calls.", ""]
    return out


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _saving(value: float | None) -> str:
    return "-" if value is None else usd(value)


def cache_text(costs: dict[str, Any]) -> str:
    """The prompt cache's part of a cost line (``costs``: a ``cost_by_run`` row): the
    cached input tokens and what they saved, or nothing when no call reported them."""
    cached = costs.get("cached_prompt_tokens")
    if cached is None:
        return ""
    return f"; {cached:,} input tokens cached, saving {_saving(costs.get('cache_saving_usd'))}"


def run_report_document(con: duckdb.DuckDBPyConnection, run_id: str) -> Document:
    """The report of ``run_id`` (an exact id present in the projection): header, a
    summary for a long run, metric charts, lineage, setup, every turn, costs."""
    run = run_row(con, run_id)
    chain = lineage(con, run_id)
    sc = scenario(con, run["scenario_sha256"])
    metrics = timeline(con, "metrics", run_id)
    decisions = timeline(con, "decisions", run_id)
    calls = rows(con, "SELECT calls FROM cost_by_run WHERE run_id = ?", run_id)
    out: list[Line] = list(_header(con, run, chain))
    out += summary(run, metrics, decisions, sc["actors"], calls[0]["calls"] if calls else 0)
    out += _charts(metrics)
    out += _tree(con, run)
    out += ["## Initial situation", ""]
    out += [
        _quote(sc["initial_world_state"]) if sc["initial_world_state"] else "(not described)",
        "",
    ]
    out += _actors_table(sc)
    metrics_by_turn = _by_turn(metrics)
    if metrics_by_turn.get(0):
        body = [(m["name"], m["actor"] or "", num(m["value"])) for m in metrics_by_turn[0]]
        out += ["### Initial metrics", "", markdown_table(["metric", "actor", "value"], body)]
    tables = {
        "exogenous": _by_turn(timeline(con, "exogenous_events", run_id)),
        "messages": _by_turn(timeline(con, "messages", run_id)),
        "decisions": _by_turn(decisions),
        "world": _by_turn(timeline(con, "world_states", run_id)),
        "variables": _by_turn(timeline(con, "variables", run_id)),
        "validations": _by_turn(timeline(con, "validations", run_id)),
        "failures": _by_turn(timeline(con, "call_failures", run_id)),
    }
    for turn in rows(
        con, "SELECT * FROM turns WHERE run_id = ? AND turn > 0 ORDER BY turn", run_id
    ):
        t = turn["turn"]
        parts = {k: v.get(t, []) for k, v in tables.items()}
        parts["metrics"] = metrics_by_turn.get(t, [])
        out += _turn(turn, parts, sc["actors"])
    out += _costs(con, run_id)
    return Document(f"Run {run_id}: {run['scenario_name']}", out)


def run_report(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """The markdown report of ``run_id``, charts as Mermaid (``run_report_document``)."""
    return run_report_document(con, run_id).markdown()
