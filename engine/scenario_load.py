"""Loading a scenario directory: YAML files -> resolved data -> ``Scenario``.

Accepts the fields (and aliases) Scenario Lab users already have, normalises them into
one *resolved* dict (every file's content, background documents included), and reports
every problem at once with its file, field and, where obvious, the fix. Unknown fields
are warnings. The resolved dict is what a run records, so editing the files later
changes no recorded run.
"""

from __future__ import annotations

import calendar
import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import ScenarioInvalid
from .scenario_model import (
    Actor,
    ExogenousEvent,
    Extraction,
    Metric,
    Scenario,
    ValidationConfig,
    Variable,
)

SCENARIO_KEYS = set(Scenario.model_fields) - {
    "variables",
    "actors",
    "metrics",
    "validation",
    "exogenous_events",
    "background",
}
SCENARIO_ALIASES = {"num_turns": "turns", "context_window": "context_window_size"}
ACTOR_ALIASES = {"model": "llm_model", "decision_making_style": "decision_style"}
GROUPED_EXOGENOUS = {
    "scheduled_events": "scheduled",
    "random_events": "random",
    "conditional_events": "conditional",
    "trends": "trend",
    "trend_events": "trend",
}
DURATION = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week|month|year)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or odd) in a scenario directory."""

    file: str
    field: str
    message: str
    hint: str = ""
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}: " if self.field else f"{self.file}: "
        return where + self.message + (f" ({self.hint})" if self.hint else "")


@dataclass
class LoadedScenario:
    scenario: Scenario
    resolved: dict[str, Any]
    sha256: str
    warnings: list[str] = field(default_factory=list)


def scenario_sha256(resolved: Mapping[str, Any]) -> str:
    canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _list(value: Any) -> Any:
    """goals/constraints/traits may be one string or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


def _read_yaml(path: Path, rel: str, problems: list[Problem]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problems.append(Problem(rel, "", f"is not valid YAML{line}: {getattr(e, 'problem', e)}"))
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(rel, "", f"cannot be read: {e}"))
    return None


def _pydantic_problems(rel: str, prefix: str, e: ValidationError) -> list[Problem]:
    out = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        where = ".".join(p for p in (prefix, loc) if p)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            # top-level unknown fields were already split off as warnings; one nested
            # this deep is usually a typo or an unquoted comma in a {flow: mapping}
            msg = "is not a known field"
            out.append(
                Problem(
                    rel, where, msg, hint="check the spelling; quote values that contain commas"
                )
            )
            continue
        out.append(Problem(rel, where, msg))
    return out


def _split_known(
    data: dict[str, Any], known: set[str], rel: str, prefix: str, problems: list[Problem]
) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if key in known:
            out[key] = value
        else:
            problems.append(
                Problem(rel, f"{prefix}{key}", "unknown field, ignored", severity="warning")
            )
    return out


def _normalise_actor(raw: dict[str, Any], rel: str, problems: list[Problem]) -> dict[str, Any]:
    data = dict(raw)
    for alias, name in ACTOR_ALIASES.items():
        if alias in data:
            if name in data:
                problems.append(
                    Problem(rel, alias, f"both {alias!r} and {name!r} given", hint=f"keep {name!r}")
                )
            data.setdefault(name, data.pop(alias))
            data.pop(alias, None)
    for key in ("goals", "constraints", "personality_traits"):
        if key in data:
            data[key] = _list(data[key])
    if isinstance(data.get("expertise"), str):
        data["expertise"] = [data["expertise"]]
    if isinstance(data.get("expertise"), dict):
        data["expertise"] = {str(k): str(v) for k, v in data["expertise"].items()}
    for key in (
        "private_information",
        "decision_style",
        "communication_style",
        "description",
        "role",
        "system_prompt",
    ):
        value = data.get(key)
        if isinstance(value, list):
            data[key] = "\n".join(f"- {v}" for v in value)
        elif isinstance(value, dict):
            data[key] = "\n".join(f"- {k}: {v}" for k, v in value.items())
    return _split_known(data, set(Actor.model_fields), rel, "", problems)


