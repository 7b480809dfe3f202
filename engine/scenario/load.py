"""Loading a scenario directory: YAML files -> resolved data -> ``Scenario``.

Accepts the fields (and aliases) Scenario Lab users already have, normalises them into
one *resolved* dict (every file's content, background documents included, canonical
keys) and reports every problem at once with its file, field and, where obvious, the
fix. Unknown fields are warnings. The resolved dict is what a run records, so editing
the files later changes no recorded run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from engine.errors import ScenarioInvalid
from engine.scenario.base import ScenarioPart
from engine.scenario.dates import simulated_date
from engine.scenario.files import RawScenario, read_scenario_dir
from engine.scenario.model import (
    DEFER_CHECKS,
    Actor,
    ExogenousEvent,
    Issue,
    Metric,
    Scenario,
    ScenarioSettings,
    ValidationConfig,
    Variable,
    cross_issues,
)
from engine.scenario.overrides import apply_overrides
from engine.scenario.yamlfile import Problem, describe_error, with_line

__all__ = [
    "LoadedScenario",
    "Problem",
    "apply_overrides",
    "load_scenario",
    "scenario_sha256",
    "simulated_date",
    "validate_scenario",
]

_DEFER = {DEFER_CHECKS: True}
P = TypeVar("P", bound=ScenarioPart)


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    resolved: dict[str, Any]  # JSON-able, canonical keys: what RunStarted records
    sha256: str  # of the canonical JSON of ``resolved``
    warnings: list[str] = field(default_factory=list)

    def with_overrides(self, overrides: Mapping[str, Any]) -> LoadedScenario:
        """The same scenario with dotted-path values set (see ``apply_overrides``)."""
        resolved = apply_overrides(self.resolved, overrides)
        return LoadedScenario(
            Scenario.from_resolved(resolved), resolved, scenario_sha256(resolved), self.warnings
        )


def scenario_sha256(resolved: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, compact separators) of a resolved scenario."""
    canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Where:
    """Maps paths in the resolved scenario to (file, field) in the directory."""

    def __init__(self, raw: RawScenario):
        self.raw = raw

    def __call__(self, path: Sequence[str | int]) -> tuple[str, str]:
        head, rest = (path[0], list(path[1:])) if path else ("", [])
        files = self.raw.files
        if head == "actors" and rest and rest[0] in self.raw.actors:
            return self.raw.actors[str(rest[0])][0], _dotted(rest[1:])
        if head == "exogenous_events" and rest and isinstance(rest[0], int):
            origins = self.raw.event_origins
            origin = origins[rest[0]] if rest[0] < len(origins) else f"exogenous_events.{rest[0]}"
            return files["exogenous_events"], _dotted([origin, *rest[1:]])
        if head == "metrics":
            return files["metrics"], _dotted(path)
        if head == "validation":
            return files["validation"], _dotted(rest)
        if head == "background" and rest:
            return f"background/{rest[0]}", ""
        return files["scenario"], _dotted(path)

    def errors(self, prefix: Sequence[str | int], e: ValidationError) -> list[Problem]:
        out = []
        for err in e.errors():
            file, where = self((*prefix, *err["loc"]))
            msg, hint = describe_error(err)
            out.append(Problem(file, where, msg, hint))
        return out

    def issues(self, prefix: Sequence[str | int], issues: list[Issue]) -> list[Problem]:
        out = []
        for issue in issues:
            file, where = self((*prefix, *issue.path))
            out.append(Problem(file, where, issue.message, issue.hint, issue.severity))
        return out


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in path)


def _part(
    where: _Where, prefix: Sequence[str | int], model: type[P], data: Any
) -> tuple[P | None, list[Problem]]:
    """One part validated on its own: (model or None, its problems)."""
    try:
        part = model.model_validate(data, context=_DEFER)
    except ValidationError as e:
        return None, where.errors(prefix, e)
    return part, where.issues(prefix, part.issues())


