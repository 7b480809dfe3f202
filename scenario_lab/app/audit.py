"""The audit trail of decisions, and re-executing a run against its recorded answers.

``audit`` gives, per decision, the full prompt, each model call with its attempts and
raw response, how the answer was parsed, tokens, cost and latency, or who answered a
human seat. ``check`` re-runs the engine offline over the log and names the first step
that differs (``NondeterminismError``).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from eventstore import CostIncurred, ModelCall

from .reads import check_actor, check_turn
from .settings import LabSettings
from .store import open_store
from .verification import require_verified


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which decisions of ``run``: only ``actor``'s, only in ``turn``."""

    run: str
    actor: str | None = None
    turn: int | None = None


class AuditCall(ModelCall, frozen=True, kw_only=True):
    """One model call of a request, with the raw response text it returned and, for an
    answered call, why the model stopped (``length``: cut off at the token limit)."""

    finish_reason: str | UnsetType | None = UNSET
    raw_response: str | UnsetType | None = UNSET


class AuditMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message a communication call sent."""

    message_id: str
    channel: str
    kind: str
    recipients: tuple[str, ...]
    content: str


class AuditDecision(msgspec.Struct, frozen=True, kw_only=True):
    long_term_goals: list[str]
    short_term_priorities: list[str]
    reasoning: str
    action: str
    action_name: str | None


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One request and everything behind it: a decision (a model's, a rule brain's or a
    human's), a communication call (``purpose`` communication, with the ``messages`` it
    sent), another call whose answer was not used (a world update, metric or check), or
    an interview kept on a branch (``purpose`` interview).

    ``outcome`` is decided, answered, failed or pending; ``asks`` how often a failed
    request was asked. Fields a kind of decision does not have
    are unset (absent from JSON): a human decision has no ``model``, a failed one no
    ``decision``. ``prompt`` is the recorded prompt document (``{"messages": [...]}``).
    """

    run_id: str
    turn: int
    actor: str | None
    request_id: str
    purpose: str
    calls: tuple[AuditCall, ...]
    costs: tuple[CostIncurred, ...]
    outcome: str
    brain: str | UnsetType = UNSET
    model: str | UnsetType = UNSET
    temperature: float | UnsetType | None = UNSET
    seed: int | UnsetType | None = UNSET
    json_mode: bool | UnsetType = UNSET
    requested_at: str | UnsetType = UNSET
    prompt: Any = UNSET
    parse_method: str | UnsetType = UNSET
    decision: AuditDecision | UnsetType = UNSET
    error: str | UnsetType = UNSET
    error_kind: str | UnsetType = UNSET
    asks: int | UnsetType = UNSET
    messages: tuple[AuditMessage, ...] | UnsetType = UNSET
    submitted_by: str | UnsetType = UNSET
    submitted_via: str | UnsetType = UNSET
    decided_at: str | UnsetType = UNSET
    cost_usd: float | int = 0  # an int 0 when nothing was paid, as the trail sums it
    model_calls: int = 0


def audit(settings: LabSettings, query: AuditQuery) -> tuple[AuditEntry, ...]:
    """Every decision of the run matching ``query`` (inherited turns of a fork included).

    An actor the run does not have, or a turn it does not reach, is refused."""
    from engine.audit.trail import audit as trail

    with open_store(settings) as store:
        run_id = store.resolve(query.run)
        require_verified(store, [run_id])
        check_actor(store, run_id, query.actor)
        check_turn(store, run_id, query.turn)
        entries = trail(store, run_id, actor=query.actor, turn=query.turn)
    return msgspec.convert(entries, tuple[AuditEntry, ...])


def audit_markdown(entries: tuple[AuditEntry, ...]) -> str:
    """The audit trail as markdown, for a person to read."""
    from engine.audit.trail import audit_markdown as render

    return render(msgspec.to_builtins(entries))


class CheckResult(msgspec.Struct, frozen=True, kw_only=True):
    """A run re-executed against its recorded answers with no difference found."""

    run_id: str
    events: int


def check(settings: LabSettings, run_ref: str) -> CheckResult:
    """Re-execute the run offline; ``NondeterminismError`` names the first step whose
    request or event differs from the log. A branch is checked from its fork on."""
    from engine.audit.check import check_run

    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        require_verified(store, [run_id])
        events = check_run(store, run_id)
    return CheckResult(run_id=run_id, events=events)
