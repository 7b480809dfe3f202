"""The hotwash: an after-action review of one run, for the people who played it.

Read from the run's log alone (no analytics file): the decisions each actor took, the
turning points (the turns where a metric or world variable moved most), the live
injects with who gave them and what moved in the turn they landed, the validation
checks that failed, and what the model calls cost. ``after_action_markdown`` renders it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import msgspec

from .reads import LogQuery, log_lines, run_summary
from .settings import LabSettings

TURNING_POINTS = 5


class ActorDecision(msgspec.Struct, frozen=True, kw_only=True):
    turn: int
    action: str
    action_name: str | None
    by: str  # "ai", "rules", "scripted", or "human" (with who answered)


class TurningPoint(msgspec.Struct, frozen=True, kw_only=True):
    """A turn where a measure moved: ``measure`` is a metric (``name`` or
    ``name (actor)``) or ``variable name``."""

    turn: int
    measure: str
    before: float
    after: float
    change: float


class InjectReview(msgspec.Struct, frozen=True, kw_only=True):
    inject_id: str
    turn: int | None  # the turn it landed in (None: not delivered yet)
    name: str
    description: str
    effects: dict[str, float]
    visible_to: tuple[str, ...]
    injected_by: str
    moved: tuple[TurningPoint, ...]  # what changed in the turn it landed


class FailedCheck(msgspec.Struct, frozen=True, kw_only=True):
    turn: int
    check: str
    severity: str
    issues: tuple[str, ...]


class AfterAction(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    scenario: str | None
    status: str
    turns_completed: int
    decisions: dict[str, tuple[ActorDecision, ...]]  # actor -> in turn order
    turning_points: tuple[TurningPoint, ...]  # the largest moves, largest first
    injects: tuple[InjectReview, ...]
    failed_checks: tuple[FailedCheck, ...]
    cost_usd: float
    cost_by_purpose: dict[str, float]
    calls: int


def _moves(series: dict[str, dict[int, float]]) -> list[TurningPoint]:
    """Every turn-to-turn change of every measure."""
    out = []
    for measure, by_turn in series.items():
        turns = sorted(by_turn)
        for prev, turn in itertools.pairwise(turns):
            change = by_turn[turn] - by_turn[prev]
            if change:
                out.append(
                    TurningPoint(
                        turn=turn,
                        measure=measure,
                        before=by_turn[prev],
                        after=by_turn[turn],
                        change=round(change, 6),
                    )
                )
    return out


def after_action(settings: LabSettings, run_ref: str) -> AfterAction:
    """The after-action review of a run (see the module docstring)."""
    summary = run_summary(settings, run_ref)
    decisions: dict[str, list[ActorDecision]] = defaultdict(list)
    series: dict[str, dict[int, float]] = defaultdict(dict)
    queued: dict[str, Any] = {}
    landed: dict[str, int] = {}
    failed: list[FailedCheck] = []
    by_purpose: dict[str, float] = defaultdict(float)
    calls = 0
    for line in log_lines(settings, LogQuery(run=summary.run_id)):
        e: Any = line.payload
        t = line.type
        if t == "DecisionMade":
            decisions[e.actor].append(
                ActorDecision(turn=e.turn, action=e.action, action_name=e.action_name, by=e.brain)
            )
        elif t == "HumanDecisionSubmitted" and e.kind == "decision":
            who = f"human ({e.submitted_by})" if e.submitted_by else "human"
            decisions[e.actor].append(
                ActorDecision(turn=e.turn, action=e.action, action_name=e.action_name, by=who)
            )
        elif t == "MetricRecorded" and e.value is not None:
            key = f"{e.name} ({e.actor})" if e.actor else e.name
            series[key][e.turn] = float(e.value)
        elif t == "WorldUpdated":
            for name, value in e.variables.items():
                series[f"variable {name}"][e.turn] = float(value)
        elif t == "InjectQueued":
            queued[e.inject_id] = e
        elif t == "ExogenousEventTriggered" and e.inject_id is not None:
            landed[e.inject_id] = e.turn
        elif t == "ValidationRecorded" and not e.passed:
            failed.append(
                FailedCheck(turn=e.turn, check=e.check, severity=e.severity, issues=e.issues)
            )
        elif t == "CostIncurred":
            by_purpose[e.purpose] += e.cost_usd
            calls += 1
    moves = _moves(series)
    top = sorted(moves, key=lambda m: (-abs(m.change), m.turn, m.measure))[:TURNING_POINTS]
    injects = tuple(
        InjectReview(
            inject_id=i,
            turn=landed.get(i),
            name=q.name,
            description=q.description,
            effects=dict(q.effects),
            visible_to=q.visible_to,
            injected_by=q.injected_by,
            moved=tuple(m for m in moves if m.turn == landed.get(i)),
        )
        for i, q in queued.items()
    )
    return AfterAction(
        run_id=summary.run_id,
        scenario=summary.scenario,
        status=summary.status,
        turns_completed=summary.turns_completed,
        decisions={a: tuple(sorted(d, key=lambda x: x.turn)) for a, d in decisions.items()},
        turning_points=tuple(top),
        injects=injects,
        failed_checks=tuple(failed),
        cost_usd=round(summary.total_cost_usd, 6),
        cost_by_purpose={k: round(v, 6) for k, v in sorted(by_purpose.items())},
        calls=calls,
    )


def _move(m: TurningPoint) -> str:
    return f"{m.measure}: {m.before:g} -> {m.after:g} ({m.change:+g})"


def after_action_markdown(review: AfterAction) -> str:
    """The review as a markdown page."""
    out = [
        f"# After-action review: {review.scenario or review.run_id}",
        "",
        f"Run `{review.run_id}`: {review.status}, {review.turns_completed} turns.",
        "",
        "## Key decisions",
    ]
    for actor, taken in sorted(review.decisions.items()):
        out += ["", f"### {actor}", ""]
        for d in taken:
            named = f" [{d.action_name}]" if d.action_name else ""
            out.append(f"- turn {d.turn}{named} ({d.by}): {' '.join(d.action.split())}")
    out += ["", "## Turning points", ""]
    out += [f"- turn {m.turn}: {_move(m)}" for m in review.turning_points] or ["- none"]
    out += ["", "## Injects", ""]
    if not review.injects:
        out.append("- none")
    for i in review.injects:
        when = f"turn {i.turn}" if i.turn is not None else "not delivered yet"
        to = ", ".join(i.visible_to) if i.visible_to else "everyone"
        out.append(f"- {when}, by {i.injected_by or '?'}, shown to {to}: {i.description}")
        out += [f"  - {_move(m)}" for m in i.moved]
    out += ["", "## Validation problems", ""]
    out += [
        f"- turn {c.turn} {c.check} ({c.severity}): {'; '.join(c.issues) or 'failed'}"
        for c in review.failed_checks
    ] or ["- none"]
    out += ["", "## Cost", "", f"${review.cost_usd:.4f} over {review.calls} model calls"]
    out += [f"- {purpose}: ${usd:.4f}" for purpose, usd in review.cost_by_purpose.items()]
    return "\n".join(out) + "\n"
