"""The audit trail: what each actor saw, answered, and what it cost.

Built from the events alone (no fold), one entry per request:

- every decision: the full prompt (from its blob), the parsed decision and how it was
  parsed, or why it failed; for a human's, who submitted it and when;
- every call of the communication phase (a talk plan, a reply, a coalition answer):
  its prompt, the messages it sent, or why it sent none;
- every other call whose answer was not used (``CallFailed``: a world update, a metric,
  a check);
- every interview kept on a branch (``interview --keep``): its prompt and raw answer.

Each entry lists its model calls in order, re-asks included: the raw answer of each
(every answered call's cost links its request and answer blobs), how it ended, and,
where an event holds the call's record, its attempts, latency and how it was read.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from eventstore import (
    CallFailed,
    CostIncurred,
    DecisionFailed,
    DecisionMade,
    DecisionRequested,
    EventStore,
    HumanDecisionSubmitted,
    HumanInputRequested,
    MessageSent,
    ModelCall,
    Recorded,
)

_DECISION_EVENTS = (
    DecisionRequested,
    HumanInputRequested,
    DecisionMade,
    DecisionFailed,
    HumanDecisionSubmitted,
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
    data: dict[str, Any] = msgspec.to_builtins(call)
    data["raw_response"] = _blob_text(store, call.response_hash)
    return data


class _Trail:
    """The entries being built, in the order their requests first appear."""

    def __init__(self, store: EventStore):
        self.store = store
        self.entries: dict[str, dict[str, Any]] = {}
        # per request: its answered calls' costs, and the records events hold of calls
        self.costs: dict[str, list[CostIncurred]] = {}
        self.records: dict[str, list[ModelCall]] = {}
        self.by_answer: dict[str, str] = {}  # a call's answer blob -> its request

    def entry(self, rec: Recorded, request_id: str, actor: str | None, purpose: str) -> Any:
        found = self.entries.get(request_id)
        if found is None:
            found = self.entries[request_id] = {
                "run_id": rec.run_id,
                "turn": rec.turn,
                "actor": actor,
                "request_id": request_id,
                "purpose": purpose,
                "calls": [],
                "costs": [],
                "outcome": "pending",
            }
        return found

    def record(self, request_id: str, call: ModelCall | None) -> None:
        if call is not None:
            self.records.setdefault(request_id, []).append(call)

    def add(self, rec: Recorded) -> None:
        ev = rec.event
        if isinstance(ev, _DECISION_EVENTS):
            _decision(self, rec, self.entry(rec, ev.request_id, ev.actor, "decision"))
        elif isinstance(ev, CostIncurred) and ev.request_id is not None:
            self.costs.setdefault(ev.request_id, []).append(ev)
            if ev.response_hash is not None:
                self.by_answer[ev.response_hash] = ev.request_id
            if ev.purpose in ("communication", "interview"):
                entry = self.entry(rec, ev.request_id, ev.actor, ev.purpose)
                if entry["outcome"] == "pending":
                    entry["outcome"] = "answered"
        elif isinstance(ev, CallFailed):
            entry = self.entry(rec, ev.request_id, ev.actor, ev.purpose)
            entry.update(outcome="failed", error=ev.error, error_kind=ev.error_kind, asks=ev.asks)
            entry["decided_at"] = rec.recorded_at
            self.record(ev.request_id, ev.call)
        elif isinstance(ev, MessageSent) and ev.call is not None:
            request_id = self.by_answer.get(ev.call.response_hash or "")
            entry = self.entries.get(request_id) if request_id is not None else None
            if request_id is not None and entry is not None:
                entry.setdefault("messages", []).append(
                    {
                        "message_id": ev.message_id,
                        "channel": ev.channel,
                        "kind": ev.kind,
                        "recipients": list(ev.recipients),
                        "content": ev.content,
                    }
                )
                if ev.call not in self.records.get(request_id, ()):  # a plan's messages share it
                    self.record(request_id, ev.call)

    def finish(self) -> list[dict[str, Any]]:
        out = []
        for request_id, entry in self.entries.items():
            costs = self.costs.get(request_id, [])
            entry["costs"] = [msgspec.to_builtins(c) for c in costs]
            entry["calls"] = self.calls(costs, self.records.get(request_id, []))
            if "prompt" not in entry and entry["calls"]:
                entry["prompt"] = _prompt(self.store, entry["calls"][0].get("prompt_hash"))
            entry["cost_usd"] = round(sum(c.cost_usd for c in costs), 8)
            entry["model_calls"] = len(costs)
            out.append(entry)
        return out

    def calls(self, costs: list[CostIncurred], records: list[ModelCall]) -> list[dict[str, Any]]:
        """Every call of a request, in order: each answered one from its cost, with the
        record an event holds of it; then one that got no answer. A log recorded before
        costs linked their calls has only the records."""
        if not any(c.response_hash for c in costs):
            return [_call(self.store, r) or {} for r in records]
        held = {r.response_hash: r for r in records if r.response_hash is not None}
        out: list[dict[str, Any]] = []
        for cost in costs:
            record = held.get(cost.response_hash or "")
            data: dict[str, Any] = (
                msgspec.to_builtins(record)
                if record is not None
                else {
                    "model": cost.model,
                    "prompt_hash": cost.prompt_hash,
                    "response_hash": cost.response_hash,
                    "input_tokens": cost.input_tokens,
                    "output_tokens": cost.output_tokens,
                    "cost_usd": cost.cost_usd,
                }
            )
            data["finish_reason"] = cost.finish_reason
            data["raw_response"] = _blob_text(self.store, cost.response_hash)
            out.append(data)
        out += [_call(self.store, r) or {} for r in records if r.response_hash is None]
        return out


def _decision(trail: _Trail, rec: Recorded, entry: dict[str, Any]) -> None:
    """What a decision's events add to its entry."""
    ev = rec.event
    store = trail.store
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
            decision=_decided(ev),
            decided_at=rec.recorded_at,
        )
        trail.record(ev.request_id, ev.call)
    elif isinstance(ev, DecisionFailed):
        entry.update(
            outcome="failed",
            error=ev.error,
            error_kind=ev.error_kind,
            decided_at=rec.recorded_at,
        )
        trail.record(ev.request_id, ev.call)
    elif isinstance(ev, HumanDecisionSubmitted):
        entry.update(
            outcome="decided",
            brain="human",
            parse_method="human",
            decision=_decided(ev),
            submitted_by=ev.submitted_by,
            submitted_via=ev.submitted_via,
            decided_at=rec.recorded_at,
        )