def _normalise_scenario(raw: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    rel = "scenario.yaml"
    data = dict(raw)
    for alias, name in SCENARIO_ALIASES.items():
        if alias in data:
            data.setdefault(name, data.pop(alias))
            data.pop(alias, None)
    length = data.pop("scenario_length", None)
    if length is not None:
        if (
            isinstance(length, dict)
            and length.get("type", "fixed") == "fixed"
            and "turns" in length
        ):
            data.setdefault("turns", length["turns"])
        else:
            problems.append(
                Problem(
                    rel,
                    "scenario_length",
                    "only {type: fixed, turns: N} is supported",
                    hint="write `turns: N`",
                )
            )
    duration = data.get("turn_duration")
    if duration is not None and not DURATION.match(str(duration)):
        problems.append(
            Problem(
                rel,
                "turn_duration",
                f"{duration!r} is not a duration",
                hint="write 'N unit' with unit second, minute, hour, day, week, month or year, e.g. '1 month'",
            )
        )
    if "start_date" in data and data["start_date"] is not None:
        data["start_date"] = str(data["start_date"])
        try:
            date.fromisoformat(data["start_date"])
        except ValueError:
            problems.append(
                Problem(
                    rel,
                    "start_date",
                    f"{data['start_date']!r} is not an ISO date",
                    hint="e.g. 2030-01-31",
                )
            )
    for key in ("description", "system_prompt", "initial_world_state"):
        if isinstance(data.get(key), dict | list):
            data[key] = yaml.safe_dump(data[key], sort_keys=False).strip()
    known = SCENARIO_KEYS | {"actors", "variables"}
    return _split_known(data, known, rel, "", problems)


def _normalise_exogenous(raw: Any, problems: list[Problem]) -> list[dict[str, Any]]:
    rel = "exogenous-events.yaml"
    if raw is None:
        return []
    if not isinstance(raw, dict):
        problems.append(Problem(rel, "", "must be a mapping with an `exogenous_events:` list"))
        return []
    events: list[dict[str, Any]] = []
    for key, value in raw.items():
        if key == "exogenous_events":
            if not isinstance(value, list):
                problems.append(Problem(rel, key, "must be a list"))
                continue
            events += [dict(v) if isinstance(v, dict) else v for v in value]
        elif key in GROUPED_EXOGENOUS:
            kind = GROUPED_EXOGENOUS[key]
            for item in value or []:
                if isinstance(item, dict):
                    events.append({**item, "type": item.get("type", kind)})
        else:
            problems.append(
                Problem(
                    rel,
                    key,
                    "is not a known group of events",
                    hint="list events under `exogenous_events:` each with `type: scheduled|random|conditional|trend`",
                )
            )
    out = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            problems.append(Problem(rel, f"exogenous_events.{i}", "must be a mapping"))
            continue
        ev = _split_known(
            ev, set(ExogenousEvent.model_fields), rel, f"exogenous_events.{i}.", problems
        )
        ev.setdefault("once", ev.get("type") in ("scheduled", "conditional"))
        out.append(ev)
    return out


def _normalise_validation(raw: Any, problems: list[Problem]) -> dict[str, Any] | None:
    rel = "validation-rules.yaml"
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(rel, "", "must be a mapping with `checks:`"))
        return None
    data = _split_known(dict(raw), set(ValidationConfig.model_fields), rel, "", problems)
    checks = data.get("checks") or {}
    if isinstance(checks, list):
        as_map = {}
        for i, item in enumerate(checks):
            if not isinstance(item, dict) or "name" not in item:
                problems.append(Problem(rel, f"checks.{i}", "a listed check needs a `name:`"))
                continue
            item = dict(item)
            as_map[str(item.pop("name"))] = item
        checks = as_map
    data["checks"] = checks
    return data


