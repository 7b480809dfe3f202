"""Human seats: join links (facilitator), a seat's page, and its answers.

A seat token shows one actor of one run: its briefing, what it may see, the question it
is asked in words. Its answers are recorded with who gave them (the token's id, never
the secret); a run waiting for human seats goes on here by itself once none is left.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from scenario_lab.app import SeatAnswer, SeatNotWaiting, canonical_json
from server.accounts import Replay
from server.deps import Services, allow, services
from server.permissions import Principal, Rule
from server.problems import Problem
from server.render import json_response

router = APIRouter(prefix="/api/v1/runs", tags=["seats"])


class SeatBody(BaseModel):
    actor: str = Field(max_length=200)


class _Answer(BaseModel):
    request_id: str | None = Field(
        default=None,
        max_length=200,
        description="The question answered (from GET seat): a stale answer gets 409.",
    )


class DecisionBody(_Answer):
    action: str | None = Field(default=None, max_length=20_000)
    action_name: str | None = Field(default=None, max_length=200)
    reasoning: str = Field(default="", max_length=20_000)
    actor: str | None = Field(default=None, description="The seat (a facilitator's choice).")


class ReplyBody(_Answer):
    reply: str = Field(max_length=20_000)
    actor: str | None = None


class CoalitionBody(_Answer):
    reasoning: str = Field(default="", max_length=20_000)
    actor: str | None = None


def _seat_of(who: Principal, actor: str | None) -> str:
    if who.role == "player":
        if actor not in (None, who.actor):
            raise Problem(403, "Forbidden", "a seat token speaks for its own seat only")
        assert who.actor is not None
        return who.actor
    if actor is None:
        raise Problem(400, "Bad Request", "name the seat: `actor` in the body or ?actor=NAME")
    return actor


@router.post("/{run_id}/seats", status_code=201)
def create_seat(
    request: Request,
    run_id: str,
    body: SeatBody,
    who: Annotated[Principal, allow(Rule.FACILITATOR)],
) -> Response:
    """A join link for a person to take ``actor``'s seat: the token is shown once."""
    svc = services(request)
    view = svc.lab.seat_view(run_id, body.actor)  # the run and the actor exist
    seat, secret = svc.accounts.create_seat_token(view.run_id, body.actor, who.name)
    base = str(request.base_url).rstrip("/")
    return json_response(
        {
            "token": secret,
            "token_id": seat.token_id,
            "run_id": view.run_id,
            "actor": body.actor,
            "url": f"{base}/join/{view.run_id}#token={secret}",
        },
        status=201,
    )


@router.get("/{run_id}/seat")
def get_seat(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.SEAT)],
    actor: Annotated[str | None, Query(description="The seat (a facilitator's choice).")] = None,
) -> Response:
    """What the seat's player is shown: briefing, what it may see of the run, what was
    said to it, and the question it is asked, in words."""
    return json_response(services(request).lab.seat_view(run_id, _seat_of(who, actor)))


def _answer(
    request: Request,
    run_id: str,
    who: Principal,
    key: str | None,
    answer: SeatAnswer,
) -> Response:
    svc = services(request)
    route = request.url.path.rsplit("/", 1)[-1]  # decision, reply, accept, reject
    if key is not None:
        done = svc.accounts.replay(_by(who), key)
        if done is not None:
            return _replayed(done, route, run_id)
    try:
        answered = svc.lab.answer_seat(run_id, answer)
    except SeatNotWaiting:
        # the same key sent twice at once: the first answered while this one waited
        done = svc.accounts.replay(_by(who), key) if key is not None else None
        if done is None:
            raise
        return _replayed(done, route, run_id)
    result = {"answered": answered, "run_continues": _continue_if_ready(svc, answered.run_id)}
    if key is None:
        return json_response(result)
    kept = svc.accounts.record_replay(
        _by(who), key, Replay(route, run_id, 200, canonical_json(result))
    )
    return _replayed(kept, route, run_id)


def _replayed(done: Replay, route: str, run_id: str) -> Response:
    """The response remembered under an Idempotency-Key, for a request that repeats the
    one it answered; a key reused for another request is refused."""
    if (done.route, done.run_id) != (route, run_id):
        raise Problem(
            409,
            "Conflict",
            f"this Idempotency-Key answered another request ({done.route} of run "
            f"{done.run_id}); use a new key for each answer",
        )
    return Response(done.response.encode(), status_code=done.status, media_type="application/json")


def _continue_if_ready(svc: Services, run_id: str) -> bool:
    """Resume and play a run halted for human seats once none is waited for; with
    seats left, the runner watches it (they may answer from the CLI)."""
    state = svc.runner.resume_if_answered(run_id)
    if state == "waiting":
        anyio.from_thread.run_sync(svc.runner.wait_for_seats, run_id)
    if state != "resumed":
        return False
    anyio.from_thread.run_sync(svc.runner.start, run_id)
    return True


def _by(who: Principal) -> str:
    return f"{who.kind}:{who.name}"


@router.post("/{run_id}/seat/decision")
def decide(
    request: Request,
    run_id: str,
    body: DecisionBody,
    who: Annotated[Principal, allow(Rule.SEAT)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The seat's decision: ``action`` (text) and/or ``action_name`` (a declared action)."""
    answer = SeatAnswer(
        actor=_seat_of(who, body.actor),
        action=body.action,
        action_name=body.action_name,
        reasoning=body.reasoning,
        submitted_by=_by(who),
        request_id=body.request_id,
    )
    return _answer(request, run_id, who, idempotency_key, answer)


@router.post("/{run_id}/seat/reply")
def reply(
    request: Request,
    run_id: str,
    body: ReplyBody,
    who: Annotated[Principal, allow(Rule.SEAT)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The seat's reply to the private message it is asked to answer."""
    answer = SeatAnswer(
        actor=_seat_of(who, body.actor),
        reply=body.reply,
        submitted_by=_by(who),
        request_id=body.request_id,
    )
    return _answer(request, run_id, who, idempotency_key, answer)


def _coalition(
    request: Request, run_id: str, body: CoalitionBody, who: Principal, key: str | None, yes: bool
) -> Response:
    answer = SeatAnswer(
        actor=_seat_of(who, body.actor),
        accept=yes,
        reasoning=body.reasoning,
        submitted_by=_by(who),
        request_id=body.request_id,
    )
    return _answer(request, run_id, who, key, answer)


@router.post("/{run_id}/seat/accept")
def accept(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.SEAT)],
    body: CoalitionBody | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Join the coalition the seat is invited to."""
    return _coalition(request, run_id, body or CoalitionBody(), who, idempotency_key, True)


@router.post("/{run_id}/seat/reject")
def reject(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.SEAT)],
    body: CoalitionBody | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Decline the coalition the seat is invited to."""
    return _coalition(request, run_id, body or CoalitionBody(), who, idempotency_key, False)
