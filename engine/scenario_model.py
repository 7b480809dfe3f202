"""The scenario model: what a scenario directory means once loaded and normalised.

These pydantic models are built from the *resolved* scenario (``scenario_load.py``
turns the YAML files into it, aliases and layouts normalised), which is also what
``RunStarted`` records; ``Scenario.from_resolved`` rebuilds the model from a run alone.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SHORT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
Control = Literal["ai", "human", "scripted", "rules"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Variable(_Model):
    """A numeric world variable of a rule-driven scenario."""

    initial: float
    min: float = 0.0
    max: float = 100.0
    drift: float = 0.0  # added every turn
    noise: float = 0.0  # std dev of the seeded gaussian noise added every turn
    description: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> Variable:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        if not self.min <= self.initial <= self.max:
            raise ValueError(f"initial {self.initial:g} is outside [{self.min:g}, {self.max:g}]")
        if self.noise < 0:
            raise ValueError("noise is a standard deviation and cannot be negative")
        return self


class RuleAction(_Model):
    name: str
    description: str = ""
    effects: dict[str, float] = {}
    narrative: str = ""  # "{actor} ..." sentence for the world narrative


class ScriptEntry(_Model):
    action: str
    reasoning: str = ""
    goals: list[str] = []
    action_name: str | None = None


class Actor(_Model):
    name: str
    short_name: str
    llm_model: str | None = None
    role: str = ""
    description: str = ""
    system_prompt: str = ""
    goals: list[str] = []
    constraints: list[str] = []
    expertise: list[str] | dict[str, str] = []
    decision_style: str = ""
    private_information: str = ""
    personality_traits: list[str] = []
    communication_style: str = ""
    control: Control = "ai"
    # a scripted actor's action per turn; a script shorter than the run repeats its last entry
    script: list[str | ScriptEntry] = []
    actions: list[RuleAction] = []
    preferences: dict[str, float] = {}
    rule_temperature: float = Field(default=1.0, gt=0)

    @field_validator("short_name")
    @classmethod
    def _short(cls, v: str) -> str:
        if not SHORT_NAME.match(v):
            raise ValueError(
                f"{v!r} must be lowercase letters, digits and hyphens (e.g. 'tech-co')"
            )
        return v

    @model_validator(mode="after")
    def _brain(self) -> Actor:
        if self.control == "scripted" and not self.script:
            raise ValueError("control: scripted needs a `script:` list of actions per turn")
        if self.control == "rules" and not (self.actions and self.preferences):
            raise ValueError("control: rules needs `actions:` and `preferences:`")
        return self


class Extraction(_Model):
    type: Literal["llm", "keyword", "pattern"]
    prompt: str | None = None
    model: str | None = None
    keywords: list[str] = []
    scoring: Literal["count", "presence", "density"] = "count"
    pattern: str | None = None
    group: int | str | None = None

    @model_validator(mode="after")
    def _needs(self) -> Extraction:
        if self.type == "keyword" and not self.keywords:
            raise ValueError("a keyword extraction needs `keywords:`")
        if self.type == "pattern":
            if not self.pattern:
                raise ValueError("a pattern extraction needs `pattern:`")
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {e}") from e
        return self


class Metric(_Model):
    name: str
    description: str = ""
    type: Literal["continuous", "categorical", "boolean"] = "continuous"
    range: tuple[float, float] | None = None
    categories: list[str] = []
    unit: str = ""
    actor_specific: bool = False
    extraction: Extraction

    @model_validator(mode="after")
    def _typed(self) -> Metric:
        if self.type == "continuous" and self.range is None and self.extraction.type == "llm":
            raise ValueError("a continuous metric judged by a model needs `range: [min, max]`")
        if self.type == "categorical" and not self.categories:
            raise ValueError("a categorical metric needs `categories:`")
        return self


class Check(_Model):
    enabled: bool = True
    description: str = ""
    prompt: str | None = None
    severity: Literal["low", "medium", "high"] = "medium"


class ValidationConfig(_Model):
    validation_model: str | None = None
    checks: dict[str, Check] = {}
    run_after_each_turn: bool = True
    halt_on_critical: bool = False
    max_issues_before_halt: int | None = Field(default=None, ge=1)


class ExogenousEvent(_Model):
    name: str
    description: str = ""
    type: Literal["scheduled", "random", "conditional", "trend"]
    turn: int | None = None
    probability: float | None = Field(default=None, ge=0, le=1)
    conditions: dict[str, str | float] | None = None
    frequency: int | None = Field(default=None, ge=1)
    turn_range: tuple[int, int] | None = None
    once: bool = False
    effects: dict[str, float] = {}

    @model_validator(mode="after")
    def _kind(self) -> ExogenousEvent:
        need = {
            "scheduled": "turn",
            "random": "probability",
            "conditional": "conditions",
            "trend": "frequency",
        }
        field = need[self.type]
        if getattr(self, field) is None:
            raise ValueError(f"a {self.type} event needs `{field}:`")
        return self


class Scenario(_Model):
    name: str
    description: str = ""
    system_prompt: str = ""
    initial_world_state: str = ""
    turn_duration: str | None = None
    start_date: str | None = None
    turns: int = Field(ge=1)
    world_state_model: str | None = None
    context_window_size: int = Field(default=3, ge=1)
    enable_bilateral_communication: bool = False
    enable_coalition_formation: bool = False
    enable_public_statements: bool = False
    max_communications_per_turn: int = Field(default=2, ge=0)
    variables: dict[str, Variable] = {}
    actors: dict[str, Actor]
    metrics: list[Metric] = []
    validation: ValidationConfig | None = None
    exogenous_events: list[ExogenousEvent] = []
    background: dict[str, str] = {}

    @classmethod
    def from_resolved(cls, resolved: dict[str, Any]) -> Scenario:
        """The model of a resolved scenario (as recorded in ``RunStarted``)."""
        return cls.model_validate(resolved)
