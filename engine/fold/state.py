"""The state of a run: frozen values folded from its events by ``fold.apply``.

Every type here is a frozen msgspec Struct: cheap to copy with
``msgspec.structs.replace`` and to snapshot with msgpack. The dicts inside are never
changed in place; the fold builds a new dict for each change (copy on write), so a
state handed out earlier never changes when the fold goes on.

The structs are declared ``gc=False``: a state is a tree of values with no reference
cycles, and keeping tens of thousands of them out of the cycle collector's lists is a
large part of what makes a replay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

import msgspec

from eventstore import InjectQueued, RunSettings, WorldUpdateProposed, WorldUpdateReviewed

# Bump when a field of any struct below changes: snapshots are stored under
# f"runstate-v{STATE_VERSION}", so an older layout misses the cache instead of failing.
STATE_VERSION = 3  # 3: Costs counts cached prompt tokens and their saving

DEFAULT_WINDOW = 3

T = TypeVar("T")

Status = Literal["running", "halted", "completed", "failed"]
MetricKey = tuple[str, str | None]  # (metric name, actor or None for a world metric)


class Series(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """An append-only sequence whose append does not copy what came before.

    A plain tuple that grows every turn makes the fold quadratic on long runs (each
    append copies everything before). Here items sit in full chunks of ``CHUNK``,
    shared between states, and a short ``tail``: an append copies only the tail, and
    once every ``CHUNK`` appends the tuple of chunk references. Full chunks always hold
    exactly ``CHUNK`` items and the tail fewer, so equal items mean equal series.
    """

    CHUNK: ClassVar[int] = 32
    full: tuple[tuple[T, ...], ...] = ()
    tail: tuple[T, ...] = ()

    @classmethod
    def of(cls, items: Any) -> Series[Any]:
        items = tuple(items)
        size = cls.CHUNK
        cut = len(items) - len(items) % size
        return cls(full=tuple(items[i : i + size] for i in range(0, cut, size)), tail=items[cut:])

    def append(self, item: T) -> Series[T]:
        tail = (*self.tail, item)
        if len(tail) < self.CHUNK:
            return Series(full=self.full, tail=tail)
        return Series(full=(*self.full, tail), tail=())

    def replace_last(self, item: T) -> Series[T]:
        """The series with its last item replaced (it must not be empty)."""
        tail = self.tail
        if tail:
            return Series(full=self.full, tail=(*tail[:-1], item))
        full = self.full
        return Series(full=(*full[:-1], (*full[-1][:-1], item)), tail=())

    @property
    def last(self) -> T | None:
        if self.tail:
            return self.tail[-1]
        return self.full[-1][-1] if self.full else None

    def items(self) -> tuple[T, ...]:
        return tuple(self)

    def __iter__(self) -> Iterator[T]:
        for chunk in self.full:
            yield from chunk
        yield from self.tail

    def __len__(self) -> int:
        return len(self.full) * self.CHUNK + len(self.tail)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        if isinstance(index, slice):
            return self.items()[index]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("Series index out of range")
        chunk, offset = divmod(index, self.CHUNK)
        return self.full[chunk][offset] if chunk < len(self.full) else self.tail[offset]


# -- actors and decisions --------------------------------------------------------------


class Decision(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One actor's decision of one turn, from any brain (a human's included)."""

    turn: int
    actor: str
    request_id: str
    action: str = ""
    action_name: str | None = None
    reasoning: str = ""
    brain: str = "ai"  # ai, rules, scripted, human, counterfactual
    parse_method: str = ""  # how the answer was read; "human" for a human submission
    long_term_goals: tuple[str, ...] = ()
    short_term_priorities: tuple[str, ...] = ()


class ActorState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the run remembers of an actor: its stated goals and latest decisions.

    Goals are those of the latest decision that stated any: a brain that gives none
    (a scripted one) leaves the actor's goals as they were.
    """

    goals: tuple[str, ...] = ()  # long-term goals
    priorities: tuple[str, ...] = ()  # short-term priorities
    recent: tuple[Decision, ...] = ()  # the latest ``window`` decisions, oldest first
    decisions: int = 0
    failures: int = 0


# -- messages and coalitions -----------------------------------------------------------


class Message(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    message_id: str
    turn: int
    sender: str
    recipients: tuple[str, ...]
    channel: str  # bilateral, coalition, public
    visibility: str  # private, group, public
    kind: str = "talk"
    content: str = ""
    thread_id: str | None = None
    in_reply_to: str | None = None


class Coalition(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A coalition proposal and the answers to it, keyed by the proposal's thread."""

    coalition_id: str
    turn: int
    proposer: str
    invited: tuple[str, ...]
    purpose: str = ""
    accepted: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        """The proposer and every invitee who accepted (and did not reject later)."""
        return (self.proposer, *self.accepted)


class MessagesState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    recent: tuple[Message, ...] = ()  # this turn's and the last ``window`` turns'
    coalitions: dict[str, Coalition] = {}


# -- the world, metrics, exogenous events, validation, costs ---------------------------


class WorldEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    turn: int
    narrative: str
    key_changes: tuple[str, ...] = ()


class WorldState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    turn: int = 0  # the turn of the latest update (0: none yet)
    narrative: str = ""
    key_changes: tuple[str, ...] = ()
    consequences: tuple[str, ...] = ()
    variables: dict[str, float] = {}
    source: str = ""
    history: tuple[WorldEntry, ...] = ()  # the latest ``window`` updates, oldest first
    digest: Series[tuple[int, str]] = Series()  # (turn, one line) for each older update


class MetricsState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    # A failed extraction keeps the previous value in ``latest`` (conditions on a metric
    # should see its last known value, not flicker to unknown) and adds None to history.
    latest: dict[MetricKey, float] = {}
    history: dict[MetricKey, Series[tuple[int, float | None]]] = {}
    failed: int = 0


class FiredEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    turn: int
    name: str
    kind: str  # scheduled, random, conditional, trend, injected
    description: str = ""
    source_index: int | None = None
    effects: dict[str, float] = {}
    visible_to: tuple[str, ...] = ()  # a live inject only these actors learn of

    def seen_by(self, actor: str) -> bool:
        return not self.visible_to or actor in self.visible_to


class ExogenousState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    fired: Series[FiredEvent] = Series()  # every one the run fired, in order
    fired_counts: dict[int, int] = {}  # source_index -> times fired (for ``once``)
    this_turn: tuple[FiredEvent, ...] = ()  # those of the current (or last) turn


