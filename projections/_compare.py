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

from ._data import changes_text, lineage, rows, run_row
from ._query import plain


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


Choice = tuple[str | None, str]  # (declared action name or None, action text)


def _decisions(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[tuple[str, int], Choice]:
    found = rows(
        con,
        "SELECT actor, turn, action_name, action FROM decisions "
        "WHERE run_id = ? AND NOT failed ORDER BY seq",
        run_id,
    )
    # a retry's decision wins
    return {(d["actor"], d["turn"]): (d["action_name"], d["action"]) for d in found}


def _same(choices: list[Choice]) -> tuple[bool, str]:
    """Whether the runs took the same action, and how that was judged: by the declared
    action's name when every decision names one (its text may be worded differently,
    e.g. a fork's forced decision against the rule brain's narrative), else by text."""
    names = [name for name, _ in choices]
    if all(names):
        return len(set(names)) == 1, "action_name"
    return len({" ".join(text.split()) for _, text in choices}) == 1, "text"


def _first_divergence(per_run: dict[str, dict[tuple[str, int], Choice]]) -> dict[str, Any]:
    """Per actor, the first turn every run decided in where their actions differ."""
    actors = sorted({a for decisions in per_run.values() for a, _ in decisions})
    out: dict[str, Any] = {}
    for actor in actors:
        turns = sorted(
            set.intersection(*({t for a, t in d if a == actor} for d in per_run.values()))
        )
        out[actor] = None
        for t in turns:
            choices = {run: d[(actor, t)] for run, d in per_run.items()}
            same, basis = _same(list(choices.values()))
            if not same:
                out[actor] = {
                    "turn": t,
                    "compared": basis,
                    "actions": {run: text for run, (_, text) in choices.items()},
                    "action_names": {run: name for run, (name, _) in choices.items()},
                }
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