def _read_dir(root: Path, problems: list[Problem]) -> dict[str, Any] | None:
    if not root.is_dir():
        problems.append(
            Problem(
                str(root),
                "",
                "is not a scenario directory",
                hint="give a folder with scenario.yaml",
            )
        )
        return None
    main = root / "scenario.yaml"
    if not main.exists():
        problems.append(
            Problem(
                "scenario.yaml",
                "",
                f"is missing in {root}",
                hint="a scenario directory needs scenario.yaml",
            )
        )
        return None
    raw = _read_yaml(main, "scenario.yaml", problems)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(Problem("scenario.yaml", "", "must be a mapping of fields"))
        return None
    data = _normalise_scenario(raw, problems)
    listed = data.pop("actors", None)
    files: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted((root / "actors").glob("*.y*ml")):
        rel = f"actors/{path.name}"
        actor_raw = _read_yaml(path, rel, problems)
        if actor_raw is None:
            continue
        if not isinstance(actor_raw, dict):
            problems.append(Problem(rel, "", "must be a mapping of fields"))
            continue
        actor = _normalise_actor(actor_raw, rel, problems)
        short = actor.get("short_name") or path.stem
        actor.setdefault("short_name", short)
        if short in files:
            problems.append(
                Problem(rel, "short_name", f"{short!r} is also the short_name of {files[short][0]}")
            )
            continue
        files[short] = (rel, actor)
    if listed is None:
        listed = list(files)
    if not isinstance(listed, list) or not listed:
        problems.append(Problem("scenario.yaml", "actors", "must list the actors' short names"))
        listed = []
    actors: dict[str, Any] = {}
    for short in listed:
        if short not in files:
            present = ", ".join(files) or "none"
            problems.append(
                Problem(
                    "scenario.yaml",
                    "actors",
                    f"lists {short!r} but no actor file has that short_name",
                    hint=f"files present: {present}",
                )
            )
            continue
        actors[str(short)] = files[short]
    for short, (rel, _a) in files.items():
        if short not in listed:
            problems.append(
                Problem(
                    rel,
                    "short_name",
                    f"{short!r} is not listed in scenario.yaml actors, ignored",
                    severity="warning",
                )
            )
    metrics_raw = (
        _read_yaml(root / "metrics.yaml", "metrics.yaml", problems)
        if (root / "metrics.yaml").exists()
        else None
    )
    metrics = []
    if metrics_raw is not None:
        if not isinstance(metrics_raw, dict) or not isinstance(metrics_raw.get("metrics"), list):
            problems.append(Problem("metrics.yaml", "metrics", "must be a list under `metrics:`"))
        else:
            for i, m in enumerate(metrics_raw["metrics"]):
                if isinstance(m, dict):
                    m = _split_known(
                        dict(m), set(Metric.model_fields), "metrics.yaml", f"metrics.{i}.", problems
                    )
                    if isinstance(m.get("extraction"), dict):
                        m["extraction"] = _split_known(
                            dict(m["extraction"]),
                            set(Extraction.model_fields),
                            "metrics.yaml",
                            f"metrics.{i}.extraction.",
                            problems,
                        )
                metrics.append(m)
    validation = None
    if (root / "validation-rules.yaml").exists():
        validation = _normalise_validation(
            _read_yaml(root / "validation-rules.yaml", "validation-rules.yaml", problems), problems
        )
    exogenous = []
    if (root / "exogenous-events.yaml").exists():
        exogenous = _normalise_exogenous(
            _read_yaml(root / "exogenous-events.yaml", "exogenous-events.yaml", problems), problems
        )
    background = {}
    for path in sorted((root / "background").glob("*.md")):
        try:
            background[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem(f"background/{path.name}", "", f"cannot be read: {e}"))
    return {
        "scenario": data,
        "actors": actors,
        "metrics": metrics,
        "validation": validation,
        "exogenous_events": exogenous,
        "background": background,
    }


