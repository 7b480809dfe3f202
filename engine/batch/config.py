"""Batch files: an experiment over a base scenario, validated and expanded into runs.

A batch file is YAML in Scenario Lab's format::

    experiment_name: Hawk model comparison
    base_scenario: ../scenarios/strait-crisis     # relative to this file
    runs_per_variation: 5
    budget_limit: 10.00                            # USD, the whole batch
    cost_per_run_limit: 0.50                       # USD, each run's credit limit
    seed: 7                                        # ours: every run's seed derives from it
    variations:
      - {type: actor_model, actor: hawk, values: [openai/gpt-4o-mini, openai/gpt-4o]}
      - {type: scenario_parameter, parameter: variables.tension.initial, values: [3, 7]}
      - {type: actor_parameter, parameter: actors.hawk.preferences.tension, values: [-1, 1]}

(or ``variations: {actor_models: {hawk: [...]}}``). Every combination of the values is
one *variation* (the Cartesian product), played ``runs_per_variation`` times. Every
mistake is reported at once, one line each, naming the file, the field and the fix.

``load_batch`` returns the expanded ``BatchPlan`` (see ``engine.batch.plan``).
"""

from __future__ import annotations

import difflib
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.batch.plan import BatchPlan, Variation, plan_runs, with_overrides
from engine.errors import ScenarioInvalid
from engine.scenario.limits import YAML_ERRORS, InputRefused, ReadBudget, load_yaml, yaml_problem
from engine.scenario.load import LoadedScenario, apply_overrides, load_scenario

# Scenario Lab fields that mean nothing here: accepted, with a warning saying why.
_IGNORED = {
    "output_dir": "runs are recorded in the log (--db), not in a folder",
    "save_individual_runs": "every run is recorded in the log",
    "aggregate_metrics": "see `scenario-lab batch show` and `scenario-lab report --batch`",
    "timeout_per_run": "not supported; bound each run with cost_per_run_limit",
    "resume_from": "use `scenario-lab batch resume BATCH`",
}
_DICT_FORM = {
    "actor_models": "actor_model",
    "scenario_parameters": "scenario_parameter",
    "actor_parameters": "actor_parameter",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchConfig(_Strict):
    """A batch file: an experiment over a base scenario (variations as written; see
    ``Dimension``)."""

    experiment_name: str = Field(
        min_length=1, description="The batch's name.", examples=["Strait crisis sweep"]
    )
    description: str = Field(default="", description="What the experiment asks.")
    base_scenario: str = Field(
        min_length=1,
        description="The scenario folder (or its scenario.yaml), relative to the batch "
        "file's folder; then, as Scenario Lab wrote it, to the working directory (with a "
        "warning).",
        examples=["strait-crisis", "../scenarios/strait-crisis"],
    )
    runs_per_variation: int = Field(
        default=1, ge=1, description="How many runs play each variation.", examples=[10]
    )
    max_parallel: int | None = Field(
        default=None, ge=1, description="Runs played at once (`--parallel` overrides it)."
    )
    budget_limit: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="USD for the whole batch: no run starts and no call is made once spent.",
        examples=[10.0],
    )
    cost_per_run_limit: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="USD each run may spend (its credit limit).",
        examples=[0.5],
    )
    seed: int = Field(
        default=0, description="Every run's seed derives from it and the run's number."
    )
    variations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What varies; every combination of the values is one variation (the "
        "Cartesian product).",
    )


class ActorModelVariation(_Strict):
    """`actor_model`: an AI actor's model takes each value in turn."""

    type: Literal["actor_model"] = Field(description="`actor_model`.")
    actor: str = Field(
        min_length=1, description="The actor's short_name (a control: ai actor).", examples=["hawk"]
    )
    values: list[str] = Field(
        description="The models.", examples=[["openai/gpt-4o-mini", "openai/gpt-4o"]]
    )


