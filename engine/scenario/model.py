"""The scenario model: what a scenario directory means once loaded and normalised.

These frozen pydantic models are built from the *resolved* scenario (``scenario_load``
turns the YAML files into it), which is also what ``RunStarted`` records, so
``Scenario.from_resolved`` rebuilds the model from a run alone. Metrics, validation
checks and exogenous events live in ``scenario_parts``; the shared base, with the
cross-field :class:`Issue` mechanism, in ``scenario_base``. All are importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import AliasChoices, Field, field_validator

from engine.scenario.base import (
    DEFER_CHECKS,
    DURATION,
    DURATION_HINT,
    SHORT_NAME,
    Control,
    Expr,
    Issue,
    IssuePath,
    ScenarioPart,
    StrList,
    Text,
    Weight,
    new_dict,
    new_list,
    plain,
    str_list,
)
from engine.scenario.cross import cross_issues
from engine.scenario.expressions import SYNTAX_HINT, ExpressionError, parse_expression
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

    initial: float = Field(description="The value at the start of the run.", examples=[6])
    min: float = Field(description="The lowest value; the rules clamp to it.", examples=[0])
    max: float = Field(description="The highest value; the rules clamp to it.", examples=[10])
    drift: float = Field(
        default=0.0, description="Added every turn, before the noise.", examples=[0.1]
    )
    noise: float = Field(
        default=0.0,
        ge=0,
        description="Standard deviation of the seeded gaussian noise added every turn.",
        examples=[0.25],
    )
    description: str = Field(
        default="",
        description="What the number measures; shown to actors and in reports.",
        examples=["Military and diplomatic tension (10 is open conflict)"],
    )

    def _own_issues(self) -> list[Issue]:
        if self.min >= self.max:
            return [Issue(("min",), f"{self.min:g} must be below max ({self.max:g})")]
        if not self.min <= self.initial <= self.max:
            return [
                Issue(("initial",), f"{self.initial:g} is outside [{self.min:g}, {self.max:g}]")
            ]
        return []


class RuleAction(ScenarioPart):
    """A declared move: chosen by name, it applies `effects` to the rule variables."""

    name: str = Field(
        description="The action's name, unique within the actor; in expressions it counts "
        "how many actors chose it last turn.",
        examples=["naval_patrols"],
    )
    description: str = Field(
        default="",
        description="What the move is; listed to AI and human actors choosing by name.",
        examples=["Expand naval patrols across the strait"],
    )
    effects: dict[str, float] = Field(
        default_factory=new_dict,
        description="Variable -> change applied when the action is chosen.",
        examples=[{"tension": 1.0, "trade_flow": -3}],
    )
    narrative: str = Field(
        default="",
        description="The sentence for the world narrative; {actor} (or {actor_name}) is "
        "replaced by the actor's name.",
        examples=["{actor} expands naval patrols across the strait."],
    )
    when: Expr | None = Field(
        default=None,
        description="control: rules only: an expression; the action can be chosen only in "
        "turns where it holds (is not 0). When no action's condition holds, every action can.",
        examples=["tension >= 7", "naval_patrols and turn > 2"],
    )


class ScriptEntry(ScenarioPart):
    """One scripted turn; a plain string in the file is its `action`."""

    action: str = Field(
        description="The decision, as a sentence.",
        examples=["Offers to host talks between the two powers."],
    )
    reasoning: str = Field(default="", description="Why, as the log records it.")
    goals: StrList = Field(default_factory=new_list, description="The goals recorded with it.")
    action_name: str | None = Field(
        default=None,
        description="One of the actor's declared actions, whose effects then apply.",
        examples=["host_talks"],
    )


class Actor(ScenarioPart):
    """One actor file. `control` says who decides: a model, a human, a script or rules."""

    name: str = Field(description="The actor's display name.", examples=["Eastern Power"])
    short_name: str = Field(
        description="The actor's id in runs, commands and reports: lowercase letters, digits "
        "and hyphens. Without it, the file name is used.",
        examples=["eastern-power"],
    )
    control: Control = Field(
        default="ai",
        description="Who decides: `ai` (a model), `human`, `scripted` (the `script:`) or "
        "`rules` (a seeded choice among `actions` by `preferences`).",
    )
    llm_model: str | None = Field(
        default=None,
        validation_alias=AliasChoices("llm_model", "model"),
        description="The model of a control: ai actor.",
        examples=["openai/gpt-4o-mini"],
    )
    context_window_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Tokens the actor's model takes in (prompt and answer), checked before a "
        "run; needed for a model the project does not know, e.g. a local one.",
        examples=[32768],
    )
    role: Text = Field(default="", description="The actor's role, in a line.")
    description: Text = Field(default="", description="Who the actor is.")
    system_prompt: Text = Field(
        default="", description="Added to the scenario's system prompt for this actor."
    )
    goals: StrList = Field(default_factory=new_list, description="What the actor wants.")
    constraints: StrList = Field(default_factory=new_list, description="What limits it.")
    expertise: list[str] | dict[str, str] = Field(
        default_factory=new_list,
        description="Areas of expertise: a list, or area -> level.",
        examples=[{"naval_operations": "expert"}],
    )
    decision_style: Text = Field(
        default="",
        validation_alias=AliasChoices("decision_style", "decision_making_style"),
        description="How it decides, for the prompt.",
    )
    private_information: Text = Field(
        default="", description="What only this actor knows; never shown to the others."
    )
    personality_traits: StrList = Field(default_factory=new_list, description="For the prompt.")
    communication_style: Text = Field(default="", description="For the prompt.")
    actions: list[RuleAction] = Field(
        default_factory=new_list,
        description="Declared moves. A rules actor chooses among them; in a scenario with "
        "`variables`, AI and human actors choose one by name too, and its effects apply.",
    )
    preferences: dict[str, Weight] = Field(
        default_factory=new_dict,
        description="control: rules: variable -> weight of that variable's change. An "
        "action's utility is the sum of weight x effect (per tenth of the variable's range). "
        "A weight is a number or an expression over the variables (their values at the "
        "start of the turn), last turn's actions (each action name counts the actors that "
        "chose it) and `turn`.",
        examples=[{"tension": "-1.5 if tension >= 7 else -0.3", "trade_flow": 0.5}],
    )
    rule_temperature: float = Field(
        default=1.0,
        gt=0,
        description="control: rules: softmax temperature; lower picks the best action more often.",
        examples=[0.8],
    )
    script: list[ScriptEntry] = Field(
        default_factory=new_list,
        description="control: scripted: one entry per turn (the first is turn 1), each a "
        "sentence or a mapping; a script shorter than the run repeats its last entry.",
    )

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
        return out + self._expression_issues()

    def expressions(self) -> list[tuple[IssuePath, str]]:
        """(path, text) of every expression in the actor: weights and `when:` conditions."""
        found: list[tuple[IssuePath, str]] = [
            (("preferences", var), w) for var, w in self.preferences.items() if isinstance(w, str)
        ]
        found += [
            (("actions", i, "when"), a.when)
            for i, a in enumerate(self.actions)
            if a.when is not None
        ]
        return found

    def _expression_issues(self) -> list[Issue]:
        out = []
        for path, text in self.expressions():
            try:
                parse_expression(text)
            except ExpressionError as e:
                out.append(Issue(path, str(e), f"an expression may use {SYNTAX_HINT}"))
        if self.control != "rules":
            for i, action in enumerate(self.actions):
                if action.when is not None:
                    out.append(
                        Issue(
                            ("actions", i, "when"),
                            f"is used only by control: rules, not {self.control!r}; ignored",
                            "other brains see every declared action",
                            "warning",
                        )
                    )
        return out


class ScenarioSettings(ScenarioPart):
    """The fields of scenario.yaml itself (its `actors:` list aside)."""

    name: str = Field(description="The scenario's title.", examples=["Strait Crisis"])
    description: Text = Field(
        default="", description="What the scenario is about; shown in reports."
    )
    system_prompt: Text = Field(
        default="", description="The system prompt every model call of the run starts with."
    )
    initial_world_state: Text = Field(
        default="", description="The situation at turn 0, as the actors first read it."
    )
    turn_duration: str | None = Field(
        default=None,
        description="Simulated time per turn: 'N unit', unit second, minute, hour, day, "
        "week, month or year.",
        examples=["1 month", "2 weeks"],
    )
    start_date: str | None = Field(
        default=None,
        description="ISO date (or date-time) of the initial world state; with "
        "turn_duration, each turn gets a simulated date.",
        examples=["2031-03-01"],
    )
    turns: int = Field(
        ge=1,
        validation_alias=AliasChoices("turns", "num_turns"),
        description="How many turns a run plays (`run --turns` overrides it).",
        examples=[10],
    )
    world_state_model: str | None = Field(
        default=None,
        description="The model that writes the world update. Empty or `rules`: the rule "
        "adjudicator alone (needs `variables`).",
        examples=["openai/gpt-4o-mini", "rules"],
    )
    context_window_size: int = Field(
        default=3,
        ge=1,
        validation_alias=AliasChoices("context_window_size", "context_window"),
        description="How many past turns prompts show in full; older ones in one line each.",
    )
    enable_bilateral_communication: bool = Field(
        default=False, description="Actors may talk privately in pairs before deciding."
    )
    enable_coalition_formation: bool = Field(
        default=False, description="Actors may propose coalitions and accept or reject them."
    )
    enable_public_statements: bool = Field(
        default=False, description="Actors may make a public statement each turn."
    )
    max_communications_per_turn: int = Field(
        default=2, ge=0, description="Messages each actor may send per turn."
    )
    white_cell: bool = Field(
        default=False,
        description="White-cell review: each turn's world update waits for a facilitator "
        "to approve or edit it before it applies (both versions and the reviewer are in the "
        "log). A run's own setting overrides it (`run --white-cell/--no-white-cell`, the "
        "API's `white_cell`).",
    )
    variables: dict[str, Variable] = Field(
        default_factory=new_dict,
        description="Numeric world variables, by name: with them the world is rule-driven "
        "(actions' effects, drift and noise move them), and each is recorded as a metric.",
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

    actors: dict[str, Actor] = Field(
        min_length=1, description="By short_name, in scenario.yaml's order."
    )
    metrics: list[Metric] = Field(default_factory=new_list, description="metrics.yaml's metrics.")
    validation: ValidationConfig | None = Field(
        default=None, description="validation-rules.yaml, when there is one."
    )
    exogenous_events: list[ExogenousEvent] = Field(
        default_factory=new_list, description="exogenous-events.yaml's events, flattened."
    )
    background: dict[str, str] = Field(
        default_factory=new_dict, description="background/*.md: file name -> markdown."
    )

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
