"""Checks between the parts of a scenario: actors, metrics and events against the
declared variables, and the names that expressions read."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from engine.scenario.base import Issue, IssuePath
from engine.scenario.expressions import ExpressionError, parse_expression

if TYPE_CHECKING:
    from engine.scenario.model import Actor
    from engine.scenario.parts import ExogenousEvent

TURN = "turn"  # the name of the current turn's number in expressions


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
    out += expression_name_issues(variables, actors)
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


def expression_names(variables: Iterable[str], actors: Mapping[str, Actor]) -> dict[str, set[str]]:
    """Every name an expression may read -> what it is (variable, action, the turn)."""
    kinds: dict[str, set[str]] = {TURN: {"the turn number"}}
    for var in variables:
        kinds.setdefault(var, set()).add("a variable")
    for actor in actors.values():
        for action in actor.actions:
            kinds.setdefault(action.name, set()).add("an action")
    return kinds


def expression_name_issues(variables: Collection[str], actors: Mapping[str, Actor]) -> list[Issue]:
    """Each expression's names must be a variable, a declared action or ``turn``, and only
    one of them."""
    kinds = expression_names(variables, actors)
    out: list[Issue] = []
    for key, actor in actors.items():
        for path, text in actor.expressions():
            try:
                names = parse_expression(text).names
            except ExpressionError:
                continue  # the actor's own check reported it
            for name in sorted(names):
                found = kinds.get(name)
                where: IssuePath = ("actors", key, *path)
                if found is None:
                    out.append(
                        Issue(
                            where,
                            f"{text!r} reads {name!r}, which is neither a variable, an action "
                            "nor `turn`",
                            "variables: "
                            + (", ".join(variables) or "none")
                            + "; an action's name counts the actors that chose it last turn",
                        )
                    )
                elif len(found) > 1:
                    out.append(
                        Issue(
                            where,
                            f"{text!r} reads {name!r}, which is both "
                            + " and ".join(sorted(found)),
                            "rename one of them",
                        )
                    )
    return out