class ParameterVariation(_Strict):
    """`scenario_parameter` or `actor_parameter`: a value in the scenario takes each value
    in turn. The path follows the loaded scenario's layout: scenario.yaml's fields at the
    top, each actor under `actors.<short_name>`, list items by index."""

    type: Literal["scenario_parameter", "actor_parameter"] = Field(
        description="`scenario_parameter` (any path) or `actor_parameter` (a path into an "
        "actor: `actors.<actor>.<field>`, or just `<field>` with `actor:`)."
    )
    parameter: str = Field(
        min_length=1,
        description="A dotted path, e.g. `turns`, `variables.tension.initial`, "
        "`actors.hawk.preferences.tension` (a number or an expression), "
        "`actors.hawk.actions.0.effects.tension`, `actors.hawk.rule_temperature`.",
        examples=["variables.tension.initial", "actors.hawk.preferences.tension"],
    )
    actor: str | None = Field(
        default=None,
        description="actor_parameter: the actor, when `parameter` is relative to it.",
        examples=["hawk"],
    )
    values: list[Any] = Field(description="The values, each checked against the scenario.")


class VariationsByKind(_Strict):
    """Scenario Lab's mapping form of variations: each kind maps targets to values."""

    actor_models: dict[str, list[str]] = Field(
        default_factory=dict, description="Actor short_name -> models."
    )
    scenario_parameters: dict[str, list[Any]] = Field(
        default_factory=dict, description="Dotted path -> values."
    )
    actor_parameters: dict[str, list[Any]] = Field(
        default_factory=dict, description="Dotted path `actors.<actor>.<field>` -> values."
    )


Variations = list[ActorModelVariation | ParameterVariation | VariationsByKind] | VariationsByKind


class BatchFile(BatchConfig):
    """A batch file as written: an experiment over a base scenario."""

    variations: Variations = Field(  # type: ignore[assignment]
        default_factory=list,
        description="What varies: a list of variations (or Scenario Lab's mapping form); "
        "every combination of the values is one variation (the Cartesian product).",
    )
    output_dir: str | None = Field(default=None, description=f"Ignored: {_IGNORED['output_dir']}.")
    save_individual_runs: bool | None = Field(
        default=None, description=f"Ignored: {_IGNORED['save_individual_runs']}."
    )
    aggregate_metrics: bool | None = Field(
        default=None, description=f"Ignored: {_IGNORED['aggregate_metrics']}."
    )
    timeout_per_run: float | None = Field(
        default=None, description=f"Ignored: {_IGNORED['timeout_per_run']}."
    )
    resume_from: str | None = Field(
        default=None, description=f"Ignored: {_IGNORED['resume_from']}."
    )


@dataclass(frozen=True)
class Dimension:
    """One varied setting: an actor's model, or a dotted path into the scenario."""

    key: str  # the label key: "<actor>.model" or the dotted path
    kind: str  # actor_model, scenario_parameter, actor_parameter
    target: str  # the actor (actor_model) or the dotted path
    values: tuple[Any, ...]


class _Problems:
    """Every problem of one batch file, each one line: ``file: field: what (fix)``."""

    def __init__(self, file: str):
        self.file = file
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, where: str, message: str, fix: str = "") -> None:
        self.errors.append(self._line(where, message, fix))

    def warn(self, where: str, message: str, fix: str = "") -> None:
        self.warnings.append(self._line(where, message, fix))

    def _line(self, where: str, message: str, fix: str) -> str:
        text = f"{self.file}: {where}: {message}" if where else f"{self.file}: {message}"
        return text.replace("\n", " ") + (f" ({fix})" if fix else "")

    def pydantic(self, prefix: str, e: ValidationError) -> None:
        for err in e.errors():
            where = ".".join([prefix, *map(str, err["loc"])]).strip(".")
            kind, value = err["type"], err.get("input")
            if kind == "missing":
                self.error(where, "is required")
            elif kind == "extra_forbidden":
                self.error(where, "is not a known field", "check the spelling")
            else:
                msg = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
                shown = f", not {value!r}" if isinstance(value, str | int | float | bool) else ""
                self.error(where, f"should be {msg}{shown}")

    def raise_if_any(self) -> None:
        if self.errors:
            more = len(self.errors) - 1
            raise ScenarioInvalid(
                self.errors[0],
                problems=list(self.errors),
                hint=f"and {more} more problem(s) in {self.file}" if more else None,
            )