class ValidationResult(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    turn: int
    check: str
    passed: bool
    severity: str = "low"
    issues: tuple[str, ...] = ()
    explanation: str = ""


class ValidationState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    latest: tuple[ValidationResult, ...] = ()  # this turn's and the last ``window`` turns'
    failed_total: int = 0
    # What max_issues_before_halt should compare: resuming a run halted for too many
    # issues must not halt it again before a new check fails.
    failed_since_resume: int = 0


CallKind = tuple[str | None, str, str]  # (actor, model, purpose)


class Costs(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Spending, from ``CostIncurred`` events only (a call's ``ModelCall`` repeats it).

    ``CostIncurred`` is among the most frequent events, so its fold updates one small
    dict (usd by actor, model and purpose together) and a running total for its turn;
    the breakdowns by one dimension are summed from those when asked for.
    """

    total_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    usd_by_kind: dict[CallKind, float] = {}
    turn_usd: Series[tuple[int, float]] = Series()  # (turn, usd) of turns before ``turn``
    turn: int = 0  # the turn of the latest cost, whose spending so far is ``turn_total``
    turn_total: float = 0.0
    # calls of a model with no known price: their cost is in none of the sums above, so
    # a total with any of them is a lower bound, shown as such
    unpriced_calls: int = 0
    # prompt tokens the providers' caches served (of ``input_tokens``), and what they
    # saved against the full input price; calls that did not report them add nothing
    cached_prompt_tokens: int = 0
    cache_saving_usd: float = 0.0

    @property
    def by_actor(self) -> dict[str, float]:
        """Calls made for an actor; world-level calls (no actor) are not here."""
        return self._by(0)

    @property
    def by_model(self) -> dict[str, float]:
        return self._by(1)

    @property
    def by_purpose(self) -> dict[str, float]:
        return self._by(2)

    @property
    def by_turn(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for turn, usd in self.turn_usd:
            out[turn] = out.get(turn, 0.0) + usd
        if self.calls:
            out[self.turn] = out.get(self.turn, 0.0) + self.turn_total
        return out

    def by(self, dimension: Literal["actor", "model", "purpose", "turn"]) -> dict[str, float]:
        """Costs by ``actor``, ``model``, ``purpose`` or ``turn``, keyed by text."""
        if dimension == "turn":
            return {str(t): usd for t, usd in self.by_turn.items()}
        return self._by(("actor", "model", "purpose").index(dimension))

    def _by(self, index: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, usd in self.usd_by_kind.items():
            key = kind[index]
            if key is not None:
                out[key] = out.get(key, 0.0) + usd
        return out


# -- the open turn ---------------------------------------------------------------------


class PendingHuman(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    actor: str
    request_id: str
    kind: str  # decision, reply, coalition
    turn: int
    about: str | None = None


class TurnProgress(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Which steps of a turn are recorded, so a resume does only the rest.

    It describes the open turn, or the last one once it completed. The exogenous
    events of the turn are ``RunState.exogenous.this_turn``.
    """

    turn: int = 0
    requested: dict[str, str] = {}  # actor -> request_id of its DecisionRequested
    decisions: dict[str, Decision] = {}  # actor -> its decision (human ones included)
    failed: dict[str, str] = {}  # actor -> error, while no decision followed
    # Requests to humans, by actor for a decision and by f"{actor}:{about}" for a reply
    # or coalition answer (an actor may be asked about several messages in one turn).
    human_requested: dict[str, str] = {}  # key -> request_id
    human_submitted: dict[str, str] = {}  # key -> request_id answered
    messages: tuple[str, ...] = ()  # message ids sent this turn
    # Request ids of this turn's communication calls, in log order: a talk plan that said
    # nothing leaves no message, so its cost (or its ``CallFailed``) is what tells a
    # resume not to ask again. A tuple, not a set: a state's JSON must not depend on
    # the process's hash seed, and a turn has a handful of calls.
    call_ids: tuple[str, ...] = ()
    world_updated: bool = False
    metrics: tuple[MetricKey, ...] = ()  # (name, actor) recorded this turn
    validations: tuple[str, ...] = ()  # checks recorded this turn

    @property
    def decided(self) -> Any:
        """The actors whose decision of the turn is recorded (supports ``in``)."""
        return self.decisions.keys()


# -- the run ---------------------------------------------------------------------------


class RunState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything the engine needs to play the next step, folded from the log."""

    # identity and configuration
    scenario_name: str
    scenario: dict[str, Any]  # the resolved scenario of RunStarted (shared, not copied)
    scenario_sha256: str
    seed: int  # a fork's new seed replaces it from the fork on
    settings: RunSettings  # RunStarted's, with RunForked/RunResumed changes merged
    tool_version: str = ""
    window: int = DEFAULT_WINDOW  # turns of history kept for prompts
    control_overrides: dict[str, str] = {}  # actor -> control, from forks
    parent_run_id: str | None = None
    fork_turn: int | None = None
    fork_seq: int | None = None
    pending_forced: dict[str, str] = {}  # actor -> action forced in turn fork_turn + 1
    pending_injections: tuple[str, ...] = ()  # injected in turn fork_turn + 1
    # live injects recorded and not delivered yet (delivered at the next phase boundary)
    pending_injects: tuple[InjectQueued, ...] = ()
    # white-cell mode: the latest proposed world update and its review (each belongs to
    # its own turn: one of an earlier turn is settled)
    world_proposal: WorldUpdateProposed | None = None
    world_review: WorldUpdateReviewed | None = None

    # progress
    status: Status = "running"
    halt_reason: str | None = None  # a RunHalted reason, or a failure's error type
    halt_detail: str = ""  # why the run halted or failed
    waiting_for: tuple[str, ...] = ()  # actors a human_input halt waits on
    turn: int = 0  # the current turn, or the last one started
    turn_open: bool = False
    last_completed_turn: int = -1  # -1 until the setup (turn 0) completes
    turn_progress: TurnProgress = TurnProgress()

    # what happened
    world: WorldState = WorldState()
    actors: dict[str, ActorState] = {}
    messages: MessagesState = MessagesState()
    metrics: MetricsState = MetricsState()
    costs: Costs = Costs()
    exogenous: ExogenousState = ExogenousState()
    validation: ValidationState = ValidationState()
    pending_human: dict[str, tuple[PendingHuman, ...]] = {}  # actor -> unanswered requests


def visible_messages(state: RunState, actor: str) -> list[Message]:
    """The recent messages ``actor`` sent or received, and every public one."""
    return [
        m
        for m in state.messages.recent
        if m.visibility == "public" or m.sender == actor or actor in m.recipients
    ]


def coalitions_of(state: RunState, actor: str) -> dict[str, tuple[str, ...]]:
    """The formed coalitions ``actor`` belongs to: coalition id -> members.

    A coalition is formed once an invitee accepted, so it has two members or more.
    """
    return {
        cid: c.members
        for cid, c in state.messages.coalitions.items()
        if c.accepted and actor in c.members
    }


def to_builtins(state: RunState) -> dict[str, Any]:
    """The state as JSON-ready builtins, for ``replay --json`` and reports.

    ``msgspec.to_builtins`` alone would keep tuple keys (metrics by (name, actor), costs
    by (actor, model, purpose)), which JSON cannot hold, and show each Series as its
    chunks. Here metric keys read ``name`` or ``name/actor``, a Series is a plain list,
    and costs show their breakdowns by actor, model, purpose and turn.
    """
    data: dict[str, Any] = msgspec.to_builtins(state)
    metrics = data["metrics"]
    metrics["latest"] = {metric_label(k): v for k, v in state.metrics.latest.items()}
    metrics["history"] = {
        metric_label(k): [list(item) for item in series]
        for k, series in state.metrics.history.items()
    }
    data["turn_progress"]["metrics"] = [metric_label(k) for k in state.turn_progress.metrics]
    data["world"]["digest"] = [list(item) for item in state.world.digest]
    data["exogenous"]["fired"] = msgspec.to_builtins(state.exogenous.fired.items())
    costs = data["costs"]
    for field in ("usd_by_kind", "turn_usd", "turn", "turn_total"):
        del costs[field]
    c = state.costs
    costs.update(
        by_actor=c.by_actor, by_model=c.by_model, by_purpose=c.by_purpose, by_turn=c.by("turn")
    )
    return data


def metric_label(key: tuple[str, str | None]) -> str:
    """How a metric key reads in text: ``name``, or ``name/actor`` for one actor's."""
    name, actor = key
    return name if actor is None else f"{name}/{actor}"