def _decided(ev: DecisionMade | HumanDecisionSubmitted) -> dict[str, Any]:
    return {
        "long_term_goals": list(ev.long_term_goals),
        "short_term_priorities": list(ev.short_term_priorities),
        "reasoning": ev.reasoning,
        "action": ev.action,
        "action_name": ev.action_name,
    }


def audit(
    store: EventStore, run_id: str, *, actor: str | None = None, turn: int | None = None
) -> list[dict[str, Any]]:
    """One entry per decision, per communication call and per call whose answer was not
    used, of the run (inherited turns of a fork included); see the module docstring."""
    trail = _Trail(store)
    for rec in store.iter_events(run_id):
        if turn is not None and rec.turn != turn:
            continue
        if actor is not None and rec.actor != actor:
            continue
        trail.add(rec)
    return trail.finish()


def audit_markdown(entries: list[dict[str, Any]]) -> str:
    """A readable rendering of ``audit`` for the terminal."""
    lines: list[str] = []
    for e in entries:
        kind = e.get("brain", "?") if e["purpose"] == "decision" else e["purpose"]
        lines.append(f"## turn {e['turn']} · {e['actor'] or 'the world'} · {kind} · {e['outcome']}")
        if e.get("model"):
            lines.append(
                f"model {e['model']} · temperature {e.get('temperature')} · seed {e.get('seed')} · "
                f"{e['model_calls']} call(s) · ${e['cost_usd']:.6f}"
            )
        elif e["purpose"] != "decision":
            lines.append(f"{e['request_id']} · {e['model_calls']} call(s) · ${e['cost_usd']:.6f}")
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
            ended = f", ended: {call['finish_reason']}" if call.get("finish_reason") else ""
            lines.append(
                f"### call {i}: parsed as {call.get('parse_method') or '?'}{ended}; "
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
        for m in e.get("messages", []):
            to = ", ".join(m["recipients"]) or "all"
            lines.append(f"### message to {to} ({m['channel']}/{m['kind']})\n{m['content']}")
        if e.get("error"):
            lines.append(f"error ({e.get('error_kind')}): {e['error']}")
        lines.append("")
    return "\n".join(lines)
