"""One readable line per event, for ``scenario-lab log``."""

from __future__ import annotations

from typing import Any


def _clip(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def summary(rec: Any) -> str:
    """What the event (a ``scenario_lab.app.EventLine``) says, in a few words."""
    e: Any = rec.payload
    t = rec.type
    if t == "RunStarted":
        return f"{e.scenario_name} seed={e.seed} turns={e.settings.turns}"
    if t == "RunForked":
        changed = [k for k in ("seed", "turns", "credit_limit_usd") if getattr(e, k) is not None]
        changed += [
            k for k in ("model_overrides", "control_changes", "forced_decisions") if getattr(e, k)
        ]
        changed += ["injections"] if e.injections else []
        return f"from {e.parent_run_id} at turn {e.fork_turn}" + (
            f" changing {', '.join(changed)}" if changed else ""
        )
    if t == "RunHalted":
        return f"{e.reason}: {_clip(e.detail)}" if e.detail else e.reason
    if t == "RunResumed":
        return _clip(e.detail) or "resumed"
    if t == "RunCompleted":
        return f"{e.turns_completed} turns, ${e.total_cost_usd:.4f}"
    if t == "RunFailed":
        return _clip(e.error)
    if t == "TurnStarted":
        return e.simulated_date or ""
    if t == "ExogenousEventTriggered":
        return f"[{e.kind}] {e.name}: {_clip(e.description, 70)}"
    if t == "MessageSent":
        return f"{e.sender} -> {', '.join(e.recipients) or 'all'} ({e.channel}/{e.kind}): {_clip(e.content, 60)}"
    if t == "DecisionRequested":
        return f"{e.brain} {e.model}"
    if t == "DecisionMade":
        return f"[{e.parse_method or e.brain}] {_clip(e.action)}"
    if t == "DecisionFailed":
        return f"{e.error_kind}: {_clip(e.error)}"
    if t == "HumanInputRequested":
        return f"waiting for {e.actor} ({e.kind})"
    if t == "HumanDecisionSubmitted":
        return _clip(e.action) if e.kind == "decision" else f"{e.kind}: {_clip(e.action)}"
    if t == "WorldUpdated":
        return f"[{e.source}] {_clip(e.narrative)}"
    if t == "MetricRecorded":
        value = e.category if e.category is not None else e.value
        who = f" ({e.actor})" if e.actor else ""
        return f"{e.name}{who} = {value}" + (f" [failed: {_clip(e.error, 40)}]" if e.error else "")
    if t == "ValidationRecorded":
        verdict = "passed" if e.passed else f"FAILED ({e.severity})"
        return f"{e.check}: {verdict}"
    if t == "CallFailed":
        return (
            f"{e.purpose} {e.request_id} {e.error_kind} after {e.asks} ask(s): {_clip(e.error, 60)}"
        )
    if t == "ActorInterviewed":
        return f"after turn {e.at_turn}: {_clip(e.question, 40)} -> {_clip(e.answer, 40)}"
    if t == "CostIncurred":
        return f"{e.purpose} {e.model} {e.input_tokens}+{e.output_tokens} tok ${e.cost_usd:.5f}"
    return ""


def line(rec: Any) -> str:
    actor = rec.actor or "-"
    return (
        f"{rec.position:>7} {rec.seq:>5} t{rec.turn:<3} {rec.type:<24} {actor:<14} {summary(rec)}"
    )
