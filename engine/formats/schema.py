"""JSON Schemas of the scenario and batch files, for editors' completion and checks.

``json_schema("actor")`` is built from the same pydantic models (and descriptions) as
``docs/scenario-format.md``. To use one in an editor with the YAML language server, save
it (``scenario-lab schema actor > .schemas/actor.json``) and start the file with
``# yaml-language-server: $schema=../.schemas/actor.json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from engine.errors import ScenarioInvalid
from engine.scenario.layout import (
    ActorFile,
    ExogenousFile,
    MetricsFile,
    ScenarioFile,
    ValidationFile,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def file_models() -> dict[str, tuple[str, type[BaseModel]]]:
    """Kind -> (the file it describes, its model), in the order the reference shows them."""
    from engine.batch.config import BatchFile

    return {
        "scenario": ("scenario.yaml", ScenarioFile),
        "actor": ("actors/<name>.yaml", ActorFile),
        "metrics": ("metrics.yaml", MetricsFile),
        "validation": ("validation-rules.yaml", ValidationFile),
        "exogenous": ("exogenous-events.yaml", ExogenousFile),
        "batch": ("a batch file (any name)", BatchFile),
    }


KINDS = ("scenario", "actor", "metrics", "validation", "exogenous", "batch")


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one kind of file; raises ``ScenarioInvalid`` for an unknown kind."""
    models = file_models()
    if kind not in models:
        raise ScenarioInvalid(
            f"no schema named {kind!r}", hint=f"choose one of {', '.join(models)}"
        )
    file, model = models[kind]
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DRAFT, **schema, "title": file}
