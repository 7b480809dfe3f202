"""The scenario model: what a scenario directory means once loaded and normalised.

These frozen pydantic models are built from the *resolved* scenario (``scenario_load``
turns the YAML files into it), which is also what ``RunStarted`` records, so
``Scenario.from_resolved`` rebuilds the model from a run alone. Metrics, validation
checks and exogenous events live in ``scenario_parts``; the shared base, with the
cross-field :class:`Issue` mechanism, in ``scenario_base``. All are importable from here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from engine.scenario.base import (
    DEFER_CHECKS,
    DURATION,
    DURATION_HINT,
    SHORT_NAME,
    Control,
    Issue,
    IssuePath,
    ScenarioPart,
    plain,
    str_list,
    text_field,
)
from engine.scenario.parts import Check, ExogenousEvent, Extraction, Metric, ValidationConfig

__all__ = [
    "DEFER_CHECKS",
    "DURATION",
    "Actor",
    "Check",
    "ExogenousEvent",
    "Extraction",
    "Issue",
    "Metric",
    "RuleAction",
    "Scenario",
    "ScenarioSettings",
    "ScriptEntry",
    "ValidationConfig",
    "Variable",
    "cross_issues",
]


class Variable(ScenarioPart):
    """A numeric world variable of a rule-driven scenario, clamped to [min, max]."""

    initial: float
    min: float
    max: float
    drift: float = 0.0  # added every turn
    noise: float = Field(default=0.0, ge=0)  # std dev of the seeded gaussian noise per turn
    description: str = ""

    def _own_issues(self) -> list[Issue]:
        if self.min >= self.max:
            return [Issue(("min",), f"{self.min:g} must be below max ({self.max:g})")]
        if not self.min <= self.initial <= self.max:
            return [
                Issue(("initial",), f"{self.initial:g} is outside [{self.min:g}, {self.max:g}]")
            ]
        return []


class RuleAction(ScenarioPart):
    """A declared move: chosen by name, it applies ``effects`` to the rule variables."""

    name: str
    description: str = ""
    effects: dict[str, float] = Field(default_factory=dict)
    narrative: str = ""  # "{actor} ..." ({actor_name} too) for the world narrative


class ScriptEntry(ScenarioPart):
    """One scripted turn; a plain string in the file is its ``action``."""

    action: str
    reasoning: str = ""
    goals: list[str] = Field(default_factory=list)
    action_name: str | None = None  # a declared action whose effects apply

    _goals = field_validator("goals", mode="before")(str_list)


class Actor(ScenarioPart):
    """One actor file. ``control`` says who decides: a model, a human, a script or rules."""

    name: str
    short_name: str
    control: Control = "ai"
    llm_model: str | None = Field(default=None, validation_alias=AliasChoices("llm_model", "model"))
    # tokens the actor's own llm_model takes in (prompt and answer): checked before a run;
    # needed for a model the project does not know, e.g. a local one
    context_window_tokens: int | None = Field(default=None, gt=0)
    role: str = ""
    description: str = ""
    system_prompt: str = ""
    goals: list[str] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    expertise: list[str] | dict[str, str] = Field(default_factory=list)
    decision_style: str = Field(
        default="", validation_alias=AliasChoices("decision_style", "decision_making_style")
    )
    private_information: str = ""
    personality_traits: list[str] = Field(default_factory=list)
    communication_style: str = ""
    actions: list[RuleAction] = Field(default_factory=list)
    # control: rules weighs each action's effects by these (variable -> weight)
    preferences: dict[str, float] = Field(default_factory=dict)
    rule_temperature: float = Field(default=1.0, gt=0)  # softmax temperature of rule choices
    # control: scripted, one entry per turn (index 0 = turn 1); a script shorter than the
    # run repeats its last entry, so a one-entry script is a fixed policy
    script: list[ScriptEntry] = Field(default_factory=list)

    _lists = field_validator("goals", "constraints", "personality_traits", mode="before")(str_list)
    _texts = field_validator(
        "role",
        "description",
        "system_prompt",
        "decision_style",
        "private_information",
        "communication_style",
        mode="before",
    )(text_field)

    @field_validator("short_name")
    @classmethod
    def _short(cls, v: str) -> str:
        if not SHORT_NAME.match(v):
            raise ValueError(f"{v!r} must be lowercase letters, digits and hyphens, e.g. 'tech-co'")
        return v

    @field_validator("expertise", mode="before")
    @classmethod
    def _expertise(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return str_list(v)

    @field_validator("script", mode="before")
    @classmethod
    def _script(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            return [{"action": e} if isinstance(e, str) else e for e in v]
        return v

    def script_entry(self, turn: int) -> ScriptEntry:
        """The scripted move of ``turn`` (1-based); past the end, the last entry repeats."""
        return self.script[min(turn, len(self.script)) - 1]

    def _own_issues(self) -> list[Issue]:
        out: list[Issue] = []
        if self.control == "ai" and not self.llm_model:
            out.append(
                Issue(
                    ("llm_model",),
                    "is required for control: ai",
                    "e.g. llm_model: openai/gpt-4o-mini, or set control: human, scripted or rules",
                )
            )
        if self.control == "scripted" and not self.script:
            out.append(
                Issue(
                    ("script",),
                    "control: scripted needs a `script:` list of actions, one per turn",
                    "the last entry repeats when the run is longer than the script",
                )
            )
        if self.control == "rules":
            if not self.actions:
                out.append(
                    Issue(
                        ("actions",),
                        "control: rules needs `actions:` to choose from",
                        "a list of {name, description, effects: {variable: delta}, narrative}",
                    )
                )
            if not self.preferences:
                out.append(
                    Issue(
                        ("preferences",),
                        "control: rules needs `preferences:`",
                        "a mapping variable -> weight, e.g. {tension: -1.0, trade_flow: 0.5}",
                    )
                )
        seen: set[str] = set()
        for i, action in enumerate(self.actions):
            if action.name in seen:
                out.append(Issue(("actions", i, "name"), f"{action.name!r} is declared twice"))
            seen.add(action.name)
        for i, entry in enumerate(self.script):
            if entry.action_name is not None and entry.action_name not in seen:
                known = ", ".join(a.name for a in self.actions) or "none declared"
                out.append(
                    Issue(
                        ("script", i, "action_name"),
                        f"names {entry.action_name!r}, which is not one of this actor's actions",
                        f"actions: {known}",
                    )
                )
        if self.script and self.control != "scripted":
            out.append(
                Issue(
                    ("script",),
                    f"is ignored because control is {self.control!r}",
                    "set control: scripted to play it",
                    "warning",
                )
            )
        return out


def cross_issues(
    *,
    variables: Collection[str],
    metric_names: Iterable[str | None] | None,
    actors: Mapping[str, Actor],
    events: Mapping[int, ExogenousEvent],
    world_state_model: str | None,
    turns: int | None,
) -> list[Issue]:
    """Issues between parts (actors, metrics, events against the declared variables).

    Takes the parts that validated on their own, so the loader can report these even
    while other parts have errors; paths are from the scenario root. ``metric_names``
    None means metrics.yaml could not be read: names in conditions are then not checked.
    """
    out: list[Issue] = []
    declared = ", ".join(variables) or "none"
    undeclared = "which scenario.yaml does not declare under `variables:`"

    def names_vars(path: IssuePath, names: Iterable[str]) -> None:
        for var in names:
            if var not in variables:
                out.append(Issue(path, f"names {var!r}, {undeclared}", f"declared: {declared}"))

    if not variables and world_state_model in (None, "", "rules"):
        out.append(
            Issue(
                ("world_state_model",),
                "is required when the scenario declares no `variables:`",
                "name the adjudicator model, e.g. openai/gpt-4o-mini, "
                "or declare variables for rule adjudication",
            )
        )
    for key, actor in actors.items():
        if actor.short_name != key:
            out.append(
                Issue(("actors", key, "short_name"), f"{actor.short_name!r} is listed as {key!r}")
            )
        for i, action in enumerate(actor.actions):
            names_vars(("actors", key, "actions", i, "effects"), action.effects)
        names_vars(("actors", key, "preferences"), actor.preferences)
    metrics: list[str] = []
    for i, name in enumerate(metric_names or ()):
        if name is None:
            continue
        if name in metrics:
            out.append(Issue(("metrics", i, "name"), f"{name!r} is defined twice"))
        if name in variables:
            out.append(
                Issue(
                    ("metrics", i, "name"),
                    f"{name!r} is also a variable; variables are recorded as metrics already",
                    "rename the metric or remove it",
                )
            )
        metrics.append(name)
    known = ", ".join(sorted({*metrics, *variables})) or "none"
    for i, ev in events.items():
        names_vars(("exogenous_events", i, "effects"), ev.effects)
        for name in ev.conditions or {}:
            if metric_names is not None and name not in metrics and name not in variables:
                out.append(
                    Issue(
                        ("exogenous_events", i, "conditions"),
                        f"names {name!r}, which is neither a metric in metrics.yaml "
                        "nor a variable in scenario.yaml",
                        f"known: {known}",
                    )
                )
        if turns is not None and ev.type == "scheduled" and ev.turn and ev.turn > turns:
            out.append(
                Issue(
                    ("exogenous_events", i, "turn"),
                    f"{ev.turn} is after the last turn ({turns}), so the event never fires",
                    severity="warning",
                )
            )
    return out


class ScenarioSettings(ScenarioPart):
    """The fields of scenario.yaml itself (its `actors:` list aside)."""

    name: str
    description: str = ""
    system_prompt: str = ""
    initial_world_state: str = ""
    turn_duration: str | None = None  # "N unit", normalised to e.g. "2 weeks"
    start_date: str | None = None  # ISO date (or date-time) of the initial world state
    turns: int = Field(ge=1, validation_alias=AliasChoices("turns", "num_turns"))
    world_state_model: str | None = None  # None or "rules": the rule adjudicator alone
    context_window_size: int = Field(
        default=3, ge=1, validation_alias=AliasChoices("context_window_size", "context_window")
    )
    enable_bilateral_communication: bool = False
    enable_coalition_formation: bool = False
    enable_public_statements: bool = False
    max_communications_per_turn: int = Field(default=2, ge=0)
    variables: dict[str, Variable] = Field(default_factory=dict)

    _texts = field_validator("description", "system_prompt", "initial_world_state", mode="before")(
        text_field
    )

    @field_validator("turn_duration", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        if v is None:
            return None
        m = DURATION.match(str(v))
        if m is None:
            raise ValueError(f"{v!r} is not a duration; {DURATION_HINT}")
        n, unit = int(m.group(1)), m.group(2).lower()
        if n < 1:
            raise ValueError(f"{v!r} is not a duration; the number must be at least 1")
        return f"{n} {unit}{'' if n == 1 else 's'}"

    @field_validator("start_date", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, str):
            try:
                datetime.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not an ISO date, e.g. 2031-03-01") from None
        return v


class Scenario(ScenarioSettings):
    """A whole scenario: scenario.yaml's settings and every other file's content."""

    actors: dict[str, Actor] = Field(min_length=1)  # by short_name, in scenario.yaml's order
    metrics: list[Metric] = Field(default_factory=list)
    validation: ValidationConfig | None = None
    exogenous_events: list[ExogenousEvent] = Field(default_factory=list)
    background: dict[str, str] = Field(default_factory=dict)  # file name -> markdown

    def _own_issues(self) -> list[Issue]:
        return cross_issues(
            variables=list(self.variables),
            metric_names=[m.name for m in self.metrics],
            actors=self.actors,
            events=dict(enumerate(self.exogenous_events)),
            world_state_model=self.world_state_model,
            turns=self.turns,
        )

    @classmethod
    def from_resolved(cls, resolved: Mapping[str, Any]) -> Scenario:
        """The model of a resolved scenario (as ``RunStarted`` records it), files untouched.

        The cross-part checks ran when the scenario was loaded; they are not re-run, so a
        recorded run stays playable whatever later versions check.
        """
        return cls.model_validate(dict(resolved), context={DEFER_CHECKS: True})