def _validate_parts(parts: dict[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    """Validate each file's part on its own, so errors name their file and field."""
    resolved: dict[str, Any] = dict(parts["scenario"])
    ok = True
    variables = resolved.get("variables") or {}
    if not isinstance(variables, dict):
        problems.append(
            Problem(
                "scenario.yaml", "variables", "must be a mapping of name -> {initial, min, max}"
            )
        )
        variables = {}
    for name, spec in variables.items():
        try:
            Variable.model_validate(spec)
        except ValidationError as e:
            problems.extend(_pydantic_problems("scenario.yaml", f"variables.{name}", e))
            ok = False
    resolved["variables"] = variables
    resolved["actors"] = {}
    for short, (rel, actor) in parts["actors"].items():
        try:
            Actor.model_validate(actor)
        except ValidationError as e:
            problems.extend(_pydantic_problems(rel, "", e))
            ok = False
        for action in actor.get("actions") or []:
            for var in (action.get("effects") or {}) if isinstance(action, dict) else {}:
                if var not in variables:
                    problems.append(
                        Problem(
                            rel,
                            f"actions.{action.get('name')}.effects",
                            f"names {var!r}, which scenario.yaml does not declare under variables",
                        )
                    )
                    ok = False
        for var in actor.get("preferences") or {}:
            if var not in variables:
                problems.append(
                    Problem(
                        rel,
                        "preferences",
                        f"names {var!r}, which scenario.yaml does not declare under variables",
                    )
                )
                ok = False
        resolved["actors"][short] = actor
    for i, m in enumerate(parts["metrics"]):
        try:
            Metric.model_validate(m)
        except ValidationError as e:
            problems.extend(_pydantic_problems("metrics.yaml", f"metrics.{i}", e))
            ok = False
    resolved["metrics"] = parts["metrics"]
    if parts["validation"] is not None:
        try:
            ValidationConfig.model_validate(parts["validation"])
        except ValidationError as e:
            problems.extend(_pydantic_problems("validation-rules.yaml", "", e))
            ok = False
    resolved["validation"] = parts["validation"]
    metric_names = {m.get("name") for m in parts["metrics"] if isinstance(m, dict)} | set(variables)
    for i, ev in enumerate(parts["exogenous_events"]):
        try:
            ExogenousEvent.model_validate(ev)
        except ValidationError as e:
            problems.extend(_pydantic_problems("exogenous-events.yaml", f"exogenous_events.{i}", e))
            ok = False
            continue
        for name in ev.get("conditions") or {}:
            if name not in metric_names:
                known = ", ".join(sorted(n for n in metric_names if n)) or "none"
                problems.append(
                    Problem(
                        "exogenous-events.yaml",
                        f"exogenous_events.{i}.conditions",
                        f"names {name!r}, which is neither a metric nor a variable",
                        hint=f"known: {known}",
                    )
                )
                ok = False
        for var in ev.get("effects") or {}:
            if var not in variables:
                problems.append(
                    Problem(
                        "exogenous-events.yaml",
                        f"exogenous_events.{i}.effects",
                        f"names {var!r}, which scenario.yaml does not declare under variables",
                    )
                )
                ok = False
    resolved["exogenous_events"] = parts["exogenous_events"]
    resolved["background"] = parts["background"]
    if not ok or any(p.severity == "error" for p in problems):
        return None
    try:
        scenario = Scenario.model_validate(resolved)
    except ValidationError as e:
        problems.extend(_pydantic_problems("scenario.yaml", "", e))
        return None
    if not scenario.variables and not scenario.world_state_model:
        problems.append(
            Problem(
                "scenario.yaml",
                "world_state_model",
                "is required when the scenario declares no rule variables",
                hint="name the adjudicator model, or declare `variables:` for rule adjudication",
            )
        )
        return None
    for short, actor in scenario.actors.items():
        if actor.control == "ai" and not actor.llm_model:
            problems.append(
                Problem(
                    parts["actors"][short][0],
                    "llm_model",
                    "is required for control: ai",
                    hint="e.g. llm_model: openai/gpt-4o-mini",
                )
            )
            return None
    return json.loads(scenario.model_dump_json())


def validate_scenario(path: str | Path) -> list[Problem]:
    """Every problem of a scenario directory, errors and warnings."""
    problems: list[Problem] = []
    parts = _read_dir(Path(path), problems)
    if parts is not None:
        _validate_parts(parts, problems)
    return problems


def load_scenario(path: str | Path) -> LoadedScenario:
    """Load and validate a scenario directory; raises ``ScenarioInvalid`` listing every error."""
    problems: list[Problem] = []
    parts = _read_dir(Path(path), problems)
    resolved = _validate_parts(parts, problems) if parts is not None else None
    errors = [str(p) for p in problems if p.severity == "error"]
    if resolved is None or errors:
        errors = errors or [f"{path}: invalid scenario"]
        more = (
            f" (and {len(errors) - 1} more: run `scenario-lab validate {path}`)"
            if len(errors) > 1
            else ""
        )
        raise ScenarioInvalid(errors[0] + more, problems=errors)
    return LoadedScenario(
        scenario=Scenario.from_resolved(resolved),
        resolved=resolved,
        sha256=scenario_sha256(resolved),
        warnings=[str(p) for p in problems if p.severity == "warning"],
    )


def apply_overrides(resolved: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A new resolved scenario with dotted-path values set (batch parameter sweeps).

    Paths go into scenario fields (``turns``, ``variables.tension.initial``) and into
    actors as ``actors.<short_name>.<field>`` (``actors.hawk.preferences.tension``).
    """
    out = copy.deepcopy(dict(resolved))
    for path, value in overrides.items():
        parts = path.split(".")
        node: Any = out
        for i, key in enumerate(parts[:-1]):
            if not isinstance(node, dict) or key not in node:
                valid = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a mapping)"
                raise ScenarioInvalid(
                    f"override {path!r}: no {'.'.join(parts[: i + 1])!r} in the scenario",
                    hint=f"valid keys there: {valid}",
                )
            node = node[key]
        last = parts[-1]
        if not isinstance(node, dict):
            raise ScenarioInvalid(f"override {path!r}: {'.'.join(parts[:-1])!r} is not a mapping")
        parent_is_open = parts[-2:-1] in (["preferences"], ["effects"], ["variables"])
        if last not in node and not parent_is_open:
            raise ScenarioInvalid(
                f"override {path!r}: no field {last!r} there",
                hint=f"valid keys there: {', '.join(sorted(node))}",
            )
        node[last] = value
    try:
        scenario = Scenario.model_validate(out)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ScenarioInvalid(f"overrides make the scenario invalid: {loc}: {first['msg']}") from e
    return json.loads(scenario.model_dump_json())


def _add_months(d: datetime, months: int) -> datetime:
    month = d.month - 1 + months
    year = d.year + month // 12
    month = month % 12 + 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return d.replace(year=year, month=month, day=day)


def simulated_date(scenario: Scenario, turn: int) -> str | None:
    """When turn ``turn`` takes place: ``start_date`` plus ``turn`` durations.

    Without ``start_date`` it is relative ("month 3"); without ``turn_duration``, None.
    """
    if not scenario.turn_duration:
        return None
    m = DURATION.match(scenario.turn_duration)
    if m is None:
        return None
    n, unit = int(m.group(1)), m.group(2).lower()
    if scenario.start_date is None:
        return f"{unit} {n * turn}"
    start = datetime.fromisoformat(scenario.start_date)
    if unit in ("month", "year"):
        at = _add_months(start, n * turn * (12 if unit == "year" else 1))
    else:
        at = start + timedelta(**{unit + "s": n * turn})
    return at.date().isoformat() if unit in ("day", "week", "month", "year") else at.isoformat()
