"""The scenario files as a person writes them, for the JSON Schema and the reference.

The loader reads files into the canonical models of ``model`` and ``parts``; these
models describe the *files* around those: ``scenario.yaml`` with its `actors:` list, an
actor file whose short_name may be left to the file name and whose script lines may be
plain sentences, the wrappers of ``metrics.yaml`` and ``exogenous-events.yaml`` with
Scenario Lab's grouped event lists, and validation checks written as a list. They are
never used to load a scenario: ``tests/test_scenario_reference.py`` checks that every
bundled scenario file validates against the schema built from them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.scenario.base import ScenarioPart
from engine.scenario.model import Actor, ScenarioSettings, ScriptEntry
from engine.scenario.parts import Check, ExogenousEvent, Metric, ValidationConfig


class FixedLength(ScenarioPart):
    """Scenario Lab's way to say how many turns: only the fixed kind exists."""

    type: Literal["fixed"] = Field(default="fixed", description="Only `fixed` is supported.")
    turns: int = Field(ge=1, description="How many turns.", examples=[10])


class ScenarioFile(ScenarioSettings):
    """The scenario's settings, its variables, and which actors play."""

    actors: list[str] | str | None = Field(
        default=None,
        description="The actors that play, in this order: each the short_name of a file in "
        "actors/, or the file's name (with or without .yaml). Without it every actor file "
        "plays, with a warning.",
        examples=[["eastern-power", "western-power", "mediator"]],
    )
    scenario_length: FixedLength | None = Field(
        default=None, description="Scenario Lab's form of `turns`; give only one of them."
    )


class ActorFile(Actor):
    """One actor: who it is, who decides for it, and what it may do."""

    short_name: str | None = Field(  # type: ignore[assignment]
        default=None,
        description="The actor's id in runs, commands and reports: lowercase letters, digits "
        "and hyphens. Without it, the file name is used.",
        examples=["eastern-power"],
    )
    script: list[ScriptEntry | str] | str = Field(  # type: ignore[assignment]
        default_factory=list,
        description="control: scripted: one entry per turn (the first is turn 1), each a "
        "sentence or a mapping; a script shorter than the run repeats its last entry.",
        examples=[["Offers to host talks.", {"action": "Hosts talks.", "action_name": "host"}]],
    )


class MetricsFile(ScenarioPart):
    """What is measured every turn."""

    metrics: list[Metric] = Field(description="The metrics, each with a unique name.")


class NamedCheck(Check):
    """A check in the list form of validation-rules.yaml."""

    name: str = Field(description="The check's name.", examples=["plausible_moves"])


class ValidationFile(ValidationConfig):
    """Checks a model makes after each turn."""

    checks: dict[str, Check] | list[NamedCheck] = Field(  # type: ignore[assignment]
        default_factory=dict,
        description="Check name -> check, or a list of checks each with a `name:`.",
    )


class GroupedEvent(ExogenousEvent):
    """An event in a grouped list; its type is the group's."""

    type: Literal["scheduled", "random", "conditional", "trend"] | None = Field(  # type: ignore[assignment]
        default=None,
        description="The group's type; give it only if it is the same.",
    )


_GROUPED = (
    "Scenario Lab's grouped layout ({kind} events). An entry that does not fit the event "
    "schema is skipped with a warning naming its line, since Scenario Lab never reads "
    "these lists."
)


class ExogenousFile(ScenarioPart):
    """Events no actor decides: scheduled, random, conditional on the state, or recurring."""

    exogenous_events: list[ExogenousEvent] = Field(
        default_factory=list,
        description="The events, each with its `type`. An error in one stops the scenario "
        "from loading.",
    )
    scheduled_events: list[GroupedEvent] = Field(
        default_factory=list, description=_GROUPED.format(kind="scheduled")
    )
    random_events: list[GroupedEvent] = Field(
        default_factory=list, description=_GROUPED.format(kind="random")
    )
    conditional_events: list[GroupedEvent] = Field(
        default_factory=list, description=_GROUPED.format(kind="conditional")
    )
    trends: list[GroupedEvent] = Field(
        default_factory=list, description=_GROUPED.format(kind="trend")
    )
    trend_events: list[GroupedEvent] = Field(
        default_factory=list, description="Another name for `trends`."
    )