def load_batch(path: str | Path, *, budget_usd: float | None = None) -> BatchPlan:
    """Read, validate and expand a batch file; ``budget_usd`` replaces its budget_limit.

    Raises ``ScenarioInvalid`` listing every problem (``problems``), the first as message.
    """
    path = Path(path)
    p = _Problems(str(path))
    raw = _read(path, p)
    if raw is None:
        p.raise_if_any()
        raise AssertionError("unreachable: _read reported no problem")
    for key in list(raw):
        if key in _IGNORED:
            p.warn(str(key), "ignored", _IGNORED[str(key)])
            del raw[key]
        elif key not in BatchConfig.model_fields:
            close = difflib.get_close_matches(str(key), list(BatchConfig.model_fields), n=1)
            fix = f"did you mean {close[0]!r}?" if close else "remove it"
            p.error(str(key), "is not a batch file field", fix)
            del raw[key]
    variations = _normalise_variations(raw.get("variations"), p)
    try:
        config = BatchConfig.model_validate({**raw, "variations": []})
    except ValidationError as e:
        p.pydantic("", e)
        config = None
    base_dir = _scenario_dir(path, raw.get("base_scenario"), p)
    base = _base_scenario(raw.get("base_scenario"), base_dir, p)
    dims = _dimensions(variations, base, p)
    if budget_usd is not None:
        if budget_usd <= 0:
            p.error("budget_limit", f"--budget {budget_usd} must be more than 0")
        elif config is not None:
            config = config.model_copy(update={"budget_limit": budget_usd})
    p.raise_if_any()
    assert config is not None and base is not None
    combos = _expand(dims, base, p)
    p.raise_if_any()
    resolved = config.model_dump(mode="json")
    resolved["variations"] = [
        {"type": d.kind, "target": d.target, "key": d.key, "values": list(d.values)} for d in dims
    ]
    resolved["base_scenario"] = str(base_dir)
    runs = plan_runs(len(combos), config.runs_per_variation, config.seed)
    return BatchPlan(
        kind="matrix",
        name=config.experiment_name,
        description=config.description,
        config=resolved,
        variations=combos,
        runs=runs,
        base=base,
        source=str(path),
        # the scenario's warnings name files inside it: say which scenario
        warnings=p.warnings + [f"{base_dir}/{w}" for w in base.warnings],
    )


# -- reading ---------------------------------------------------------------------------


def _read(path: Path, p: _Problems) -> dict[str, Any] | None:
    # the same bounded safe YAML as scenario files: size, depth and aliases are limited
    budget = ReadBudget()
    if path.is_dir():  # a scenario folder given where its batch file was meant
        p.error(
            "",
            "is a folder, not a batch file",
            "give the batch file, a .yaml; a scenario folder plays with `scenario-lab run FOLDER`",
        )
        return None
    try:
        data = load_yaml(
            budget.read(path, budget.limits.yaml_file_bytes, "a batch file needs a few KB"), budget
        )
    except FileNotFoundError:
        p.error("", "no such batch file", "check the path")
        return None
    except (OSError, UnicodeDecodeError) as e:  # first: a UnicodeDecodeError is a ValueError
        p.error("", f"cannot be read: {e}")
        return None
    except (InputRefused, *YAML_ERRORS) as e:
        p.error("", yaml_problem(e), getattr(e, "hint", ""))
        return None
    if not isinstance(data, dict):
        p.error("", "must be a mapping of fields", "start with experiment_name: and base_scenario:")
        return None
    return data


def _folder(value: str) -> Path:
    """The scenario folder a base_scenario names (a path to its scenario.yaml means its folder)."""
    given = Path(value).expanduser()
    return given.parent if given.name in ("scenario.yaml", "scenario.yml") else given


