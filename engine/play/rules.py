"""Offline brains and adjudication for rule-driven scenarios.

A ``control: rules`` actor scores each declared action by its preferences over the
action's effects and picks one by a seeded softmax. A preference weight may be an
expression, and an action may have a ``when:`` condition (``engine.scenario.expressions``):
both read the world as the actor sees it at the start of the turn (``situation``), so
the actor reacts to the state and to what was done last turn. The rule adjudicator
applies every chosen action's effects, the exogenous effects, each variable's drift and
seeded noise, clamps to the declared range, and writes the narrative from the templates.
All randomness comes from ``derive_rng(seed, turn, purpose)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import ScenarioInvalid
from engine.rng import derive_rng
from engine.scenario.cross import TURN
from engine.scenario.expressions import ExpressionError, parse_expression


@dataclass(frozen=True)
class RuleChoice:
    action_name: str
    action: str  # the narrative sentence
    reasoning: str


class Situation(dict[str, float]):
    """What expressions read in a turn: each variable's value at the start of the turn,
    each action's count of actors that chose it the turn before, and ``turn``.

    An action nobody chose reads 0; the scenario's checks guarantee that an expression
    reads no other name.
    """

    def __missing__(self, name: str) -> float:
        return 0.0


def situation(state: Any, variable_defs: Mapping[str, Any], turn: int) -> Situation:
    """The situation of ``turn`` in a run's folded state (``RunState``)."""
    out = Situation({TURN: float(turn)})
    current = state.world.variables
    for name, var in variable_defs.items():
        out[name] = float(current.get(name, var.initial))
    for actor_state in state.actors.values():
        for decision in actor_state.recent:
            if decision.turn == turn - 1 and decision.action_name:
                out[decision.action_name] = out.get(decision.action_name, 0.0) + 1.0
    return out


def opening(variable_defs: Mapping[str, Any], turn: int = 1) -> Situation:
    """The situation before anything happened: every variable at its initial value."""
    out = Situation({TURN: float(turn)})
    out.update({name: float(var.initial) for name, var in variable_defs.items()})
    return out


def _span(var: Any) -> float:
    span = float(var.max) - float(var.min)
    return span if span > 0 else 1.0


def _value(actor: Any, field: str, text: str, names: Mapping[str, float]) -> float:
    try:
        return parse_expression(text).evaluate(names)
    except ExpressionError as e:
        turn = int(names.get(TURN, 0))
        raise ScenarioInvalid(
            f"actor {actor.short_name}: {field}: {e} in turn {turn}",
            hint="guard the expression, e.g. 'x / y if y else 0'",
        ) from None


def weights(actor: Any, names: Mapping[str, float]) -> dict[str, float]:
    """The actor's preference weights in this situation (expressions evaluated)."""
    return {
        var: _value(actor, f"preferences.{var}", w, names) if isinstance(w, str) else float(w)
        for var, w in actor.preferences.items()
    }


