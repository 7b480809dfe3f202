"""The event catalogue: every fact a run records, as msgspec Structs.

Type names are stable strings (the ``type`` tag), never Python import paths, so a moved
class never breaks an old log. Each type has a ``SCHEMA_VERSION``; an event stored under
an older version is upgraded on read by the upcasters in ``_upcast.py``.

Every event carries the ``turn`` it belongs to (0 is the setup). Large text (prompts,
raw model responses) is not held here: the event holds the sha256 of a blob.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

HaltReason = Literal[
    "credit_limit",
    "budget",
    "validation",
    "human_input",
    "user",
    "max_issues",
    "llm_unavailable",
    # ended for good by a facilitator: resume refuses it
    "stopped",
    # the world update waits for a facilitator's review (white-cell mode)
    "white_cell",
]


# gc=False: an event holds only decoded JSON data and can never be part of a reference
# cycle, so the garbage collector need not track it; a replay of 100k events otherwise
# spends a third of its decode time in collections that find nothing to free.
class Event(
    msgspec.Struct, tag_field="type", frozen=True, kw_only=True, omit_defaults=True, gc=False
):
    """Base of every event. ``turn`` is the turn the event belongs to."""

    SCHEMA_VERSION: ClassVar[int] = 1
    turn: int = 0


# -- parts shared by several events ----------------------------------------------------


class Attempt(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One HTTP attempt of a model call: what happened and how long it took."""

    outcome: str  # "ok", "http_429", "http_500", "timeout", "connection", "malformed", ...
    latency_ms: float = 0.0
    detail: str = ""


