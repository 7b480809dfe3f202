"""The summary that opens a long run report: outcome, metrics from start to end, the
turns where the metrics moved most and what was decided there, the choices of declared
actions, and the cost. A reader sees how it went before the turn-by-turn detail.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

from ._numbers import num, signed, usd
from ._query import markdown_table

LONG = 3  # a report of more turns than this opens with the summary
TURNING_POINTS = 3
_SHORT_ACTION = 70  # characters of an action's text in a summary line


def metric_key(m: dict[str, Any]) -> str:
    """A metric's name, with its actor in brackets when it is an actor's."""
    return m["name"] + (f" [{m['actor']}]" if m["actor"] else "")


def series(metrics: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """metric key -> turn -> the turn's last value, keys in order of first appearance."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for m in metrics:
        if m["value"] is not None:
            out[metric_key(m)][m["turn"]] = m["value"]
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def _outcome(run: dict[str, Any]) -> str:
    done, planned = run["turns_completed"], run["turns_planned"]
    status = run["status"]
    if status == "completed":
        return f"completed ({done} of {planned} turns)"
    why = f" ({run['halt_reason']})" if run["halt_reason"] else ""
    return f"{status}{why} after turn {done} of {planned}"


def _metric_table(by_key: dict[str, dict[int, float]]) -> list[str]:
    body = []
    for key, values in by_key.items():
        turns = list(values)
        low = min(turns, key=lambda t: (values[t], t))
        high = max(turns, key=lambda t: (values[t], -t))
        start, end = values[turns[0]], values[turns[-1]]
        body.append(
            (
                key,
                f"{num(start)} (turn {turns[0]})",
                f"{num(end)} (turn {turns[-1]})",
                signed(end - start),
                f"{num(values[low])} (turn {low})",
                f"{num(values[high])} (turn {high})",
            )
        )
    return [markdown_table(["metric", "start", "end", "change", "lowest", "highest"], body)]


def _moves(by_key: dict[str, dict[int, float]]) -> dict[int, list[tuple[float, str]]]:
    """turn -> (size, text) of each metric's change from its previous value; size is
    the change as a share of the metric's whole range, so metrics of any scale compare."""
    out: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for key, values in by_key.items():
        spread = max(values.values()) - min(values.values())
        turns = list(values)
        for before, turn in pairwise(turns):
            change = values[turn] - values[before]
            if spread > 0 and change != 0:
                text = f"{key} {num(values[before])} → {num(values[turn])} ({signed(change)})"
                out[turn].append((abs(change) / spread, text))
    return out


def _action(d: dict[str, Any]) -> str:
    if d["action_name"]:
        return f"`{d['action_name']}`"
    text = " ".join(d["action"].split()).rstrip(".")
    return text if len(text) <= _SHORT_ACTION else text[: _SHORT_ACTION - 1].rstrip() + "…"


def _turning_points(
    by_key: dict[str, dict[int, float]], decisions: list[dict[str, Any]], names: dict[str, Any]
) -> list[str]:
    moves = _moves(by_key)
    ranked = sorted(moves, key=lambda t: (-sum(s for s, _ in moves[t]), t))[:TURNING_POINTS]
    if not ranked:
        return []
    out = ["### Turning points", "", "The turns in which the metrics moved most:", ""]
    for turn in sorted(ranked):
        biggest = [text for _, text in sorted(moves[turn], key=lambda m: -m[0])[:3]]
        decided = [
            f"{_name(d['actor'], names)}: {_action(d)}"
            for d in decisions
            if d["turn"] == turn and not d["failed"]
        ]
        out.append(f"- **Turn {turn}:** " + "; ".join(biggest) + ".")
        if decided:
            out.append("  Decisions: " + "; ".join(decided) + ".")
    return [*out, ""]


def _name(actor: str, names: dict[str, Any]) -> str:
    return str((names.get(actor) or {}).get("name") or actor)


def _choices(decisions: list[dict[str, Any]], names: dict[str, Any]) -> list[str]:
    """Per actor, its declared actions as runs of turns (``patrol (turns 1-2), talk (3)``)."""
    picked: dict[str, dict[int, str]] = defaultdict(dict)
    for d in decisions:
        if d["action_name"] and not d["failed"]:
            picked[d["actor"]][d["turn"]] = d["action_name"]  # a retry's decision wins
    if not picked:
        return []
    out = ["### Choices", "", "The declared action each actor took, turn by turn:", ""]
    for actor, by_turn in picked.items():
        spans: list[list[Any]] = []  # [action, first turn, last turn]
        for turn, name in sorted(by_turn.items()):
            if spans and spans[-1][0] == name and spans[-1][2] == turn - 1:
                spans[-1][2] = turn
            else:
                spans.append([name, turn, turn])
        text = ", ".join(
            f"`{n}` (turn {a})" if a == b else f"`{n}` (turns {a}-{b})" for n, a, b in spans
        )
        out.append(f"- {_name(actor, names)}: {text}")
    return [*out, ""]


def summary(
    run: dict[str, Any],
    metrics: list[dict[str, Any]],
    decisions: list[dict[str, Any]],
    names: dict[str, Any],
    calls: int,
) -> list[str]:
    """The summary section, or nothing for a run of ``LONG`` turns or fewer."""
    if run["turns_completed"] <= LONG:
        return []
    by_key = series(metrics)
    cost = (
        f"{usd(run['total_cost_usd'])} for {calls:,} model call{'s' if calls != 1 else ''}"
        f" ({run['input_tokens']:,} input / {run['output_tokens']:,} output tokens)"
        if calls
        else "none (no model calls)"
    )
    out = ["## Summary", "", f"- Outcome: {_outcome(run)}", f"- Cost: {cost}", ""]
    if by_key:
        out += ["### Metrics from start to end", "", *_metric_table(by_key)]
    out += _turning_points(by_key, decisions, names)
    out += _choices(decisions, names)
    return out
