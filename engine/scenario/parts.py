"""Models of the optional files: metrics, validation checks and exogenous events."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.scenario.base import Issue, ScenarioPart, StrList, new_dict, new_list
from engine.scenario.conditions import parse_condition


class Extraction(ScenarioPart):
    """How a metric's value is read from each turn's world update."""

    type: Literal["llm", "keyword", "pattern"] = Field(
        description="`llm`: a model reads the value; `keyword`: counts keywords; "
        "`pattern`: a regex captures a number."
    )
    prompt: str | None = Field(
        default=None,
        description="llm: the question to the model; defaults to the metric's description.",
    )
    model: str | None = Field(
        default=None,
        description="llm: the model; defaults to the world-state model.",
        examples=["openai/gpt-4o-mini"],
    )
    keywords: StrList = Field(
        default_factory=new_list,
        description="keyword: the words or phrases to look for.",
        examples=[["sanction", "embargo"]],
    )
    scoring: Literal["count", "presence", "density"] = Field(
        default="count",
        description="keyword: how many matches (`count`), any at all as 1 or 0 "
        "(`presence`), or matches per 1,000 words (`density`).",
    )
    pattern: str | None = Field(
        default=None,
        description="pattern: a regex searched case-insensitively in the narrative.",
        examples=["tension at (\\d+(?:\\.\\d+)?)"],
    )
    group: int | str | None = Field(
        default=None,
        description="pattern: the group (number or name) holding the number; default the first.",
    )

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
    """One measured quantity, recorded every turn."""

    name: str = Field(
        description="The metric's name in tables, reports and conditions.",
        examples=["cooperation"],
    )
    description: str = Field(default="", description="What it measures.")
    type: Literal["continuous", "categorical", "boolean"] = Field(
        default="continuous", description="A number, one of `categories`, or true/false."
    )
    range: tuple[float, float] | None = Field(
        default=None,
        description="[min, max] of a continuous metric; a model-judged one needs it.",
        examples=[[0, 10]],
    )
    categories: StrList = Field(
        default_factory=new_list, description="categorical: the values it may take."
    )
    unit: str = Field(default="", description="Shown after values.", examples=["%"])
    actor_specific: bool = Field(
        default=False, description="One value per actor rather than one for the world."
    )
    extraction: Extraction = Field(description="How the value is read.")

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
    """One check a model makes of each turn's decisions and world update."""

    enabled: bool = Field(default=True, description="false: the check is skipped.")
    description: str = Field(default="", description="What the check looks for.")
    prompt: str | None = Field(
        default=None, description="The question to the model; defaults to the description."
    )
    severity: Literal["low", "medium", "high"] = Field(
        default="medium", description="How serious a failure is; `high` counts as critical."
    )


class ValidationConfig(ScenarioPart):
    """validation-rules.yaml: checks run by a model after each turn."""

    validation_model: str | None = Field(
        default=None,
        description="The model that checks; defaults to the world-state model.",
        examples=["openai/gpt-4o-mini"],
    )
    checks: dict[str, Check] = Field(
        default_factory=new_dict,
        description="Check name -> check; the file may also list checks, each with a `name:`.",
    )
    run_after_each_turn: bool = Field(default=True, description="false: no checks are run.")
    halt_on_critical: bool = Field(
        default=False, description="Halt the run when a `high` severity check fails."
    )
    max_issues_before_halt: int | None = Field(
        default=None, ge=1, description="Halt the run after this many failed checks."
    )


_EVENT_NEEDS = {
    "scheduled": ("turn", "the turn it happens, e.g. turn: 3"),
    "random": ("probability", "the chance per turn, from 0 to 1, e.g. probability: 0.2"),
    "conditional": ("conditions", "metric -> comparison, e.g. conditions: {tension: '>= 7'}"),
    "trend": ("frequency", "every how many turns it recurs, e.g. frequency: 2"),
}


class ExogenousEvent(ScenarioPart):
    """Something that happens to the world, not decided by an actor."""

    name: str = Field(description="The event's name.", examples=["Tanker collision"])
    description: str = Field(
        default="", description="What happens; the world update and the actors see it."
    )
    type: Literal["scheduled", "random", "conditional", "trend"] = Field(
        description="`scheduled` at `turn`; `random` with `probability` each turn; "
        "`conditional` when `conditions` hold; `trend` every `frequency` turns. Events "
        "listed under a group (e.g. `random_events:`) take the group's type."
    )
    turn: int | None = Field(default=None, ge=1, description="scheduled: the turn it happens.")
    probability: float | None = Field(
        default=None, ge=0, le=1, description="random: the chance each turn (seeded)."
    )
    conditions: dict[str, str] | None = Field(
        default=None,
        description="conditional: metric or variable -> comparison, all of which must hold.",
        examples=[{"tension": ">= 8"}],
    )
    frequency: int | None = Field(
        default=None, ge=1, description="trend: every how many turns it recurs."
    )
    turn_range: tuple[int, int] | None = Field(
        default=None,
        description="[first, last] turns (inclusive) in which it may happen.",
        examples=[[2, 10]],
    )
    once: bool = Field(
        default=False,
        description="Happens at most once; the default is true for scheduled and "
        "conditional events, false for the others.",
    )
    effects: dict[str, float] = Field(
        default_factory=new_dict,
        description="Variable -> change when it happens (rule-driven scenarios).",
        examples=[{"trade_flow": -8}],
    )

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
