"""Pieces of the fold shared by its one-event handlers and its stretch fast path.

Both paths build an actor's memory and a metric's history through these, so they
cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from eventstore import DecisionMade

from .state import ActorState, Decision, Series

# Shared empty values: never changed in place, so sharing them is safe and spares
# building fresh ones for every new actor or metric.
EMPTY_ACTOR = ActorState()
NO_SERIES: Series[Any] = Series()


def actor_after(old: ActorState, decision: Decision, window: int) -> ActorState:
    """An actor's memory once ``decision`` is recorded: its latest ``window`` kept."""
    recent = old.recent
    recent = (*recent[1:], decision) if len(recent) >= window else (*recent, decision)
    return ActorState(
        goals=decision.long_term_goals or old.goals,
        priorities=decision.short_term_priorities or old.priorities,
        recent=recent,
        decisions=old.decisions + 1,
    )


def decision_of(e: DecisionMade) -> Decision:
    return Decision(
        turn=e.turn,
        actor=e.actor,
        request_id=e.request_id,
        action=e.action,
        action_name=e.action_name,
        reasoning=e.reasoning,
        brain=e.brain,
        parse_method=e.parse_method,
        long_term_goals=e.long_term_goals,
        short_term_priorities=e.short_term_priorities,
    )
