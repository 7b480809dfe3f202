"""Starting and steering runs: start, halt, resume, stop, fork. Runs play as tasks of
the server process (``server/runner.py``) under the same lease as the CLI's."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from scenario_lab.app import ForkRun, Inject, ResumeRun, StartRun, WorldReview
from server.deps import allow, services
from server.permissions import Principal, Rule
from server.render import json_response

router = APIRouter(prefix="/api/v1/runs", tags=["control"])

Models = Annotated[dict[str, str], Field(description="actor -> model, over the scenario's")]


class StartBody(BaseModel):
    scenario: str = Field(description="An offered scenario's name (GET /api/v1/scenarios).")
    seed: int = 0
    turns: int | None = Field(default=None, ge=1, le=10_000)
    models: Models = {}
    credit_limit: float | None = Field(default=None, description="USD; halts before crossing")
    humans: list[str] = Field(default=[], description="Actors played by people (seats).")
    white_cell: bool | None = Field(
        default=None,
        description="Each world update waits for a facilitator's review (default: as the "
        "scenario's `white_cell` says).",
    )
    name: str | None = Field(default=None, max_length=200, description="A label for people.")
    tags: list[str] = Field(default=[], description="Labels to find the run by.")
    cache_markers: bool = Field(
        default=True,
        description="Mark actors' stable prompt opening for Anthropic models' prompt cache.",
    )


class ResumeBody(BaseModel):
    credit_limit: float | None = None
    turns: int | None = Field(default=None, ge=1, le=10_000)


class ForkBody(BaseModel):
    at_turn: int = Field(ge=0)
    decisions: dict[str, str] = Field(default={}, description="actor -> action in turn N+1")
    inject: list[str] = Field(default=[], description="Exogenous events in turn N+1.")
    seed: int | None = None
    turns: int | None = Field(default=None, ge=1, le=10_000)
    models: Models = {}
    humans: list[str] = []
    ais: list[str] = []
    credit_limit: float | None = None
    play: bool = Field(default=True, description="Play the branch here once recorded.")
    count: int | None = Field(
        default=None, ge=1, le=1000, description="That many plain continuations, as a batch."
    )


@router.post("", status_code=201, dependencies=[allow(Rule.FACILITATOR)])
def start_run(body: StartBody, request: Request) -> Response:
    """Record a new run of an offered scenario and play it here; 201 with its id."""
    svc = services(request)
    lab = svc.lab
    created = lab.create_run(
        StartRun(
            scenario=str(lab.scenario_path(body.scenario)),
            seed=body.seed,
            turns=body.turns,
            models=body.models,
            credit_limit=body.credit_limit,
            humans=tuple(body.humans),
            white_cell=body.white_cell,
            name=body.name,
            tags=tuple(body.tags),
            cache_markers=body.cache_markers,
        )
    )
    anyio.from_thread.run_sync(svc.runner.start, created.run_id)
    return json_response(
        {"run_id": created.run_id, "warnings": created.warnings},
        status=201,
        headers={"Location": f"/api/v1/runs/{created.run_id}"},
    )


@router.post("/{run_id}/halt", dependencies=[allow(Rule.FACILITATOR)])
async def halt(request: Request, run_id: str) -> Response:
    """Pause the run at its next step boundary (``resume`` goes on). A run another
    process plays is refused (409): halt it there."""
    return json_response(await services(request).lab.halt(run_id))


@router.post("/{run_id}/stop", dependencies=[allow(Rule.FACILITATOR)])
async def stop(request: Request, run_id: str) -> Response:
    """End the run for good (a halt that ``resume`` refuses; a fork of it may go on)."""
    return json_response(await services(request).lab.stop(run_id))


@router.post("/{run_id}/resume", dependencies=[allow(Rule.FACILITATOR)])
def resume(request: Request, run_id: str, body: ResumeBody | None = None) -> Response:
    """Go on with a halted or interrupted run (or extend a completed one with ``turns``),
    played here."""
    svc = services(request)
    body = body or ResumeBody()
    resumed = svc.lab.resume_run(
        ResumeRun(run=run_id, credit_limit=body.credit_limit, turns=body.turns)
    )
    anyio.from_thread.run_sync(svc.runner.start, resumed)
    return json_response({"run_id": resumed, "status": "running"})


@router.post("/{run_id}/fork", status_code=201, dependencies=[allow(Rule.FACILITATOR)])
def fork(request: Request, run_id: str, body: ForkBody) -> Response:
    """A branch sharing turns 0..``at_turn``, with what it changes; played here unless
    ``play`` is false. ``count``: that many plain continuations, played as a batch."""
    svc = services(request)
    request_ = ForkRun(
        run=run_id,
        at_turn=body.at_turn,
        seed=body.seed,
        turns=body.turns,
        models=body.models,
        decisions=body.decisions,
        inject=tuple(body.inject),
        humans=tuple(body.humans),
        ais=tuple(body.ais),
        credit_limit=body.credit_limit,
        play=body.play,
        count=body.count,
    )
    if body.count is not None:
        batch = svc.lab.create_continuations(request_)
        anyio.from_thread.run_sync(svc.runner.start_batch, batch.batch_id)
        return json_response(batch, status=201)
    created = svc.lab.fork_run(request_)
    if body.play:
        anyio.from_thread.run_sync(svc.runner.start, created.run_id)
    return json_response(
        created, status=201, headers={"Location": f"/api/v1/runs/{created.run_id}"}
    )


class InjectBody(BaseModel):
    description: str = Field(min_length=1, max_length=20_000)
    name: str = Field(default="Inject", max_length=200)
    effects: dict[str, float] = Field(default={}, description="variable -> change")
    visibility: Literal["public"] | list[str] = Field(
        default="public", description='"public", or the actors who learn of it'
    )


@router.post("/{run_id}/inject", status_code=202)
def inject(
    request: Request,
    run_id: str,
    body: InjectBody,
    who: Annotated[Principal, allow(Rule.FACILITATOR)],
) -> Response:
    """A live inject: an event added to the exercise at its next phase boundary, like an
    exogenous event, recorded with who injected it."""
    visible_to = () if body.visibility == "public" else tuple(body.visibility)
    queued = services(request).lab.inject(
        run_id,
        Inject(
            description=body.description,
            name=body.name,
            effects=body.effects,
            visible_to=visible_to,
            injected_by=f"{who.kind}:{who.name}",
        ),
    )
    return json_response(queued, status=202)


class WorldReviewBody(BaseModel):
    """Approve the proposal as it is (an empty body), or give the fields that replace it."""

    narrative: str | None = Field(default=None, max_length=100_000)
    key_changes: list[str] | None = None
    consequences: list[str] | None = None
    variables: dict[str, float] | None = None


@router.get("/{run_id}/world-update", dependencies=[allow(Rule.FACILITATOR)])
def get_world_update(request: Request, run_id: str) -> Response:
    """White-cell mode: the adjudicator's proposed world update the run waits on (and
    its review once given); ``proposal`` is null when none waits."""
    return json_response(services(request).lab.world_proposal(run_id))


@router.post("/{run_id}/world-update")
def review_world_update(
    request: Request,
    run_id: str,
    who: Annotated[Principal, allow(Rule.FACILITATOR)],
    body: WorldReviewBody | None = None,
) -> Response:
    """Approve or edit the proposed world update; the run then goes on here with the
    reviewed version. Both versions and the reviewer are in the log."""
    svc = services(request)
    body = body or WorldReviewBody()
    reviewed = svc.lab.review_world(
        run_id,
        WorldReview(
            narrative=body.narrative,
            key_changes=tuple(body.key_changes) if body.key_changes is not None else None,
            consequences=tuple(body.consequences) if body.consequences is not None else None,
            variables=body.variables,
            reviewed_by=f"{who.kind}:{who.name}",
        ),
    )
    resumed = svc.lab.resume_run(ResumeRun(run=run_id))
    anyio.from_thread.run_sync(svc.runner.start, resumed)
    return json_response(reviewed)