def _resolve(raw: RawScenario, problems: list[Problem]) -> dict[str, Any] | None:
    """Validate part by part, so that every file's problems are found in one pass."""
    where = _Where(raw)
    base: ScenarioSettings | None = None
    try:
        base = ScenarioSettings.model_validate({**raw.top, "variables": {}}, context=_DEFER)
    except ValidationError as e:
        problems += where.errors((), e)
    variables = raw.top.get("variables", {})
    if isinstance(variables, dict):
        for name, spec in variables.items():
            problems += _part(where, ("variables", name), Variable, spec)[1]
    else:
        problems.append(
            Problem(
                raw.files["scenario"],
                "variables",
                "must be a mapping of name -> {initial, min, max, ...}",
                "e.g. variables: {tension: {initial: 5, min: 0, max: 10}}",
            )
        )
        variables = {}
    actors: dict[str, Actor] = {}
    for short, (_file, data) in raw.actors.items():
        actor, found = _part(where, ("actors", short), Actor, data)
        problems += found
        if actor is not None:
            actors[short] = actor
    for i, data in enumerate(raw.metrics):
        problems += _part(where, ("metrics", i), Metric, data)[1]
    if raw.validation is not None:
        problems += _part(where, ("validation",), ValidationConfig, raw.validation)[1]
    events: dict[int, ExogenousEvent] = {}
    skipped: dict[int, list[Problem]] = {}  # grouped events that do not fit: their errors
    for i, data in enumerate(raw.events):
        event, found = _part(where, ("exogenous_events", i), ExogenousEvent, data)
        if _grouped(raw, i) and any(p.severity == "error" for p in found):
            skipped[i] = found
            continue
        problems += found
        if event is not None:
            events[i] = event
    cross = where.issues(
        (),
        cross_issues(
            variables=[str(name) for name in variables],
            metric_names=None
            if raw.metrics_unreadable
            else [m.get("name") if isinstance(m, dict) else None for m in raw.metrics],
            actors=actors,
            events=events,
            world_state_model=raw.top.get("world_state_model"),
            turns=base.turns if base is not None else None,
        ),
    )
    for problem in cross:
        index = _event_index(raw, problem)
        if index is not None and _grouped(raw, index) and problem.severity == "error":
            skipped.setdefault(index, []).append(problem)
        else:
            problems.append(problem)
    problems += _skip(raw, skipped)
    if any(p.severity == "error" for p in problems):
        return None
    try:
        scenario = Scenario.model_validate(raw.data())
    except ValidationError as e:  # a check the parts missed: still name file and field
        problems += where.errors((), e)
        return None
    resolved: dict[str, Any] = json.loads(scenario.model_dump_json())
    return resolved


def _grouped(raw: RawScenario, i: int) -> bool:
    """Whether event ``i`` came from a grouped list (``random_events:`` ...), a layout
    Scenario Lab itself never reads: its users expect an event there that does not fit
    to be skipped, not to stop the run."""
    return i < len(raw.event_origins) and not raw.event_origins[i].startswith("exogenous_events.")


def _event_index(raw: RawScenario, problem: Problem) -> int | None:
    if problem.file != raw.files["exogenous_events"]:
        return None
    head = problem.field.split(".")[:2]
    origin = ".".join(head)
    return raw.event_origins.index(origin) if origin in raw.event_origins else None


def _skip(raw: RawScenario, skipped: dict[int, list[Problem]]) -> list[Problem]:
    """A warning for each skipped event (its first error as the reason); the events go."""
    out: list[Problem] = []
    for i, found in sorted(skipped.items()):
        origin = raw.event_origins[i]
        errors = [p for p in found if p.severity == "error"]
        first = errors[0]
        inner = first.field.removeprefix(origin).lstrip(".")
        reason = f"{inner}: {first.message}" if inner else first.message
        more = f", and {len(errors) - 1} more" if len(errors) > 1 else ""
        out += [p for p in found if p.severity == "warning"]
        out.append(
            Problem(
                first.file,
                origin,
                f"does not match the event schema ({reason}{more}), so it is skipped",
                "fix it to play it; `scenario-lab schema exogenous` prints the schema",
                "warning",
            )
        )
    keep = [i for i in range(len(raw.events)) if i not in skipped]
    raw.events = [raw.events[i] for i in keep]
    raw.event_origins = [raw.event_origins[i] for i in keep]
    return out


def _ordered(raw: RawScenario, problems: list[Problem]) -> list[Problem]:
    """File by file (scenario, actors as listed, metrics, ...), then in field order, then
    by line."""
    files = [
        raw.files["scenario"],
        *(f for f, _data in raw.actors.values()),
        raw.files["metrics"],
        raw.files["validation"],
        raw.files["exogenous_events"],
    ]
    fields = {raw.files["scenario"]: list(Scenario.model_fields)}
    fields.update({f: list(Actor.model_fields) for f, _data in raw.actors.values()})

    def key(p: Problem) -> tuple[int, int, int]:
        order = fields.get(p.file, [])
        head = p.field.split(".")[0]
        # then by line; anything not ranked (unlisted actor files, background) keeps its
        # found order
        return (
            files.index(p.file) if p.file in files else len(files),
            order.index(head) if head in order else len(order),
            p.line or 0,
        )

    return sorted(problems, key=key)


def _read(path: str | Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    problems: list[Problem] = []
    raw = read_scenario_dir(Path(path), problems)
    if raw is None:
        return None, problems
    resolved = _resolve(raw, problems)
    return resolved, _ordered(raw, [with_line(p, raw.lines) for p in problems])


def validate_scenario(path: str | Path) -> list[Problem]:
    """Every problem of a scenario directory, errors and warnings, in file order."""
    return _read(path)[1]


def load_scenario(path: str | Path) -> LoadedScenario:
    """Load and validate a scenario directory.

    Raises ``ScenarioInvalid`` whose message is the first error line and whose
    ``problems`` lists every error line.
    """
    resolved, problems = _read(path)
    errors = [str(p) for p in problems if p.severity == "error"]
    if errors or resolved is None:
        errors = errors or [f"{path}: invalid scenario"]
        more = len(errors) - 1
        hint = f"and {more} more: run `scenario-lab validate {path}`" if more else None
        raise ScenarioInvalid(errors[0], problems=errors, hint=hint)
    return LoadedScenario(
        scenario=Scenario.from_resolved(resolved),
        resolved=resolved,
        sha256=scenario_sha256(resolved),
        warnings=[str(p) for p in problems if p.severity == "warning"],
    )
