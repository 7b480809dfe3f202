"""The scenarios the server offers (bundled ones and each ``--scenarios DIR``'s), and
checking or pricing scenario files sent in a request."""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from scenario_lab.app import EstimateRequest
from scenario_lab.app.scenario_files import (
    MAX_FILE_CHARS,
    MAX_FILES,
    ScenarioFile,
    ScenarioFilesInvalid,
)
from server.deps import allow, services
from server.permissions import Rule
from server.problems import Problem
from server.render import json_response

router = APIRouter(prefix="/api/v1/scenarios", tags=["scenarios"])

# a scenario's files: relative path -> text (scenario.yaml, actors/x.yaml, ...)
Files = Annotated[dict[str, Annotated[str, Field(max_length=256_000)]], Field(max_length=200)]


class ValidateBody(BaseModel):
    files: Files


class FileBody(BaseModel):
    path: str = Field(max_length=500, description="Relative: scenario.yaml, actors/x.yaml.")
    text: str = Field(max_length=MAX_FILE_CHARS)


class SaveBody(BaseModel):
    name: str = Field(max_length=200, description="The new scenario's folder name.")
    files: list[FileBody] = Field(min_length=1, max_length=MAX_FILES)


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


@router.post("", status_code=201, dependencies=[allow(Rule.FACILITATOR)])
def save_scenario(body: SaveBody, request: Request) -> Response:
    """Save files as a new scenario directory in the server's first ``--scenarios``
    folder, once they validate: 201 with the scenario as ``GET scenarios`` lists it.
    409 when the name is taken or no folder is configured; 422 for a bad name or path,
    and for files with errors (``problems``: each with file, line and field)."""
    files = [ScenarioFile(path=f.path, text=f.text) for f in body.files]
    try:
        saved = services(request).lab.save_scenario(body.name, files)
    except ScenarioFilesInvalid as e:
        raise Problem(
            422,
            "Invalid request",
            e.one_line(),
            type_="urn:scenario-lab:error:scenario-invalid",
            code=e.code,
            field=e.field,
            problems=msgspec.to_builtins(e.validation.problems),
        ) from None
    return json_response(saved, status=201)


@router.get("/{name}/files", dependencies=[allow(Rule.ANALYST)])
def scenario_files(request: Request, name: str) -> Response:
    """An offered scenario's text files as they are on disk: ``[{path, text}]``,
    ``scenario.yaml`` first (what the editor starts from)."""
    return json_response(services(request).lab.scenario_files(name))


@router.get("/{name}", dependencies=[allow(Rule.ANALYST)])
def get_scenario(request: Request, name: str) -> Response:
    """One scenario resolved: every file's content, as a run would record it."""
    return json_response(services(request).lab.scenario(name))
