"""Pieces of the fold shared by its one-event handlers and its stretch fast path.

Both paths build an actor's memory and a metric's history through these, so they
cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from engine.fold.state import (
    ActorState,
    Coalition,
    Decision,
    Message,
    MessagesState,
    Series,
    WorldEntry,
    WorldState,
)
from eventstore import DecisionMade, MessageSent, WorldUpdated

DIGEST_CHARS = 200  # of an old turn's line in the digest

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


def with_item(d: dict[Any, Any], key: Any, value: Any) -> dict[Any, Any]:
    """A copy of ``d`` with ``key`` set: states share their dicts, never change them."""
    out = d.copy()
    out[key] = value
    return out


def with_call_ids(ids: tuple[str, ...], new: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``ids`` with the request ids of ``new`` not yet among them, in log order."""
    added = tuple(i for i in dict.fromkeys(new) if i not in ids)
    return (*ids, *added) if added else ids


def messages_after(msgs: MessagesState, e: MessageSent) -> MessagesState:
    """The messages once ``e`` is sent: kept as recent, and a coalition proposed or
    answered by it."""
    message = Message(
        message_id=e.message_id,
        turn=e.turn,
        sender=e.sender,
        recipients=e.recipients,
        channel=e.channel,
        visibility=e.visibility,
        kind=e.kind,
        content=e.content,
        thread_id=e.thread_id,
        in_reply_to=e.in_reply_to,
    )
    coalitions = msgs.coalitions
    kind = e.kind
    if kind == "proposal":
        cid = e.thread_id or e.message_id
        coalitions = with_item(
            coalitions,
            cid,
            Coalition(
                coalition_id=cid,
                turn=e.turn,
                proposer=e.sender,
                invited=e.recipients,
                purpose=e.content,
            ),
        )
    elif kind == "accept" or kind == "reject":
        coalitions = _answer(coalitions, e)
    return replace(msgs, recent=(*msgs.recent, message), coalitions=coalitions)


def _answer(coalitions: dict[str, Coalition], e: MessageSent) -> dict[str, Coalition]:
    cid = e.thread_id if e.thread_id in coalitions else e.in_reply_to
    c = coalitions.get(cid) if cid is not None else None
    if c is None or e.sender not in c.invited:
        return coalitions  # an answer to nothing, or from someone not invited: no member
    who = e.sender
    accepted = tuple(a for a in c.accepted if a != who)
    rejected = tuple(a for a in c.rejected if a != who)
    if e.kind == "accept":
        accepted = (*accepted, who)
    else:
        rejected = (*rejected, who)
    return with_item(coalitions, c.coalition_id, replace(c, accepted=accepted, rejected=rejected))


def _digest_line(entry: WorldEntry) -> str:
    if entry.key_changes:
        return entry.key_changes[0][:DIGEST_CHARS]
    return " ".join(entry.narrative.split())[:DIGEST_CHARS]


def world_after(w: WorldState, e: WorldUpdated, window: int) -> WorldState:
    """The world once ``e`` is recorded: the latest ``window`` turns in full, older ones
    as a line each in the digest."""
    history = (
        *w.history,
        WorldEntry(turn=e.turn, narrative=e.narrative, key_changes=e.key_changes),
    )
    digest = w.digest
    if len(history) > window:
        old = history[0]
        digest = digest.append((old.turn, _digest_line(old)))
        history = history[1:]
    return replace(
        w,
        turn=e.turn,
        narrative=e.narrative,
        key_changes=e.key_changes,
        consequences=e.consequences,
        variables={**w.variables, **e.variables} if e.variables else w.variables,
        source=e.source,
        history=history,
        digest=digest,
    )