def _scenario_dir(batch_file: Path, value: Any, p: _Problems) -> Path | None:
    """The base scenario: relative to the batch file's folder first; then, as Scenario Lab
    resolved it, to the working directory (with a warning)."""
    if not isinstance(value, str) or not value:
        return None
    given = _folder(value)
    if given.is_absolute():
        return given
    beside = Path(os.path.normpath(batch_file.parent / given))
    if beside.is_dir() or not given.is_dir():
        return beside
    p.warn(
        "base_scenario",
        f"{value!r} was found relative to the working directory, not to the batch file",
        f"write it relative to {batch_file.parent or '.'}",
    )
    return given


def _base_scenario(value: Any, where: Path | None, p: _Problems) -> LoadedScenario | None:
    if where is None:
        return None  # reported by the model: required, must be a string
    if not where.is_dir():
        given = _folder(str(value))
        p.error(
            "base_scenario",
            f"no scenario directory at {where}"
            if given.is_absolute()
            else f"{value!r} is a scenario directory neither beside the batch file ({where}) "
            f"nor in the working directory ({Path.cwd() / given})",
            "give the scenario's folder, relative to the batch file's folder",
        )
        return None
    try:
        return load_scenario(where)
    except ScenarioInvalid as e:
        p.error(
            "base_scenario",
            f"scenario {where} is invalid: {e.message}",
            f"run `scenario-lab validate {where}`",
        )
        return None


def _normalise_variations(value: Any, p: _Problems) -> list[tuple[str, dict[str, Any]]]:
    """(field, spec) for each variation; the dict forms become one spec per entry."""
    if value is None:
        return []
    if isinstance(value, dict):
        return _from_dict_form(value, "variations", p)
    if not isinstance(value, list):
        p.error("variations", "must be a list of {type: ..., values: [...]}")
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(value):
        where = f"variations.{i}"
        if isinstance(item, dict) and "type" not in item and set(item) & set(_DICT_FORM):
            out += _from_dict_form(item, where, p)
        elif isinstance(item, dict):
            out.append((where, item))
        else:
            p.error(where, "must be a mapping like {type: actor_model, actor: ..., values: [...]}")
    return out


def _from_dict_form(
    value: dict[str, Any], where: str, p: _Problems
) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for key, entries in value.items():
        kind = _DICT_FORM.get(str(key))
        if kind is None:
            p.error(f"{where}.{key}", "is not a kind of variation", f"use {', '.join(_DICT_FORM)}")
            continue
        if not isinstance(entries, dict):
            p.error(f"{where}.{key}", "must map each actor or parameter to a list of values")
            continue
        for target, values in entries.items():
            spec: dict[str, Any] = {"type": kind, "values": values}
            spec["actor" if kind == "actor_model" else "parameter"] = target
            out.append((f"{where}.{key}.{target}", spec))
    return out


# -- checking against the base scenario -------------------------------------------------


def _dimensions(
    specs: list[tuple[str, dict[str, Any]]], base: LoadedScenario | None, p: _Problems
) -> list[Dimension]:
    dims: list[Dimension] = []
    seen: dict[str, str] = {}
    for where, spec in specs:
        dim = _dimension(where, spec, base, p)
        if dim is None:
            continue
        if dim.key in seen:
            p.error(
                where,
                f"varies {dim.key}, which {seen[dim.key]} varies too",
                "merge their values into one list",
            )
            continue
        seen[dim.key] = where
        dims.append(dim)
    return dims


