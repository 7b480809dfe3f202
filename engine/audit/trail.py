"""The audit trail of decisions: what each actor saw, answered, and what it cost.

Built from the events alone (no fold): for every decision request, the full prompt
(from its blob), each model call with its attempts, the raw response, the parsed
decision and how it was parsed; for human decisions, who submitted them and when.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from eventstore import (
    CostIncurred,
    DecisionFailed,
    DecisionMade,
    DecisionRequested,
    EventStore,
    HumanDecisionSubmitted,
    HumanInputRequested,
    ModelCall,
)


def _blob_text(store: EventStore, sha: str | None) -> str | None:
    if sha is None:
        return None
    return store.get_blob(sha).decode("utf-8", errors="replace")


def _prompt(store: EventStore, sha: str | None) -> Any:
    text = _blob_text(store, sha)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _call(store: EventStore, call: ModelCall | None) -> dict[str, Any] | None:
    if call is None:
        return None
    data = msgspec.to_builtins(call)
    data["raw_response"] = _blob_text(store, call.response_hash)
    return data


def audit(
    store: EventStore, run_id: str, *, actor: str | None = None, turn: int | None = None
) -> list[dict[str, Any]]:
    """One entry per decision of the run (inherited turns of a fork included)."""
    entries: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for rec in store.iter_events(run_id):
        ev = rec.event
        if turn is not None and rec.turn != turn:
            continue
        if actor is not None and rec.actor != actor:
            continue
        if isinstance(
            ev,
            DecisionRequested
            | HumanInputRequested
            | DecisionMade
            | DecisionFailed
            | HumanDecisionSubmitted,
        ):
            found = entries.get(ev.request_id)
            if found is None:
                found = {
                    "run_id": rec.run_id,
                    "turn": rec.turn,
                    "actor": ev.actor,
                    "request_id": ev.request_id,
                    "calls": [],
                    "costs": [],
                    "outcome": "pending",
                }
                entries[ev.request_id] = found
                order.append(ev.request_id)
            entry: dict[str, Any] = found
        if isinstance(ev, DecisionRequested):
            entry.update(
                brain=ev.brain,
                model=ev.model,
                temperature=ev.temperature,
                seed=ev.seed,
                json_mode=ev.json_mode,
                requested_at=rec.recorded_at,
                prompt=_prompt(store, ev.prompt_hash),
            )
        elif isinstance(ev, HumanInputRequested):
            entry.update(
                brain="human", requested_at=rec.recorded_at, prompt=_prompt(store, ev.prompt_hash)
            )
        elif isinstance(ev, DecisionMade):
            entry.update(
                outcome="decided",
                brain=ev.brain,
                parse_method=ev.parse_method,
                decision={
                    "long_term_goals": list(ev.long_term_goals),
                    "short_term_priorities": list(ev.short_term_priorities),
                    "reasoning": ev.reasoning,
                    "action": ev.action,
                    "action_name": ev.action_name,
                },
                decided_at=rec.recorded_at,
            )
            if ev.call is not None:
                entry["calls"].append(_call(store, ev.call))
        elif isinstance(ev, DecisionFailed):
            entry.update(
                outcome="failed",
                error=ev.error,
                error_kind=ev.error_kind,
                decided_at=rec.recorded_at,
            )
            if ev.call is not None:
                entry["calls"].append(_call(store, ev.call))
        elif isinstance(ev, HumanDecisionSubmitted):
            entry.update(
                outcome="decided",
                brain="human",
                parse_method="human",
                decision={
                    "long_term_goals": list(ev.long_term_goals),
                    "short_term_priorities": list(ev.short_term_priorities),
                    "reasoning": ev.reasoning,
                    "action": ev.action,
                    "action_name": ev.action_name,
                },
                submitted_by=ev.submitted_by,
                submitted_via=ev.submitted_via,
                decided_at=rec.recorded_at,
            )
        elif isinstance(ev, CostIncurred) and ev.purpose == "decision" and ev.request_id in entries:
            entries[ev.request_id]["costs"].append(msgspec.to_builtins(ev))
    out = []
    for rid in order:
        entry = entries[rid]
        entry["cost_usd"] = round(sum(c["cost_usd"] for c in entry["costs"] if "cost_usd" in c), 8)
        entry["model_calls"] = len(entry["costs"])
        out.append(entry)
    return out


def audit_markdown(entries: list[dict[str, Any]]) -> str:
    """A readable rendering of ``audit`` for the terminal."""
    lines: list[str] = []
    for e in entries:
        lines.append(f"## turn {e['turn']} · {e['actor']} · {e.get('brain', '?')} · {e['outcome']}")
        if e.get("model"):
            lines.append(
                f"model {e['model']} · temperature {e.get('temperature')} · seed {e.get('seed')} · "
                f"{e['model_calls']} call(s) · ${e['cost_usd']:.6f}"
            )
        if e.get("submitted_by") is not None and e.get("brain") == "human":
            lines.append(
                f"submitted by {e.get('submitted_by') or '(unnamed)'} via {e.get('submitted_via')} at {e.get('decided_at')}"
            )
        prompt = e.get("prompt")
        if isinstance(prompt, dict):
            for m in prompt.get("messages", []):
                lines.append(f"### prompt ({m.get('role')})\n{m.get('content')}")
        for i, call in enumerate(e["calls"], 1):
            attempts = ", ".join(
                f"{a['outcome']} {a.get('latency_ms', 0):.0f}ms" for a in call.get("attempts", [])
            )
            lines.append(
                f"### call {i}: parsed as {call.get('parse_method') or '?'}; "
                f"{call.get('input_tokens', 0)}+{call.get('output_tokens', 0)} tokens, "
                f"{call.get('latency_ms', 0):.0f} ms; attempts: {attempts or 'n/a'}"
            )
            lines.append(f"```\n{call.get('raw_response') or ''}\n```")
        if "decision" in e:
            d = e["decision"]
            lines.append("### decision")
            if d.get("long_term_goals"):
                lines.append("goals: " + "; ".join(d["long_term_goals"]))
            if d.get("reasoning"):
                lines.append(f"reasoning: {d['reasoning']}")
            chosen = f" [{d['action_name']}]" if d.get("action_name") else ""
            lines.append(f"action: {d['action']}{chosen}")
        if e.get("error"):
            lines.append(f"error ({e.get('error_kind')}): {e['error']}")
        lines.append("")
    return "\n".join(lines)
