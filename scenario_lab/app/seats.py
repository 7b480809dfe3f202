"""Human seats: what a seat is asked, and answering it.

A run halts while it waits for a human seat; an answer from any process (the CLI's
``decide``, the server's seat routes) is recorded, and resuming the run goes on.
"""

from __future__ import annotations

import msgspec

from eventstore import ConcurrencyConflict, SeatNotWaiting, UsageError

from .settings import LabSettings
from .store import open_store

_ATTEMPTS = 5  # of an answer that raced another writer of the run


class PromptMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    content: str


class AskedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """The talk or coalition invitation a seat is asked to answer."""

    message_id: str
    sender: str
    channel: str
    turn: int
    content: str


class ActionChoice(msgspec.Struct, frozen=True, kw_only=True):
    """One of the actions a seat declares (in a world with rules): its name and what it
    does."""

    name: str
    description: str


class SeatQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """What a run waits for from a human seat: a ``decision``, a ``reply`` to a talk or
    a ``coalition`` answer. ``prompt`` is what an AI actor in that seat would be shown;
    ``message`` what is to be answered (reply, coalition); ``choices`` the declared
    actions a decision must choose from (empty: any action text)."""

    run_id: str
    actor: str
    kind: str
    turn: int
    request_id: str
    prompt: tuple[PromptMessage, ...]
    message: AskedMessage | None = None
    choices: tuple[ActionChoice, ...] = ()


class SeatAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """An answer for ``actor``: ``action`` (and/or ``action_name``, one of its declared
    actions) for a decision, ``reply`` for a talk, ``accept`` for a coalition invitation;
    ``submitted_by`` names who answered (an id, never a secret), ``via`` from where."""

    actor: str
    action: str | None = None
    action_name: str | None = None
    reasoning: str = ""
    goals: tuple[str, ...] = ()
    reply: str | None = None
    accept: bool | None = None
    submitted_by: str = ""
    via: str = "api"
    # the question answered (``SeatQuestion.request_id``): an answer to a question that
    # is no longer open is refused rather than taken as the answer to the next one
    request_id: str | None = None


class SeatAnswered(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    actor: str
    kind: str
    turn: int
    request_id: str


def seat_questions(
    settings: LabSettings, run_ref: str, actor: str | None = None
) -> tuple[SeatQuestion, ...]:
    """What the run waits for from human seats (only ``actor``'s, if given)."""
    from engine.play.human import declared_actions, find_message, pending_inputs
    from engine.replay import replay

    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        pending = [p for p in pending_inputs(store, run_id) if actor in (None, p.actor)]
        if not pending:
            return ()
        state = replay(store, run_id)
    out = []
    for p in pending:
        message = None
        choices: tuple[ActionChoice, ...] = ()
        if p.kind == "decision":
            choices = tuple(
                ActionChoice(name=n, description=d)
                for n, d in declared_actions(state, p.actor).items()
            )
        else:
            m = find_message(state, p.about)
            message = AskedMessage(
                message_id=m.message_id,
                sender=m.sender,
                channel=m.channel,
                turn=m.turn,
                content=m.content,
            )
        out.append(
            SeatQuestion(
                run_id=run_id,
                actor=p.actor,
                kind=p.kind,
                turn=p.turn,
                request_id=p.request_id,
                prompt=tuple(
                    PromptMessage(role=m.get("role", ""), content=m.get("content", ""))
                    for m in p.prompt
                ),
                message=message,
                choices=choices,
            )
        )
    return tuple(out)


def seat_question(settings: LabSettings, run_ref: str, actor: str) -> SeatQuestion:
    """What the run asks ``actor`` first; ``SeatNotWaiting`` when it waits for nothing
    from that seat."""
    found = seat_questions(settings, run_ref, actor)
    if not found:
        with open_store(settings) as store:
            run_id = store.resolve(run_ref)
        raise SeatNotWaiting(f"run {run_id} is not waiting for input from {actor!r}", run_id=run_id)
    return found[0]


def answer(settings: LabSettings, run_ref: str, given: SeatAnswer) -> SeatAnswered:
    """Record ``given`` as the seat's answer to what the run waits for from it.

    Refuses a seat that is not human or not waited for (``SeatNotWaiting``: a second
    answer to the same step is one) and an answer of the wrong kind or blank
    (``InvalidRequest`` naming the field to give)."""
    from engine.play.human import submit

    asked = given.request_id
    if asked is None:  # the question open now: a retry below must not answer the next
        open_now = seat_questions(settings, run_ref, given.actor)
        asked = open_now[0].request_id if open_now else None
    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        for attempt in range(_ATTEMPTS):
            try:
                event = submit(
                    store,
                    run_id,
                    given.actor,
                    action=given.action,
                    action_name=given.action_name,
                    reasoning=given.reasoning,
                    goals=given.goals,
                    reply=given.reply,
                    accept=given.accept,
                    submitted_by=given.submitted_by,
                    via=given.via,
                    request_id=asked,
                )
                break
            except UsageError as e:
                # another answer landed between reading the run and appending: read it
                # again, so a second answer to this seat is refused as not waited for
                # (SeatNotWaiting) and an answer of another seat is recorded after it
                conflict = e.__cause__
                if not isinstance(conflict, ConcurrencyConflict):
                    raise
                if attempt == _ATTEMPTS - 1:
                    raise conflict from None
    return SeatAnswered(
        run_id=run_id,
        actor=given.actor,
        kind=event.kind,
        turn=event.turn,
        request_id=event.request_id,
    )
