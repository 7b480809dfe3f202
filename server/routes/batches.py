"""Batches: start one from a batch file (its base scenario an offered one), list them,
show one with statistics per variation, and finish one that was cut short."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import msgspec
import yaml
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from scenario_lab.app import BatchResume, BatchRunRequest
from server.deps import allow, services
from server.permissions import Rule
from server.problems import Problem
from server.render import json_response
from server.routes.analytics import analytics_lock

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])


class BatchBody(BaseModel):
    file: str = Field(
        max_length=256_000,
        description="The batch file (YAML); its base_scenario names an offered scenario.",
    )
    budget: float | None = Field(default=None, gt=0, description="USD for the whole batch.")


class ResumeBatchBody(BaseModel):
    budget: float | None = Field(default=None, gt=0)


_PATH_KEYS = frozenset({"source", "base_scenario"})
_BATCH_FOLDER = ".scenario-lab-batches"  # beside the log: the batch files sent here


def _public(value: Any) -> Any:
    """A batch as a client is shown it: the files the server keeps (its batch file, the
    base scenario's folder) by name, never by their path on the server."""
    if isinstance(value, dict):
        return {
            k: _name(v) if k in _PATH_KEYS and isinstance(v, str) else _public(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_public(v) for v in value]
    return value


def _name(path: str) -> str:
    # a file sent over HTTP is kept under a random name: that name says nothing
    if Path(path).parent.name == _BATCH_FOLDER:
        return "batch file"
    return Path(path).name


def _paths(status: Any) -> dict[str, str]:
    """Each server path a batch's report names -> the name a client is shown."""
    found = [status.get("source"), (status.get("config") or {}).get("base_scenario")]
    return {p: _name(p) for p in found if isinstance(p, str) and p}


def _batch_file(request: Request, text: str) -> str:
    """The batch file written where the server keeps them, its base scenario resolved
    from an offered name (a client never names a path on the server)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise Problem(422, "Invalid request", f"the batch file is not YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("base_scenario"), str):
        raise Problem(
            422, "Invalid request", "the batch file needs base_scenario: an offered scenario's name"
        )
    lab = services(request).lab
    data["base_scenario"] = str(lab.scenario_path(data["base_scenario"]))
    db = lab.settings.db  # beside the log file; a PostgreSQL log's: the server's folder
    folder = (db.resolve().parent if isinstance(db, Path) else Path.cwd()) / _BATCH_FOLDER
    folder.mkdir(exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


@router.post("", status_code=201, dependencies=[allow(Rule.FACILITATOR)])
def start_batch(body: BatchBody, request: Request) -> Response:
    """Record a batch file's runs and play them here in the background; 201 with the
    batch (``GET batches/{id}`` follows its progress)."""
    svc = services(request)
    created = svc.lab.create_batch(
        BatchRunRequest(file=_batch_file(request, body.file), budget=body.budget)
    )
    anyio.from_thread.run_sync(svc.runner.start_batch, created.batch_id)
    return json_response(_public(msgspec.to_builtins(created)), status=201)


@router.get("", dependencies=[allow(Rule.ANALYST)])
def list_batches(request: Request) -> Response:
    """Every batch, newest first, with its counts per status and cost."""
    return json_response(_public(msgspec.to_builtins(services(request).lab.list_batches())))


@router.get("/{batch_id}", dependencies=[allow(Rule.ANALYST)])
def get_batch(request: Request, batch_id: str) -> Response:
    """A batch's status per variation and its runs cut short, with why."""
    return json_response(_public(msgspec.to_builtins(services(request).lab.batch_status(batch_id))))


@router.get("/{batch_id}/statistics", dependencies=[allow(Rule.ANALYST)])
def batch_statistics(request: Request, batch_id: str) -> Response:
    """Per variation and metric: the completed runs' final values summarised (n, mean,
    95% CI, ...), the significant pairs (Welch, Holm-adjusted), and fan charts (median,
    middle 50% and 80% per turn) of each metric, per variation and pooled."""
    return json_response(services(request).lab.batch_statistics(batch_id))


@router.get(
    "/{batch_id}/report",
    dependencies=[allow(Rule.ANALYST)],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}}},
)
def batch_report(request: Request, batch_id: str) -> PlainTextResponse:
    """The batch's markdown report: statistics of each metric per variation."""
    lab = services(request).lab
    with analytics_lock:
        text = lab.batch_report(batch_id)
    for path, name in _paths(msgspec.to_builtins(lab.batch_status(batch_id))).items():
        text = text.replace(path, name)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.post("/{batch_id}/resume", dependencies=[allow(Rule.FACILITATOR)])
def resume_batch(request: Request, batch_id: str, body: ResumeBatchBody | None = None) -> Response:
    """Finish a batch's unfinished runs here (``budget`` raises its budget)."""
    svc = services(request)
    found = svc.lab.prepare_batch_resume(
        BatchResume(batch=batch_id, budget=body.budget if body else None)
    )
    anyio.from_thread.run_sync(svc.runner.start_batch, found.batch_id)
    return json_response(_public(msgspec.to_builtins(found)))
