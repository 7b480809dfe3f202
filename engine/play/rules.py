"""Offline brains and adjudication for rule-driven scenarios.

A ``control: rules`` actor scores each declared action by its preferences over the
action's effects and picks one by a seeded softmax. The rule adjudicator applies every
chosen action's effects, the exogenous effects, each variable's drift and seeded
noise, clamps to the declared range, and writes the narrative from the templates.
All randomness comes from ``derive_rng(seed, turn, purpose)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.rng import derive_rng


@dataclass(frozen=True)
class RuleChoice:
    action_name: str
    action: str  # the narrative sentence
    reasoning: str


def _span(var: Any) -> float:
    span = float(var.max) - float(var.min)
    return span if span > 0 else 1.0


def utilities(actor: Any, variables: Mapping[str, Any]) -> dict[str, float]:
    """Each action's utility: preference weight times effect, per tenth of the variable's range.

    Tenths keep utilities near 1 for typical moves, so a softmax temperature of 1 picks the
    best action most of the time without making the others impossible.
    """
    out: dict[str, float] = {}
    for action in actor.actions:
        total = 0.0
        for name, delta in action.effects.items():
            weight = actor.preferences.get(name, 0.0)
            var = variables.get(name)
            total += weight * float(delta) / ((_span(var) if var is not None else 10.0) / 10.0)
        out[action.name] = total
    return out


def render(template: str, actor: Any) -> str:
    return template.replace("{actor_name}", actor.name).replace("{actor}", actor.name)


def choose(actor: Any, variables: Mapping[str, Any], seed: int, turn: int) -> RuleChoice:
    """Seeded softmax over the actor's actions by utility."""
    scores = utilities(actor, variables)
    temperature = max(float(getattr(actor, "rule_temperature", 1.0) or 1.0), 1e-6)
    top = max(scores.values())
    weights = [math.exp((scores[a.name] - top) / temperature) for a in actor.actions]
    rng = derive_rng(seed, turn, f"rules:{actor.short_name}")
    pick = rng.random() * sum(weights)
    # Half-open intervals [cum, cum + w): an action whose weight underflowed to 0 is never
    # drawn, and float rounding at the end falls back to the last drawable action.
    drawable = [a for a, w in zip(actor.actions, weights, strict=True) if w > 0]
    chosen = drawable[-1]
    for action, w in zip(actor.actions, weights, strict=True):
        pick -= w
        if pick < 0:
            chosen = action
            break
    ranked = ", ".join(f"{n} {u:+.2f}" for n, u in sorted(scores.items(), key=lambda kv: -kv[1]))
    return RuleChoice(
        action_name=chosen.name,
        action=render(chosen.narrative or chosen.description or chosen.name, actor),
        reasoning=f"utilities by preferences: {ranked}; drew {chosen.name}",
    )


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
