"""The scenarios the server offers (bundled ones and each ``--scenarios DIR``'s), and
checking or pricing scenario files sent in a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from scenario_lab.app import EstimateRequest
from server.deps import allow, services
from server.permissions import Rule
from server.render import json_response

router = APIRouter(prefix="/api/v1/scenarios", tags=["scenarios"])

# a scenario's files: relative path -> text (scenario.yaml, actors/x.yaml, ...)
Files = Annotated[dict[str, Annotated[str, Field(max_length=256_000)]], Field(max_length=200)]


class ValidateBody(BaseModel):
    files: Files


class EstimateBody(BaseModel):
    scenario: str = Field(description="An offered scenario's name.")
    turns: int | None = Field(default=None, ge=1, le=10_000)
    models: dict[str, str] = {}


@router.get("", dependencies=[allow(Rule.ANALYST)])
def list_scenarios(request: Request) -> Response:
    """Every offered scenario by folder name, with its actors and turns (or problems)."""
    return json_response(services(request).lab.list_scenarios())


@router.post("/validate", dependencies=[allow(Rule.ANALYST)])
def validate(body: ValidateBody, request: Request) -> Response:
    """Check a scenario's files (sent in the body, nothing is saved): every problem with
    its file, line and field. Cheap enough to call on every keystroke of an editor."""
    return json_response(services(request).lab.validate_files(body.files))


@router.post("/estimate", dependencies=[allow(Rule.ANALYST)])
def estimate(body: EstimateBody, request: Request) -> Response:
    """Expected model calls, tokens and cost of a run of an offered scenario, by model."""
    lab = services(request).lab
    path = lab.scenario_path(body.scenario)
    req = EstimateRequest(scenario=str(path), turns=body.turns, models=body.models)
    return json_response(lab.estimate(req))


@router.get("/{name}", dependencies=[allow(Rule.ANALYST)])
def get_scenario(request: Request, name: str) -> Response:
    """One scenario resolved: every file's content, as a run would record it."""
    return json_response(services(request).lab.scenario(name))
