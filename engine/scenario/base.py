"""Shared pieces of the scenario models: the base model, cross-field issues, normalisers.

Field checks are pydantic's. Checks that relate several fields (a scripted actor needs a
script, an action's effects name declared variables) are :class:`Issue` lists from
``issues()``, so the loader can report each under its own file and field; validation
raises on them unless the context carries ``DEFER_CHECKS`` (the loader's way to collect
them all instead of stopping at the first model).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

SHORT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DURATION = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week|month|year)s?\s*$", re.IGNORECASE)
DURATION_HINT = (
    "write 'N unit' with unit second, minute, hour, day, week, month or year "
    "(singular or plural), e.g. '1 month' or '2 weeks'"
)
DEFER_CHECKS = "defer_checks"


# Default factories of the models' list and dict fields. Not ``list``/``dict`` themselves:
# pydantic reads each factory's signature, and ``list``'s is parsed from its text by the
# tokenizer (0.4-0.8 ms a field, the first also compiling the tokenizer's patterns:
# ~5-8 ms of every run's start for the scenario's 11 list fields).
def new_list() -> list[Any]:
    """An empty list: ``Field(default_factory=new_list)``."""
    return []


def new_dict() -> dict[Any, Any]:
    """An empty dict: ``Field(default_factory=new_dict)``."""
    return {}


Control = Literal["ai", "human", "scripted", "rules"]
IssuePath = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """A problem spanning several fields, at ``path`` inside the model that found it."""

    path: IssuePath
    message: str
    hint: str = ""
    severity: Literal["error", "warning"] = "error"

    def under(self, *prefix: str | int) -> Issue:
        return Issue((*prefix, *self.path), self.message, self.hint, self.severity)

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path)
        text = f"{where}: {self.message}" if where else self.message
        return text + (f" ({self.hint})" if self.hint else "")


def plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items())
    return str(value)


def text_field(value: Any) -> Any:
    """Free text that some files write as a list or mapping becomes bullet lines."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(f"- {plain(v)}" for v in value)
    if isinstance(value, dict):
        return "\n".join(f"- {k}: {plain(v)}" for k, v in value.items())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def str_list(value: Any) -> Any:
    """One string, or a list of them, becomes a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else plain(v) for v in value]
    return value


# Free text that a file may also write as a list or mapping (made bullet lines), and a
# list of strings that may be one string: the JSON Schema says so, for editors.
Text = Annotated[
    str,
    BeforeValidator(text_field),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}]}),
]
StrList = Annotated[
    list[str],
    BeforeValidator(str_list),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]

# A safe expression (engine.scenario.expressions), checked when the scenario loads.
Expr = Annotated[str, WithJsonSchema({"type": "string", "format": "expression"})]
# A rule actor's preference weight: a number, or an expression computing one.
Weight = Annotated[float, Field(allow_inf_nan=False)] | Expr


def _schema_aliases(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Add each field's other accepted names to the model's JSON Schema properties."""
    properties = schema.get("properties", {})
    for name, info in model.model_fields.items():
        if name not in properties or not isinstance(info.validation_alias, AliasChoices):
            continue
        for alias in info.validation_alias.choices:
            if isinstance(alias, str) and alias != name:
                properties[alias] = {
                    **properties[name],
                    "description": f"Another name for `{name}`; give only one of them.",
                }


class ScenarioPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_schema_aliases)

    def _own_issues(self) -> list[Issue]:
        return []

    def issues(self) -> list[Issue]:
        """Every cross-field issue of this model and of the models inside it."""
        out = self._own_issues()
        for name in type(self).model_fields:
            out += [i.under(name) for i in _nested_issues(getattr(self, name))]
        return out

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Any:
        if not (info.context or {}).get(DEFER_CHECKS):
            errors = [str(i) for i in self._own_issues() if i.severity == "error"]
            if errors:
                raise ValueError("; ".join(errors))
        return self


def _nested_issues(value: Any) -> list[Issue]:
    if isinstance(value, ScenarioPart):
        return value.issues()
    items: Iterable[tuple[str | int, Any]] = ()
    if isinstance(value, list | tuple):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    return [i.under(key) for key, item in items for i in _nested_issues(item)]