class ModelCall(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Everything needed to audit one model call (or an offline brain's equivalent)."""

    model: str
    prompt_hash: str | None = None  # blob: the full request messages as JSON
    response_hash: str | None = None  # blob: the raw response text
    temperature: float | None = None
    seed: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None: the model has no known price (not free)
    latency_ms: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    parse_method: str = ""  # "json_schema", "json", "json_fence", "markdown", "reask:..."


class RunSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How a run is played; part of ``RunStarted`` and changed by ``RunForked``/``RunResumed``."""

    turns: int
    credit_limit_usd: float | None = None
    json_mode: bool = True
    temperature: float = 0.7
    model_overrides: dict[str, str] = {}
    world_model: str | None = None
    context_window: int | None = None
    batch_id: str | None = None
    variation: dict[str, Any] = {}
    # white-cell mode: each world update waits for a facilitator to approve or edit it
    white_cell: bool = False
    # mark the stable opening of actors' prompts for the prompt cache of the models that
    # cache only marked prompts (Anthropic's); other models' requests never change
    cache_markers: bool = True


# -- run lifecycle ---------------------------------------------------------------------


class RunStarted(Event, tag="RunStarted", frozen=True):
    """A run's setup. Version 2 added ``name`` and ``tags`` (a person's labels for the
    run); version-1 payloads are upgraded on read with none."""

    SCHEMA_VERSION: ClassVar[int] = 2
    scenario_name: str
    scenario: dict[str, Any]  # the whole resolved scenario (every file's content)
    scenario_sha256: str
    seed: int
    settings: RunSettings
    tool_version: str
    name: str | None = None
    tags: tuple[str, ...] = ()


class RunForked(Event, tag="RunForked", frozen=True):
    """First event of a branch; ``turn`` is the first turn the branch plays.

    Version 2 added ``name`` (the branch's own; a name is not inherited) and ``tags``
    (added to those of its timeline); version-1 payloads are upgraded on read with none.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    parent_run_id: str
    fork_turn: int
    fork_seq: int
    seed: int | None = None  # a new seed for the branch, if changed
    model_overrides: dict[str, str] = {}
    control_changes: dict[str, str] = {}  # actor -> "human" | "ai"
    forced_decisions: dict[str, str] = {}  # actor -> action text for turn fork_turn+1
    injections: tuple[str, ...] = ()  # exogenous events injected into turn fork_turn+1
    turns: int | None = None  # new total number of turns
    credit_limit_usd: float | None = None
    batch_id: str | None = None
    variation: dict[str, Any] = {}
    name: str | None = None
    tags: tuple[str, ...] = ()


class RunHalted(Event, tag="RunHalted", frozen=True):
    reason: HaltReason
    detail: str = ""
    waiting_for: tuple[str, ...] = ()  # actors whose human input is awaited


class RunResumed(Event, tag="RunResumed", frozen=True):
    credit_limit_usd: float | None = None
    turns: int | None = None
    detail: str = ""


class RunCompleted(Event, tag="RunCompleted", frozen=True):
    turns_completed: int
    total_cost_usd: float


class RunFailed(Event, tag="RunFailed", frozen=True):
    error: str
    error_type: str = ""


# -- a turn ----------------------------------------------------------------------------


class TurnStarted(Event, tag="TurnStarted", frozen=True):
    simulated_date: str | None = None


class TurnCompleted(Event, tag="TurnCompleted", frozen=True):
    pass


class ExogenousEventTriggered(Event, tag="ExogenousEventTriggered", frozen=True):
    name: str
    description: str
    kind: Literal["scheduled", "random", "conditional", "trend", "injected"]
    source_index: int | None = None  # position in exogenous-events.yaml
    effects: dict[str, float] = {}
    inject_id: str | None = None  # the live inject (InjectQueued) it delivers
    visible_to: tuple[str, ...] = ()  # actors who learn of it; empty: everyone


class InjectQueued(Event, tag="InjectQueued", frozen=True):
    """A facilitator's live inject, recorded when given; the engine delivers it as an
    ``ExogenousEventTriggered`` (kind ``injected``) at the run's next phase boundary.
    ``injected_by`` names who gave it (a user, key or token id, never a secret)."""

    inject_id: str
    name: str
    description: str
    effects: dict[str, float] = {}
    visible_to: tuple[str, ...] = ()
    injected_by: str = ""


class MessageSent(Event, tag="MessageSent", frozen=True):
    """A message in the communication phase.

    Version 2 replaced the single ``to`` recipient with ``recipients`` (coalitions
    address several actors); version-1 payloads are upgraded on read.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    channel: Literal["bilateral", "coalition", "public"]
    visibility: Literal["private", "group", "public"]
    kind: str = "talk"  # talk, reply, proposal, accept, reject, statement
    content: str = ""
    thread_id: str | None = None  # a talk or a coalition the message belongs to
    in_reply_to: str | None = None
    call: ModelCall | None = None


class DecisionRequested(Event, tag="DecisionRequested", frozen=True):
    actor: str
    request_id: str
    model: str
    prompt_hash: str | None = None
    temperature: float | None = None
    seed: int | None = None
    json_mode: bool = True
    brain: str = "ai"  # ai, rules, scripted, human, counterfactual


class DecisionMade(Event, tag="DecisionMade", frozen=True):
    actor: str
    request_id: str
    long_term_goals: tuple[str, ...] = ()
    short_term_priorities: tuple[str, ...] = ()
    reasoning: str = ""
    action: str = ""
    action_name: str | None = None  # a declared action of a rule-driven scenario
    brain: str = "ai"
    parse_method: str = ""  # json_schema, json, json_fence, markdown, rules, scripted, ...
    call: ModelCall | None = None


class DecisionFailed(Event, tag="DecisionFailed", frozen=True):
    actor: str
    request_id: str
    error: str
    error_kind: str = ""  # unparsable, llm_unavailable, ...
    call: ModelCall | None = None


class HumanInputRequested(Event, tag="HumanInputRequested", frozen=True):
    actor: str
    request_id: str
    kind: str = "decision"  # decision, reply, coalition
    prompt_hash: str | None = None
    about: str | None = None  # the message id a reply is asked for


class HumanDecisionSubmitted(Event, tag="HumanDecisionSubmitted", frozen=True):
    actor: str
    request_id: str
    kind: str = "decision"
    long_term_goals: tuple[str, ...] = ()
    short_term_priorities: tuple[str, ...] = ()
    reasoning: str = ""
    action: str = ""
    action_name: str | None = None  # a declared action chosen (rule-driven scenarios)
    accept: bool | None = None  # for a coalition invitation
    submitted_by: str = ""
    submitted_via: str = "cli"


class WorldUpdated(Event, tag="WorldUpdated", frozen=True):
    narrative: str
    key_changes: tuple[str, ...] = ()
    consequences: tuple[str, ...] = ()
    variables: dict[str, float] = {}
    source: str = "llm"  # llm, rules
    call: ModelCall | None = None


class WorldUpdateProposed(Event, tag="WorldUpdateProposed", frozen=True):
    """The adjudicator's world update in white-cell mode: recorded as proposed, it
    applies once a facilitator approved or edited it (``WorldUpdateReviewed``)."""

    narrative: str
    key_changes: tuple[str, ...] = ()
    consequences: tuple[str, ...] = ()
    variables: dict[str, float] = {}
    source: str = "llm"
    call: ModelCall | None = None


class WorldUpdateReviewed(Event, tag="WorldUpdateReviewed", frozen=True):
    """A facilitator's review of the turn's proposed world update: the version that
    applies (the proposal itself when ``edited`` is false) and who reviewed it."""

    narrative: str
    key_changes: tuple[str, ...] = ()
    consequences: tuple[str, ...] = ()
    variables: dict[str, float] = {}
    edited: bool = False
    reviewed_by: str = ""


class MetricRecorded(Event, tag="MetricRecorded", frozen=True):
    name: str
    value: float | None = None
    category: str | None = None
    actor: str | None = None
    method: str = ""  # llm, keyword, pattern, rules
    error: str | None = None  # a failed extraction is recorded, not raised
    call: ModelCall | None = None


class ValidationRecorded(Event, tag="ValidationRecorded", frozen=True):
    check: str
    passed: bool
    severity: str = "low"
    issues: tuple[str, ...] = ()
    explanation: str = ""
    call: ModelCall | None = None


class CostIncurred(Event, tag="CostIncurred", frozen=True):
    """What one model call cost, and (from version 2) what it asked and answered.

    Every call that got an answer has one, so the costs are the ledger of every call:
    version 2 links the call's full request and raw answer (blobs) and how the answer
    ended (``finish_reason``: ``stop``, ``length`` for one cut at the token limit), so
    the audit shows each answer, re-asked ones included, and ``replay --check`` serves
    each call its recorded answer. Version-1 payloads are upgraded on read with no links.

    Version 3: ``cost_usd`` is None when the model has no known price, so a call of
    unknown cost is never summed as free; earlier versions always hold a number (a call
    of an unpriced model was recorded as 0, and is read as such).

    Version 4: ``cached_prompt_tokens``, how many of ``input_tokens`` the provider
    served from its prompt cache (as its usage said; ``cost_usd`` bills them at the
    cache price when one is known), and ``cache_saving_usd``, what they would have cost
    at the full input price minus what they cost. Both None when unknown: the provider
    did not report it, the model has no known price, or the event is older than version
    4 (its usage was never read for it, so 0 would claim what nobody knows).
    """

    SCHEMA_VERSION: ClassVar[int] = 4
    model: str
    purpose: str  # decision, world_update, metric, validation, communication
    actor: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None: no known price
    request_id: str | None = None
    prompt_hash: str | None = None  # blob: the full request as sent (see ``ModelCall``)
    response_hash: str | None = None  # blob: the raw answer text
    finish_reason: str | None = None  # as the server said: stop, length, ...
    cached_prompt_tokens: int | None = None  # None: not reported (or before v4)
    cache_saving_usd: float | None = None  # None: not known (see above)


class CallFailed(Event, tag="CallFailed", frozen=True):
    """A model call of the communication phase, the world update, a metric or a check
    whose answer could not be used: no model answered, or every answer (re-asks
    included) was unreadable or cut off at the token limit.

    Recorded so reports and the audit show it instead of the answer vanishing; what the
    run does next is the phase's (a talk stays unsaid, a metric unmeasured, a check is
    recorded as failed, the world update halts the run). A decision's failure is a
    ``DecisionFailed``.
    """

    purpose: str  # communication, world_update, metric, validation
    request_id: str
    actor: str | None = None
    error: str = ""
    error_kind: str = ""  # unparsable, truncated, llm_unavailable
    asks: int = 1  # calls made for it, re-asks included
    call: ModelCall | None = None  # the last call: its request, raw answer or failed attempts


class ActorInterviewed(Event, tag="ActorInterviewed", frozen=True):
    """A question put to an actor outside the exercise, and its answer (``interview``).

    The actor is asked with its memory at the end of ``at_turn`` (the context the engine
    would build for its decision in the next turn), on a branch of the run forked there;
    the exchange changes nothing in the exercise. Its call's ``CostIncurred`` (purpose
    ``interview``) comes just before it and links the prompt and raw answer blobs.
    """

    actor: str
    request_id: str
    at_turn: int
    question: str
    answer: str = ""
    call: ModelCall | None = None


AnyEvent = (
    RunStarted
    | RunForked
    | RunHalted
    | RunResumed
    | RunCompleted
    | RunFailed
    | TurnStarted
    | TurnCompleted
    | ExogenousEventTriggered
    | InjectQueued
    | MessageSent
    | DecisionRequested
    | DecisionMade
    | DecisionFailed
    | HumanInputRequested
    | HumanDecisionSubmitted
    | WorldUpdated
    | WorldUpdateProposed
    | WorldUpdateReviewed
    | MetricRecorded
    | ValidationRecorded
    | CostIncurred
    | CallFailed
    | ActorInterviewed
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in AnyEvent.__args__  # type: ignore[attr-defined]
}


def event_type(event: Event) -> str:
    """The stable type name of an event."""
    return event.__struct_config__.tag  # type: ignore[return-value]


def event_actor(event: Event) -> str | None:
    """The actor an event is about, for the log's ``actor`` column."""
    actor = getattr(event, "actor", None)
    if actor is None and isinstance(event, MessageSent):
        return event.sender
    return actor
