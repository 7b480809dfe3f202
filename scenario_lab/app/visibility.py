"""Fog of war for front ends: events and a seat's page as one viewer may see them.

``Viewer`` is ``STAFF`` (admin, facilitator, analyst: everything of the runs they may
read) or ``Seat(actor)`` (the person at one actor's seat). Every event a front end hands
out passes through :func:`visible_line`; the rule of what a seat keeps of each event
type lives once, in ``engine.visibility``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.visibility import STAFF, Seat, Staff, Viewer, briefing, see_payload

from .reads import EventLine, LogQuery, log_lines, state_at
from .seats import SeatQuestion, seat_questions
from .settings import LabSettings
from .store import open_store


def visible_line(line: EventLine, viewer: Viewer) -> dict[str, Any] | None:
    """The ``log --json`` object of ``line`` as ``viewer`` may see it (a seat's payload
    keeps only the fields it may read), or None when it may not see the event."""
    data: dict[str, Any] = msgspec.to_builtins(line, order="deterministic", enc_hook=str)
    if isinstance(viewer, Staff):
        return data
    payload = see_payload(viewer, line.type, data["payload"])
    if payload is None:
        return None
    data["payload"] = payload
    return data


class VisiblePage(msgspec.Struct, frozen=True, kw_only=True):
    """Events after a log position that a viewer may see, and where to ask next."""

    events: tuple[dict[str, Any], ...]
    next_after: int


def visible_page(
    settings: LabSettings, run_ref: str, viewer: Viewer, *, after: int = 0, limit: int = 1000
) -> VisiblePage:
    """Up to ``limit`` events of the run after position ``after`` that ``viewer`` may
    see. A seat sees few events, so the scan is bounded too (20 x ``limit`` events);
    ``next_after`` says where the next page starts either way."""
    out: list[dict[str, Any]] = []
    last = after
    lines = log_lines(settings, LogQuery(run=run_ref, after=after))
    for scanned, line in enumerate(lines, 1):
        last = line.position
        seen = visible_line(line, viewer)
        if seen is not None:
            out.append(seen)
        if len(out) == limit or scanned >= 20 * limit:
            break
    return VisiblePage(events=tuple(out), next_after=last)


class SeatPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """What a seat is asked, for a person: the question in words, the message to
    answer, the declared actions to choose from and which fields answer it. Never the
    instructions an AI actor would be given."""

    kind: str
    turn: int
    request_id: str
    question: str
    answer_with: tuple[str, ...]
    message: dict[str, Any] | None = None
    choices: tuple[dict[str, str], ...] = ()


class SeatView(msgspec.Struct, frozen=True, kw_only=True):
    """A seat's page: its briefing (the shared setting, its own actor file, the others'
    public face), the public history, what was said to or by it, its own decisions and
    requests, and what it is asked now."""

    run_id: str
    actor: str
    status: str
    turn: int
    turns: int
    briefing: dict[str, Any]
    history: tuple[dict[str, Any], ...]
    messages: tuple[dict[str, Any], ...]
    own: tuple[dict[str, Any], ...]
    pending: tuple[SeatPrompt, ...]
    waiting_for: tuple[str, ...]


def _prompt(q: SeatQuestion, actor_name: str) -> SeatPrompt:
    if q.kind == "decision":
        return SeatPrompt(
            kind=q.kind,
            turn=q.turn,
            request_id=q.request_id,
            question=f"What does {actor_name} do in turn {q.turn}?",
            answer_with=("action_name", "action") if q.choices else ("action",),
            choices=tuple({"name": c.name, "description": c.description} for c in q.choices),
        )
    assert q.message is not None
    message = msgspec.to_builtins(q.message)
    if q.kind == "reply":
        question = f"{q.message.sender} wrote to you privately. What do you reply?"
        answer_with: tuple[str, ...] = ("reply",)
    else:
        question = f"{q.message.sender} invites you to a coalition. Do you join?"
        answer_with = ("accept", "reasoning")
    return SeatPrompt(
        kind=q.kind,
        turn=q.turn,
        request_id=q.request_id,
        question=question,
        answer_with=answer_with,
        message=message,
    )


def seat_view(settings: LabSettings, run_ref: str, actor: str) -> SeatView:
    """What the person at ``actor``'s seat of the run is shown (see ``SeatView``)."""
    from engine.play.human import check_actor
    from engine.summary import summarize

    state = state_at(settings, run_ref)
    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        check_actor(state, run_id, actor)
        status = summarize(store, store.run_info(run_id), settings.db).status
    viewer = Seat(actor)
    history, messages, own = [], [], []
    for line in log_lines(settings, LogQuery(run=run_id)):
        if line.type in ("RunStarted", "RunForked"):
            continue
        seen = visible_line(line, viewer)
        if seen is None:
            continue
        payload = seen["payload"]
        if line.type == "MessageSent":
            messages.append(payload)
        elif payload.get("actor") == actor:
            own.append(payload)
        else:
            history.append(payload)
    questions = seat_questions(settings, run_id)
    name = state.scenario.get("actors", {}).get(actor, {}).get("name", actor)
    return SeatView(
        run_id=run_id,
        actor=actor,
        status=status,
        turn=state.turn,
        turns=state.settings.turns,
        briefing=briefing(state.scenario, actor),
        history=tuple(history),
        messages=tuple(messages),
        own=tuple(own),
        pending=tuple(_prompt(q, name) for q in questions if q.actor == actor),
        waiting_for=tuple(sorted({q.actor for q in questions})),
    )


__all__ = [
    "STAFF",
    "Seat",
    "SeatPrompt",
    "SeatView",
    "Staff",
    "Viewer",
    "VisiblePage",
    "seat_view",
    "visible_line",
    "visible_page",
]
