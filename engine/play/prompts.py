"""The text every model sees: actor decisions, world updates, metrics, validation, talks.

Prompts are built from the scenario and plain values taken from the folded state, so
what an actor can see is decided here, in one place, and tested: an actor sees its own
private information and decisions, messages it took part in plus public ones, and the
shared world; never another actor's private information or same-turn decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.play.talks import Channels

Message = dict[str, str]


@dataclass(frozen=True)
class SeenMessage:
    turn: int
    sender: str
    recipients: tuple[str, ...]
    channel: str
    kind: str
    content: str


@dataclass(frozen=True)
class PastDecision:
    turn: int
    action: str
    reasoning: str = ""


@dataclass(frozen=True)
class DecisionContext:
    """Everything an actor is shown when deciding (and what a human is shown too)."""

    turn: int
    total_turns: int
    simulated_date: str | None
    world_state: str
    own_recent: Sequence[PastDecision] = ()
    older_digest: Sequence[str] = ()
    messages: Sequence[SeenMessage] = ()
    exogenous: Sequence[tuple[str, str]] = ()
    variables: Mapping[str, float] = field(default_factory=dict)
    actions: Sequence[tuple[str, str]] = ()  # (name, description) of declared actions
    json_mode: bool = True


def _bullets(items: Sequence[str] | str | None) -> str:
    if not items:
        return "(none)"
    if isinstance(items, str):
        return items
    return "\n".join(f"- {x}" for x in items)


def _expertise(value: Any) -> str:
    if isinstance(value, Mapping):
        return "\n".join(f"- {k}: {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return _bullets([str(v) for v in value])
    return str(value or "(not stated)")


def _section(title: str, body: str) -> str:
    return f"## {title}\n{body.strip()}\n"


def actor_system_prompt(scenario: Any, actor: Any) -> str:
    parts = [scenario.system_prompt or "", actor.system_prompt or ""]
    parts.append(f"You are {actor.name}" + (f", {actor.role}." if actor.role else "."))
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def decision_prefix(scenario: Any, actor: Any, actions: Sequence[tuple[str, str]] = ()) -> str:
    """The stable opening of an actor's user message: who it is, what it knows from the
    start, the scenario's background and its declared actions. It depends on nothing that
    changes during a run, so it is the same, byte for byte, in every prompt the actor
    gets (decisions, talk plans, replies, interviews): providers' prompt caches serve a
    repeated prefix at a fraction of the price."""
    sections = [
        _section(
            "Who you are",
            f"{actor.name}"
            + (f", {actor.role}" if actor.role else "")
            + "\n"
            + (actor.description or ""),
        ),
        _section("Your goals", _bullets(actor.goals)),
        _section("Your constraints", _bullets(actor.constraints)),
        _section("Your decision style", actor.decision_style or "(not stated)"),
        _section("Your expertise", _expertise(actor.expertise)),
    ]
    if actor.private_information:
        sections.append(
            _section("Private information (only you know this)", str(actor.private_information))
        )
    for name, text in (scenario.background or {}).items():
        sections.append(_section(f"Background: {name}", text))
    sections.append(_section("Initial situation", scenario.initial_world_state or ""))
    if actions:
        lines = [f"- {name}: {desc}" for name, desc in actions]
        sections.append(
            _section(
                "Actions available (choose exactly one by name as action_name)", "\n".join(lines)
            )
        )
    return "\n".join(sections)


def declared_actions(scenario: Any, actor: Any) -> list[tuple[str, str]]:
    """(name, what it does) of the actions ``actor`` chooses from: only a world with
    variables has rules to apply them."""
    if not (scenario.variables and actor.actions):
        return []
    return [(a.name, a.description or a.narrative or a.name) for a in actor.actions]


def cache_prefix_chars(scenario: Any, actor: Any, model: str, settings: Any) -> int | None:
    """Where the cache marker goes in ``actor``'s prompts to ``model``: after
    :func:`decision_prefix`, which opens the user message of each of them; None when the
    model caches without a marker (or the run turned markers off, ``cache_markers``)."""
    from engine.llm.prompt_cache import needs_cache_marker

    if not (settings.cache_markers and needs_cache_marker(model)):
        return None
    return len(decision_prefix(scenario, actor, declared_actions(scenario, actor)))


def decision_messages(
    scenario: Any, actor: Any, ctx: DecisionContext, *, task: str | None = None
) -> list[Message]:
    """The chat messages for one actor's decision in one turn.

    The system message and the opening of the user message (:func:`decision_prefix`)
    are the same in every turn. What changes follows, ordered by how long it stays the
    same: the turn's situation, indicators and events, the digest of earlier turns and
    the actor's recent decisions (all fixed within a turn, so a talk plan, the replies
    and the decision of one turn share them too), then the communications (which grow
    during the turn's talks), and last the task. ``task`` replaces the closing
    instructions, so the communication phase shows the actor exactly the same situation
    as its decision does.
    """
    when = f"Turn {ctx.turn} of {ctx.total_turns}"
    if ctx.simulated_date:
        when += f" ({ctx.simulated_date})"
    sections = [decision_prefix(scenario, actor, ctx.actions)]
    sections.append(_section(f"Current situation: {when}", ctx.world_state or "(unchanged)"))
    if ctx.variables:
        sections.append(
            _section("Indicators", "\n".join(f"- {k}: {v:g}" for k, v in ctx.variables.items()))
        )
    if ctx.exogenous:
        sections.append(
            _section("Events this turn", "\n".join(f"- {n}: {d}" for n, d in ctx.exogenous))
        )
    if ctx.older_digest:
        sections.append(_section("Earlier turns (digest)", _bullets(list(ctx.older_digest))))
    if ctx.own_recent:
        lines = [f"- turn {d.turn}: {d.action}" for d in ctx.own_recent]
        sections.append(_section("Your recent decisions", "\n".join(lines)))
    if ctx.messages:
        lines = [
            f"- [turn {m.turn}, {m.channel}] {m.sender} to {', '.join(m.recipients) or 'everyone'}"
            f" ({m.kind}): {m.content}"
            for m in ctx.messages
        ]
        sections.append(_section("Communications you took part in or heard", "\n".join(lines)))
    sections.append(_section("Your task", task or _decision_instructions(ctx)))
    return [
        {"role": "system", "content": actor_system_prompt(scenario, actor)},
        {"role": "user", "content": "\n".join(sections)},
    ]


def _decision_instructions(ctx: DecisionContext) -> str:
    if ctx.json_mode:
        return (
            "Decide what you do this turn. Answer with one JSON object with the keys "
            "long_term_goals (list of strings), short_term_priorities (list of strings), "
            "reasoning (string), action (string: what you do, concretely)"
            + (
                ", action_name (one of the available actions)."
                if ctx.actions
                else ", action_name (null)."
            )
        )
    return (
        "Decide what you do this turn. Answer with these sections:\n"
        "**LONG-TERM GOALS:** a bullet list\n**SHORT-TERM PRIORITIES:** a bullet list\n"
        "**REASONING:** your reasoning\n**ACTION:** what you do, concretely"
        + ("\n**ACTION NAME:** one of the available actions" if ctx.actions else "")
    )


def world_update_messages(
    scenario: Any,
    *,
    turn: int,
    total_turns: int,
    simulated_date: str | None,
    previous: str,
    decisions: Sequence[tuple[str, str]],
    exogenous: Sequence[tuple[str, str]],
    public_messages: Sequence[str] = (),
) -> list[Message]:
    """The adjudicator's prompt: the previous state and every action of the turn.

    The scenario and the adjudicator's task come first and are the same every turn (a
    prefix providers can cache); the turn's state, actions and events follow."""
    when = f"turn {turn} of {total_turns}" + (f" ({simulated_date})" if simulated_date else "")
    body = [
        _section("Scenario", f"{scenario.name}\n{scenario.description or ''}"),
        _section(
            "Your task",
            "You are the neutral adjudicator. Write the new state of the world after the "
            "actions below: their realistic combined effects, without favouring any actor. "
            "Answer with one JSON object: narrative (string, the new world state), "
            "key_changes (list of strings), consequences (list of strings).",
        ),
        _section("World state before this turn", previous or scenario.initial_world_state or ""),
        _section(
            f"Actions taken in {when}",
            "\n".join(f"- {who}: {what}" for who, what in decisions) or "(no actor acted)",
        ),
    ]
    if exogenous:
        body.append(_section("Events", "\n".join(f"- {n}: {d}" for n, d in exogenous)))
    if public_messages:
        body.append(_section("Public statements", _bullets(list(public_messages))))
    system = (scenario.system_prompt or "").strip()
    return [
        {"role": "system", "content": system or "You adjudicate a multi-actor scenario exercise."},
        {"role": "user", "content": "\n".join(body)},
    ]


