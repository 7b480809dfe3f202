"""Scenarios: validate a directory, estimate a run's cost, offer scenarios by name.

``list_scenarios`` offers the sub-folders (with a ``scenario.yaml``) of every folder in
``LabSettings.scenario_dirs``, by folder name; an earlier folder wins a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from eventstore import NotFound

from .settings import BUNDLED_SCENARIOS, LabSettings

if TYPE_CHECKING:
    from engine.play.estimate import Estimate
    from engine.scenario.load import LoadedScenario


class ScenarioProblem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong (or odd) in a scenario directory; ``text`` is the one-line form."""

    severity: str  # "error" or "warning"
    file: str  # relative to the scenario directory
    field: str  # dotted, "" for the file as a whole
    message: str
    hint: str
    text: str
    line: int | None = None  # of the field in the file, where known


class Validation(msgspec.Struct, frozen=True, kw_only=True):
    """Every problem of a scenario directory; ``valid`` when none is an error."""

    path: str
    valid: bool
    errors: int
    warnings: int
    problems: tuple[ScenarioProblem, ...]


class EstimateRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A scenario directory, and the run's turns and model overrides (actor -> model)."""

    scenario: str
    turns: int | None = None
    models: dict[str, str] = {}


class ActorEntry(msgspec.Struct, frozen=True, kw_only=True):
    short_name: str
    name: str
    role: str
    control: str


class ScenarioEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An offered scenario: its folder name, where it was found, and what it is (the
    details are empty and ``problems`` says why when it does not load)."""

    name: str
    source: str  # "bundled" or "configured"
    valid: bool
    title: str = ""
    description: str = ""
    turns: int = 0
    actors: tuple[ActorEntry, ...] = ()
    problems: tuple[str, ...] = ()


class ScenarioDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One offered scenario, resolved: ``scenario`` is the document a run records."""

    name: str
    source: str
    sha256: str
    warnings: tuple[str, ...]
    scenario: dict[str, Any]  # the resolved scenario document (JSON), as RunStarted has it


def validate(path: str | Path) -> Validation:
    """Every problem of the scenario directory at ``path``."""
    from engine.scenario.load import validate_scenario

    found = validate_scenario(path)
    problems = tuple(
        ScenarioProblem(
            severity=p.severity,
            file=p.file,
            field=p.field,
            message=p.message,
            hint=p.hint,
            text=str(p),
            line=p.line,
        )
        for p in found
    )
    errors = sum(1 for p in problems if p.severity == "error")
    return Validation(
        path=str(path),
        valid=errors == 0,
        errors=errors,
        warnings=len(problems) - errors,
        problems=problems,
    )


def validate_files(files: Mapping[str, str]) -> Validation:
    """Every problem of a scenario given as its files (relative path -> text), e.g. from
    an editor: they are written to a scratch directory, checked, and removed. A path
    that would leave the directory (or a hidden one) is refused."""
    import tempfile

    from .scenario_files import write_files

    with tempfile.TemporaryDirectory(prefix="scenario-lab-validate-") as tmp:
        write_files(Path(tmp), files.items())
        result = validate(tmp)
    return msgspec.structs.replace(result, path="")


def load(path: str | Path) -> LoadedScenario:
    """The scenario at ``path``, loaded and checked (``ScenarioInvalid`` lists every error)."""
    from engine.scenario.load import load_scenario

    return load_scenario(path)


def estimate(settings: LabSettings, request: EstimateRequest) -> Estimate:
    """Expected model calls, tokens and cost of a run, from the price table."""
    from engine.play.estimate import estimate_run
    from engine.play.session import check_overrides, check_turns

    from .models import price_table

    loaded = load(request.scenario)
    check_overrides(loaded.scenario, request.models)
    if request.turns is not None:
        check_turns(loaded.scenario, request.turns)
    from engine.play.limits import check_prompt_sizes

    est = estimate_run(
        loaded.scenario,
        price_table(settings),
        turns=request.turns,
        model_overrides=request.models,
    )
    warnings = check_prompt_sizes(
        loaded.scenario, turns=request.turns, model_overrides=request.models, allow=True
    )
    if not warnings:
        return est
    return msgspec.structs.replace(est, warnings=(*warnings, *est.warnings))


def _offered(settings: LabSettings) -> dict[str, tuple[Path, str]]:
    found: dict[str, tuple[Path, str]] = {}
    for root in settings.scenario_dirs:
        if not root.is_dir():
            continue
        source = "bundled" if root.resolve() == BUNDLED_SCENARIOS else "configured"
        for sub in sorted(root.iterdir()):
            # hidden folders are skipped: a scenario being saved is one until renamed
            if sub.name.startswith("."):
                continue
            if (sub / "scenario.yaml").is_file() and sub.name not in found:
                found[sub.name] = (sub, source)
    return found


def list_scenarios(settings: LabSettings) -> list[ScenarioEntry]:
    """Every offered scenario, by folder name, with what it is or why it does not load."""
    return [
        scenario_entry(name, path, source) for name, (path, source) in _offered(settings).items()
    ]


def offered_names(settings: LabSettings) -> set[str]:
    """The names of the offered scenarios (nothing is loaded)."""
    return set(_offered(settings))


def scenario_entry(name: str, path: Path, source: str) -> ScenarioEntry:
    """The scenario at ``path`` as offered under ``name``: what it is, or its problems."""
    from engine.errors import ScenarioInvalid

    try:
        sc = load(path).scenario
    except ScenarioInvalid as e:
        return ScenarioEntry(name=name, source=source, valid=False, problems=tuple(e.problems))
    return ScenarioEntry(
        name=name,
        source=source,
        valid=True,
        title=sc.name,
        description=sc.description,
        turns=sc.turns,
        actors=tuple(
            ActorEntry(short_name=k, name=a.name, role=a.role, control=a.control)
            for k, a in sc.actors.items()
        ),
    )


def scenario_path(settings: LabSettings, name: str) -> Path:
    """The directory of the offered scenario ``name`` (``NotFound`` if none is)."""
    offered = _offered(settings)
    if name not in offered:
        raise NotFound(
            f"no scenario {name!r}",
            hint=f"offered: {', '.join(offered)}" if offered else "no scenario folders configured",
            field="scenario",
        )
    return offered[name][0]


def scenario_detail(settings: LabSettings, name: str) -> ScenarioDetail:
    """One offered scenario, resolved (every file's content), by folder name."""
    path = scenario_path(settings, name)
    loaded = load(path)
    return ScenarioDetail(
        name=name,
        source=_offered(settings)[name][1],
        sha256=loaded.sha256,
        warnings=tuple(loaded.warnings),
        scenario=loaded.resolved,
    )


def init_scenario(folder: str | Path, kind: str = "rules") -> list[Path]:
    """Write a small starter scenario (``rules``, ``llm`` or ``human``) into ``folder``;
    returns the files written. Refuses a folder that is not empty."""
    from engine.scenario.starter import init_scenario as write_starter

    return list(write_starter(Path(folder), kind))  # type: ignore[arg-type]


def json_schema(kind: str = "scenario") -> dict[str, Any]:
    """The JSON Schema of one kind of scenario or batch file, for editors."""
    from engine.formats.schema import json_schema as schema_of

    return schema_of(kind)
