"""Models of the optional files: metrics, validation checks and exogenous events."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.scenario.base import Issue, ScenarioPart, str_list
from engine.scenario.conditions import parse_condition


class Extraction(ScenarioPart):
    type: Literal["llm", "keyword", "pattern"]
    prompt: str | None = None  # llm; defaults to the metric's description
    model: str | None = None  # llm; defaults to the world-state model
    keywords: list[str] = Field(default_factory=list)
    scoring: Literal["count", "presence", "density"] = "count"
    pattern: str | None = None  # a regex searched case-insensitively
    group: int | str | None = None  # the group holding the number (default: the first)

    _keywords = field_validator("keywords", mode="before")(str_list)

    def _own_issues(self) -> list[Issue]:
        if self.type == "keyword" and not self.keywords:
            return [Issue(("keywords",), "a keyword extraction needs `keywords:`")]
        if self.type != "pattern":
            return []
        if not self.pattern:
            return [Issue(("pattern",), "a pattern extraction needs `pattern:` (a regex)")]
        try:
            compiled = re.compile(self.pattern)
        except re.error as e:
            return [
                Issue(
                    ("pattern",),
                    f"`{self.pattern}` is not a valid regex: {e}",
                    "in YAML, single-quote patterns with backslashes, e.g. '(\\d+)%'",
                )
            ]
        group = self.group
        if isinstance(group, int) and group > compiled.groups:
            return [Issue(("group",), f"{group} but the pattern has {compiled.groups} group(s)")]
        if isinstance(group, str) and group not in compiled.groupindex:
            return [Issue(("group",), f"{group!r} is not a named group of the pattern")]
        return []


class Metric(ScenarioPart):
    name: str
    description: str = ""
    type: Literal["continuous", "categorical", "boolean"] = "continuous"
    range: tuple[float, float] | None = None
    categories: list[str] = Field(default_factory=list)
    unit: str = ""
    actor_specific: bool = False  # one value per actor rather than one for the world
    extraction: Extraction

    def _own_issues(self) -> list[Issue]:
        out = []
        # keyword counts have no natural ceiling; a model asked for a number needs a scale
        if self.type == "continuous" and self.range is None and self.extraction.type == "llm":
            out.append(
                Issue(
                    ("range",),
                    "a continuous metric judged by a model needs a range",
                    "add `range: [min, max]`, e.g. range: [0, 10]",
                )
            )
        if self.range is not None and self.range[0] >= self.range[1]:
            out.append(Issue(("range",), f"{list(self.range)}: min must be below max"))
        if self.type == "categorical" and not self.categories:
            out.append(Issue(("categories",), "a categorical metric needs `categories:`"))
        return out


class Check(ScenarioPart):
    enabled: bool = True
    description: str = ""
    prompt: str | None = None
    severity: Literal["low", "medium", "high"] = "medium"  # high counts as critical


class ValidationConfig(ScenarioPart):
    validation_model: str | None = None  # defaults to the world-state model
    checks: dict[str, Check] = Field(default_factory=dict)
    run_after_each_turn: bool = True
    halt_on_critical: bool = False
    max_issues_before_halt: int | None = Field(default=None, ge=1)


_EVENT_NEEDS = {
    "scheduled": ("turn", "the turn it happens, e.g. turn: 3"),
    "random": ("probability", "the chance per turn, from 0 to 1, e.g. probability: 0.2"),
    "conditional": ("conditions", "metric -> comparison, e.g. conditions: {tension: '>= 7'}"),
    "trend": ("frequency", "every how many turns it recurs, e.g. frequency: 2"),
}


class ExogenousEvent(ScenarioPart):
    name: str
    description: str = ""
    type: Literal["scheduled", "random", "conditional", "trend"]
    turn: int | None = Field(default=None, ge=1)
    probability: float | None = Field(default=None, ge=0, le=1)
    conditions: dict[str, str] | None = None  # metric or variable -> ">= 7" (all must hold)
    frequency: int | None = Field(default=None, ge=1)
    turn_range: tuple[int, int] | None = None  # inclusive
    once: bool = False  # default set by type: scheduled/conditional fire once
    effects: dict[str, float] = Field(default_factory=dict)  # variable -> delta, for rule scenarios

    @model_validator(mode="before")
    @classmethod
    def _once_by_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("once") is None:
            data = {**data, "once": data.get("type") in ("scheduled", "conditional")}
        return data

    @field_validator("conditions", mode="before")
    @classmethod
    def _conditions(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out = {}
        for name, text in v.items():
            try:
                op, threshold = parse_condition(text)
            except ValueError:
                raise ValueError(
                    f"{name}: {text!r} is not a comparison like '>= 7', '< 3', '== 1' or '!= 0'"
                ) from None
            # integral thresholds read as integers; others keep every digit (no :g rounding)
            number = str(int(threshold)) if threshold.is_integer() else repr(threshold)
            out[str(name)] = f"{'==' if op == '=' else op} {number}"
        return out

    def _own_issues(self) -> list[Issue]:
        out = []
        field, hint = _EVENT_NEEDS[self.type]
        value = getattr(self, field)
        if value is None or value == {}:
            out.append(Issue((field,), f"a {self.type} event needs `{field}:`", hint))
        if self.turn_range is not None:
            start, end = self.turn_range
            if start < 1 or end < start:
                out.append(
                    Issue(("turn_range",), f"{list(self.turn_range)} is not [first, last] turns")
                )
        return out