def _turn_facts(turn: int, label: str, world: str, decisions: Sequence[tuple[str, str]]) -> str:
    # the part of a judge's prompt that changes every turn: it closes the prompt
    return f"Turn {turn} {label}:\n{world}\n\nActions this turn:\n" + "\n".join(
        f"- {who}: {what}" for who, what in decisions
    )


def metric_messages(
    metric: Any,
    *,
    prompt: str,
    turn: int,
    world: str,
    decisions: Sequence[tuple[str, str]],
    actor: str | None,
) -> list[Message]:
    """A judged metric's prompt: the metric and the answer asked for (the same every
    turn), then the turn's world state and actions."""
    about = f" for {actor}" if actor else ""
    lo_hi = ""
    rng = getattr(metric, "range", None)
    if rng:
        lo_hi = f" between {rng[0]} and {rng[1]}"
    body = (
        f"{prompt}\n\nMetric: {metric.name}{about}: {metric.description or ''}\n"
        f"Answer with one JSON object: value (a number{lo_hi}), explanation (string).\n\n"
        + _turn_facts(turn, "world state", world, decisions)
    )
    return [
        {"role": "system", "content": "You score scenario outcomes on a defined metric."},
        {"role": "user", "content": body},
    ]


def validation_messages(
    check_name: str, check: Any, *, turn: int, world: str, decisions: Sequence[tuple[str, str]]
) -> list[Message]:
    """A quality check's prompt: the check and the answer asked for (the same every
    turn), then the turn's world update and actions."""
    instructions = getattr(check, "prompt", None) or getattr(check, "description", "") or check_name
    body = (
        f"Quality check '{check_name}': {instructions}\n"
        "Answer with one JSON object: passed (boolean), issues (list of strings), "
        "severity (low, medium or high), explanation (string).\n\n"
        + _turn_facts(turn, "world update", world, decisions)
    )
    return [
        {"role": "system", "content": "You check a scenario simulation for quality problems."},
        {"role": "user", "content": body},
    ]