def _dimension(
    where: str, spec: dict[str, Any], base: LoadedScenario | None, p: _Problems
) -> Dimension | None:
    kind = spec.get("type")
    kinds = ("actor_model", "scenario_parameter", "actor_parameter")
    if kind not in kinds:
        p.error(f"{where}.type", f"is {kind!r}", f"use one of {', '.join(kinds)}")
        return None
    values = spec.get("values")
    if values is None or values == []:
        p.error(f"{where}.values", "is empty", "list at least one value")
        return None
    if not isinstance(values, list):
        spec = {**spec, "values": [values]}  # a single value is a one-value list
    try:
        parsed: ActorModelVariation | ParameterVariation = (
            ActorModelVariation.model_validate(spec)
            if kind == "actor_model"
            else ParameterVariation.model_validate(spec)
        )
    except ValidationError as e:
        p.pydantic(where, e)
        return None
    dupes = [v for i, v in enumerate(parsed.values) if v in parsed.values[:i]]
    if dupes:
        p.error(
            f"{where}.values",
            f"repeats {dupes[0]!r}",
            "give each value once; runs_per_variation sets the repeats",
        )
        return None
    if isinstance(parsed, ActorModelVariation):
        return _actor_model(where, parsed, base, p)
    return _parameter(where, parsed, base, p)


def _actor_model(
    where: str, spec: ActorModelVariation, base: LoadedScenario | None, p: _Problems
) -> Dimension | None:
    if base is not None:
        actors = base.scenario.actors
        if spec.actor not in actors:
            p.error(
                f"{where}.actor",
                f"no actor {spec.actor!r} in the base scenario",
                _known(spec.actor, actors),
            )
            return None
        if actors[spec.actor].control != "ai":
            p.error(
                f"{where}.actor",
                f"{spec.actor!r} is control: {actors[spec.actor].control}, so a model changes nothing",
                "vary a control: ai actor, or its parameters with actor_parameter",
            )
            return None
    return Dimension(f"{spec.actor}.model", "actor_model", spec.actor, tuple(spec.values))


def _parameter(
    where: str, spec: ParameterVariation, base: LoadedScenario | None, p: _Problems
) -> Dimension | None:
    path = spec.parameter
    if spec.type == "actor_parameter":
        if spec.actor is not None and not path.startswith("actors."):
            path = f"actors.{spec.actor}.{path}"
        if not path.startswith("actors.") or path.count(".") < 2:
            p.error(
                f"{where}.parameter",
                f"{spec.parameter!r} is not a path into an actor",
                "write actors.<actor>.<field>, e.g. actors.hawk.preferences.tension",
            )
            return None
    elif spec.actor is not None:
        p.error(f"{where}.actor", "applies only to actor_model and actor_parameter", "remove it")
        return None
    if base is not None:
        actor = path.split(".")[1] if path.startswith("actors.") else None
        if actor is not None and actor not in base.scenario.actors:
            p.error(
                f"{where}.parameter",
                f"no actor {actor!r} in the base scenario",
                _known(actor, base.scenario.actors),
            )
            return None
        for i, value in enumerate(spec.values):
            try:
                apply_overrides(base.resolved, {path: value})
            except ScenarioInvalid as e:
                p.error(f"{where}.values.{i}", e.message, e.hint or "")
                return None
    return Dimension(path, spec.type, path, tuple(spec.values))


def _known(name: str, names: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    listed = f"actors: {', '.join(names)}"
    return f"did you mean {close[0]!r}? {listed}" if close else listed


def _expand(dims: Sequence[Dimension], base: LoadedScenario, p: _Problems) -> list[Variation]:
    """The Cartesian product of every dimension's values, each checked as a whole."""
    out: list[Variation] = []
    for index, combo in enumerate(itertools.product(*(d.values for d in dims))):
        label = {d.key: v for d, v in zip(dims, combo, strict=True)}
        models = {
            d.target: str(v) for d, v in zip(dims, combo, strict=True) if d.kind == "actor_model"
        }
        overrides = {
            d.target: v for d, v in zip(dims, combo, strict=True) if d.kind != "actor_model"
        }
        try:
            loaded = with_overrides(base, overrides)
        except ScenarioInvalid as e:
            name = ", ".join(f"{k}={v}" for k, v in label.items())
            p.error("variations", f"the combination {name} is invalid: {e.message}", e.hint or "")
            continue
        out.append(Variation(index, label, models, overrides, loaded.sha256, loaded))
    return out
