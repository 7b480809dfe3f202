"""The state of a run: frozen values folded from its events (see ``fold.py``).

Everything here is derived; nothing is stored except as a snapshot cache. Histories
are bounded (recent decisions, recent messages, a digest of older turns) so folding a
long run stays linear: the complete record is the log and the projections.
"""

from __future__ import annotations

from typing import Any

import msgspec

from eventstore import RunSettings


class DecisionView(msgspec.Struct, frozen=True, kw_only=True):
    turn: int
    action: str
    reasoning: str = ""
    action_name: str | None = None
    brain: str = "ai"
    parse_method: str = ""


class ActorView(msgspec.Struct, frozen=True, kw_only=True):
    goals: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    recent: tuple[DecisionView, ...] = ()
    decisions: int = 0


class MessageView(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    turn: int
    sender: str
    recipients: tuple[str, ...]
    channel: str
    visibility: str
    kind: str
    content: str
    thread_id: str | None = None
    in_reply_to: str | None = None


class Coalition(msgspec.Struct, frozen=True, kw_only=True):
    proposal_id: str
    turn: int
    proposer: str
    invited: tuple[str, ...]
    purpose: str
    accepted: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()

    @property
    def formed(self) -> bool:
        return not self.rejected and set(self.accepted) >= set(self.invited)

    @property
    def members(self) -> tuple[str, ...]:
        return (self.proposer, *self.invited)


class ExoView(msgspec.Struct, frozen=True, kw_only=True):
    turn: int
    name: str
    description: str
    kind: str
    source_index: int | None = None
    effects: dict[str, float] = {}


class ValidationView(msgspec.Struct, frozen=True, kw_only=True):
    turn: int
    check: str
    passed: bool
    severity: str
    issues: tuple[str, ...] = ()


class TurnProgress(msgspec.Struct, frozen=True, kw_only=True):
    """Which steps of the open turn are recorded: what resume needs to go on exactly."""

    requested: dict[str, str] = {}  # actor -> request id of its DecisionRequested
    decisions: dict[str, DecisionView] = {}
    decided: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    human_requested: dict[str, str] = {}  # actor -> request id
    human_kinds: dict[str, str] = {}  # request id -> decision/reply/coalition
    world_updated: bool = False
    metrics: frozenset[tuple[str, str | None]] = frozenset()
    validations: frozenset[str] = frozenset()
    call_ids: frozenset[str] = frozenset()  # request ids of this turn's model calls


class World(msgspec.Struct, frozen=True, kw_only=True):
    narrative: str = ""
    key_changes: tuple[str, ...] = ()
    consequences: tuple[str, ...] = ()
    variables: dict[str, float] = {}
    history: tuple[tuple[int, str], ...] = ()  # recent (turn, narrative)
    digest: tuple[tuple[int, str], ...] = ()  # older turns, one line each


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    latest: dict[str, float | None] = {}  # metric_key -> value
    history: dict[str, tuple[tuple[int, float], ...]] = {}
    failures: int = 0


class Costs(msgspec.Struct, frozen=True, kw_only=True):
    """Spending so far; ``breakdown`` keys are ``actor:X``, ``model:M``, ``turn:N``, ``purpose:P``.

    One dict rather than four keeps the fold's cost per ``CostIncurred`` to one copy.
    """

    total_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    breakdown: dict[str, float] = {}

    def by(self, dimension: str) -> dict[str, float]:
        """Costs by ``actor``, ``model``, ``turn`` or ``purpose``."""
        prefix = dimension + ":"
        return {k[len(prefix) :]: v for k, v in self.breakdown.items() if k.startswith(prefix)}


class Exogenous(msgspec.Struct, frozen=True, kw_only=True):
    fired_counts: dict[int, int] = {}  # source index -> times fired
    fired: tuple[tuple[int, str, str], ...] = ()  # (turn, name, kind), all of them
    this_turn: tuple[ExoView, ...] = ()


class Validation(msgspec.Struct, frozen=True, kw_only=True):
    latest: tuple[ValidationView, ...] = ()  # the current and previous turn
    failed_total: int = 0


class Messages(msgspec.Struct, frozen=True, kw_only=True):
    recent: tuple[MessageView, ...] = ()  # this turn and the last `window` turns
    coalitions: tuple[Coalition, ...] = ()


class RunState(msgspec.Struct, frozen=True, kw_only=True):
    scenario_name: str = ""
    scenario: dict[str, Any] = {}
    scenario_sha256: str = ""
    seed: int = 0
    settings: RunSettings = RunSettings(turns=0)
    tool_version: str = ""
    parent_run_id: str | None = None
    fork_turn: int | None = None
    control_overrides: dict[str, str] = {}
    pending_forced: dict[str, str] = {}
    pending_injections: tuple[str, ...] = ()
    status: str = "running"  # running, halted, completed, failed
    halt_reason: str | None = None
    halt_detail: str = ""
    pending_human: tuple[str, ...] = ()
    turn: int = 0
    turn_open: bool = False
    last_completed_turn: int = -1
    turn_progress: TurnProgress = TurnProgress()
    world: World = World()
    actors: dict[str, ActorView] = {}
    messages: Messages = Messages()
    metrics: Metrics = Metrics()
    costs: Costs = Costs()
    exogenous: Exogenous = Exogenous()
    validation: Validation = Validation()

    @property
    def window(self) -> int:
        return int(self.settings.context_window or self.scenario.get("context_window_size") or 3)


def metric_key(name: str, actor: str | None) -> str:
    """The key of a metric in ``Metrics``: the name, or ``name/actor`` for one actor's."""
    return name if actor is None else f"{name}/{actor}"


def visible_messages(state: RunState, actor: str) -> list[MessageView]:
    """Messages the actor sent or received, plus public ones; nothing else."""
    return [
        m
        for m in state.messages.recent
        if m.visibility == "public" or m.sender == actor or actor in m.recipients
    ]


def coalitions_of(state: RunState, actor: str) -> dict[str, tuple[str, ...]]:
    """Formed coalitions the actor belongs to: thread id -> members."""
    return {
        c.proposal_id: c.members
        for c in state.messages.coalitions
        if c.formed and actor in c.members
    }
