"""Structured outputs asked of models, and their JSON schemas for strict mode."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Keys models write instead of ours, after lower-casing and mapping "-"/" " to "_".
_KEY_ALIASES = {"goals": "long_term_goals", "priorities": "short_term_priorities"}


class DecisionOut(BaseModel):
    """An actor's decision as the model states it.

    Tolerant on input: ``goals``/``priorities`` and keys such as ``"Long-term goals"``
    are accepted, a lone string stands for a one-item list, and only ``action`` is
    required. The schema sent to the model still requires every field.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    long_term_goals: list[str] = Field(default=[], description="goals over the whole exercise")
    short_term_priorities: list[str] = Field(default=[], description="priorities for this turn")
    reasoning: str = Field(default="", description="why this action, given the situation")
    action: str = Field(description="what the actor does this turn, concretely")
    action_name: str | None = Field(
        default=None, description="the name of a predefined action if one was chosen, else null"
    )

    @model_validator(mode="before")
    @classmethod
    def _normalise_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = re.sub(r"[\s-]+", "_", str(key).strip().lower())
            name = _KEY_ALIASES.get(name, name)
            if name in ("long_term_goals", "short_term_priorities") and isinstance(value, str):
                value = [value]
            out.setdefault(name, value)
        return out


@functools.cache
def json_schema_for(model_cls: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of ``model_cls`` in the form strict structured output accepts:
    every property required, ``additionalProperties: false`` on every object, optional
    fields as ``anyOf [..., null]``, and no titles or defaults.

    Cached: pydantic takes ~3 ms to build a schema and the engine sends one per call.
    Callers must not mutate the returned dict (copy what you change)."""
    schema: dict[str, Any] = _strict(model_cls.model_json_schema())
    _SORTED_TEXT[id(schema)] = (schema, json.dumps(schema, ensure_ascii=False, sort_keys=True))
    return schema


# id -> (schema, its JSON text): every dict json_schema_for returned (held here too, so
# no other object can take its id)
_SORTED_TEXT: dict[int, tuple[dict[str, Any], str]] = {}


def sorted_schema_text(schema: dict[str, Any]) -> str | None:
    """``json.dumps(schema, ensure_ascii=False, sort_keys=True)`` if ``schema`` is a dict
    :func:`json_schema_for` returned (encoded once), else None."""
    kept = _SORTED_TEXT.get(id(schema))
    return kept[1] if kept is not None and kept[0] is schema else None


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k not in ("title", "default")}
    if "properties" in out:
        # A model class's docstring is written for us, not for the model reading the schema.
        out.pop("description", None)
        # Properties are names here, not schemas; their keys must survive as they are.
        out["properties"] = {k: _strict(v) for k, v in node["properties"].items()}
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out