def utilities(
    actor: Any, variables: Mapping[str, Any], names: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Each action's utility: preference weight times effect, per tenth of the variable's range.

    Tenths keep utilities near 1 for typical moves, so a softmax temperature of 1 picks the
    best action most of the time without making the others impossible. ``names`` is the
    situation expressions read (default: the opening one).
    """
    weight = weights(actor, names if names is not None else opening(variables))
    out: dict[str, float] = {}
    for action in actor.actions:
        total = 0.0
        for name, delta in action.effects.items():
            var = variables.get(name)
            total += (
                weight.get(name, 0.0)
                * float(delta)
                / ((_span(var) if var is not None else 10.0) / 10.0)
            )
        out[action.name] = total
    return out


def available(actor: Any, names: Mapping[str, float]) -> list[Any]:
    """The actions whose ``when:`` holds; all of them when none does (an actor must act)."""
    held = [a for a, ok in zip(actor.actions, _conditions(actor, names), strict=True) if ok]
    return held or list(actor.actions)


def _conditions(actor: Any, names: Mapping[str, float]) -> list[bool]:
    out = []
    for i, action in enumerate(actor.actions):
        when = getattr(action, "when", None)
        out.append(when is None or _value(actor, f"actions.{i}.when", when, names) != 0.0)
    return out


def render(template: str, actor: Any) -> str:
    return template.replace("{actor_name}", actor.name).replace("{actor}", actor.name)


def choose(
    actor: Any, variables: Mapping[str, Any], seed: int, turn: int, state: Any = None
) -> RuleChoice:
    """Seeded softmax over the actor's available actions by utility.

    ``state`` is the run's folded state at the start of ``turn``, which weights and
    conditions written as expressions read; without it they read the opening situation.
    """
    names = situation(state, variables, turn) if state is not None else opening(variables, turn)
    scores = utilities(actor, variables, names)
    actions = available(actor, names)
    temperature = max(float(getattr(actor, "rule_temperature", 1.0) or 1.0), 1e-6)
    top = max(scores[a.name] for a in actions)
    weights_ = [math.exp((scores[a.name] - top) / temperature) for a in actions]
    rng = derive_rng(seed, turn, f"rules:{actor.short_name}")
    pick = rng.random() * sum(weights_)
    # Half-open intervals [cum, cum + w): an action whose weight underflowed to 0 is never
    # drawn, and float rounding at the end falls back to the last drawable action.
    drawable = [a for a, w in zip(actions, weights_, strict=True) if w > 0]
    chosen = drawable[-1]
    for action, w in zip(actions, weights_, strict=True):
        pick -= w
        if pick < 0:
            chosen = action
            break
    ranked = ", ".join(
        f"{a.name} {scores[a.name]:+.2f}" for a in sorted(actions, key=lambda a: -scores[a.name])
    )
    return RuleChoice(
        action_name=chosen.name,
        action=render(chosen.narrative or chosen.description or chosen.name, actor),
        reasoning=f"utilities by preferences: {ranked}; drew {chosen.name}"
        + _why(actor, actions, names),
    )


def _why(actor: Any, actions: Sequence[Any], names: Mapping[str, float]) -> str:
    """What the situation changed, for the log (empty for an actor without expressions)."""
    parts = []
    if any(isinstance(w, str) for w in actor.preferences.values()):
        now = weights(actor, names)
        parts.append(
            "weights now: "
            + ", ".join(
                f"{var} {now[var]:+g}" for var, w in actor.preferences.items() if isinstance(w, str)
            )
        )
    chosen_from = {a.name for a in actions}
    left_out = [a for a in actor.actions if a.name not in chosen_from]
    if left_out:
        parts.append(
            "not available: "
            + ", ".join(f"{a.name} (when: {getattr(a, 'when', '')})" for a in left_out)
        )
    elif not all(_conditions(actor, names)):
        parts.append("no action's `when:` held, so every action was open")
    return "".join(f"; {p}" for p in parts)


@dataclass(frozen=True)
class Adjudication:
    variables: dict[str, float]
    narrative: str
    key_changes: tuple[str, ...]
    consequences: tuple[str, ...]


def adjudicate(
    variable_defs: Mapping[str, Any],
    current: Mapping[str, float],
    actions: Sequence[tuple[str, Mapping[str, float], str]],
    exogenous: Sequence[tuple[str, Mapping[str, float]]],
    seed: int,
    turn: int,
) -> Adjudication:
    """Apply effects, drift and noise; clamp; narrate.

    ``actions`` holds (actor name, effects, narrative sentence) per decided actor;
    ``exogenous`` holds (event name, effects) per event fired this turn.
    """
    values = {name: float(current.get(name, var.initial)) for name, var in variable_defs.items()}
    before = dict(values)
    for _who, effects, _text in actions:
        for name, delta in effects.items():
            if name in values:
                values[name] += float(delta)
    for _name, effects in exogenous:
        for name, delta in effects.items():
            if name in values:
                values[name] += float(delta)
    rng = derive_rng(seed, turn, "noise")
    for name, var in variable_defs.items():  # declared order: draws are reproducible
        values[name] += float(var.drift or 0.0)
        if var.noise:
            values[name] += rng.gauss(0.0, float(var.noise))
        # Round before clamping: rounding a clamped value could step outside the range.
        values[name] = min(float(var.max), max(float(var.min), round(values[name], 6)))
    changes = tuple(
        f"{name}: {before[name]:g} -> {values[name]:g}"
        for name in variable_defs
        if abs(values[name] - before[name]) > 1e-9
    )
    sentences = [text for _who, _eff, text in actions if text]
    sentences += [f"{name} shook the situation." for name, _eff in exogenous]
    narrative = " ".join(sentences) or "No actor moved; the situation drifted."
    consequences = tuple(
        f"{name} is at its {'upper' if values[name] >= float(var.max) else 'lower'} bound"
        for name, var in variable_defs.items()
        if values[name] in (float(var.max), float(var.min))
    )
    return Adjudication(values, narrative, changes, consequences)