# -- the communication phase: an actor is shown what it sees when deciding, and one of
# these tasks in place of the decision's


def plan_instructions(ch: Channels, actor_id: str, others: list[str], coalitions: list[str]) -> str:
    """The task of an actor planning its talks: only the channels open, and the cap."""
    allowed = []
    if ch.bilateral:
        allowed.append(f"private messages to one actor each (`to`: one of {', '.join(others)})")
    if ch.coalition and coalitions:
        allowed.append(f"messages to a coalition you belong to (`to`: {', '.join(coalitions)})")
    if ch.coalition:
        allowed.append(
            "a coalition proposal to 2 or more others (coalition_members, coalition_purpose)"
        )
    if ch.public:
        allowed.append("a public statement everyone sees (public_statement)")
    return (
        "Before decisions, you may communicate. Allowed: " + "; ".join(allowed) + ". "
        f"At most {ch.cap} communications in total. Answer with one JSON object: messages (list of "
        "{to, content}), coalition_members (list, empty for none), coalition_purpose (string, empty "
        "for none), public_statement (string, empty for none). Say nothing if nothing helps you."
    )


def reply_task(sender: str, content: str) -> str:
    """The task of an actor answering a private talk from ``sender``."""
    return (
        f'{sender} wrote to you privately: "{content}". Reply to {sender}. Answer with one '
        "JSON object: reply (string)."
    )


def coalition_task(proposer: str, members: str, purpose: str) -> str:
    """The task of an actor invited by ``proposer`` into a coalition with ``members``."""
    return (
        f'{proposer} proposes a coalition with {members} for this purpose: "{purpose}". '
        "Do you join? Answer with one JSON object: accept (boolean), reason (string)."
    )
