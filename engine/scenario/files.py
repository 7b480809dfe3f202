"""Reading a scenario directory into raw parts: YAML, file layouts and unknown fields.

Each file's content is brought to the canonical layout (aliases renamed, the grouped
exogenous-event lists flattened, list-form validation checks keyed by name) and
stripped of unknown fields, each reported as a warning naming its file and field.
Whether values are *valid* is the models' business (``scenario_load`` validates).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.scenario.base import SHORT_NAME
from engine.scenario.limits import LIMITS, InputLimits, InputRefused, ReadBudget
from engine.scenario.model import Actor, ExogenousEvent, Metric, ScenarioSettings, ValidationConfig
from engine.scenario.yamlfile import FAILED, Lines, Problem, read_yaml, strip_unknown

COMPONENTS = ("actors", "metrics", "validation", "exogenous_events", "background")
OPTIONAL_FILES = ("metrics", "validation-rules", "exogenous-events")
GROUPED_EVENTS = {
    "scheduled_events": "scheduled",
    "random_events": "random",
    "conditional_events": "conditional",
    "trends": "trend",
    "trend_events": "trend",
}
FLAT_EVENTS_HINT = (
    "list the events under `exogenous_events:`, each with `type: scheduled | random | "
    "conditional | trend`; grouped lists may be named " + ", ".join(GROUPED_EVENTS)
)


@dataclass
class RawScenario:
    """A directory's content in the canonical layout, not yet validated."""

    top: dict[str, Any]  # scenario.yaml without its `actors:` list
    actors: dict[str, tuple[str, dict[str, Any]]]  # short_name -> (file, fields), listed order
    metrics: list[Any] = field(default_factory=list)
    validation: dict[str, Any] | None = None
    events: list[Any] = field(default_factory=list)
    event_origins: list[str] = field(default_factory=list)  # e.g. "random_events.0"
    background: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # "metrics" -> "metrics.yaml"
    metrics_unreadable: bool = False  # so conditions on its metrics are not misreported
    lines: Lines = field(default_factory=dict)  # where each field is, for problems

    def data(self) -> dict[str, Any]:
        """The input of ``Scenario.model_validate``."""
        return {
            **self.top,
            "actors": {short: fields for short, (_f, fields) in self.actors.items()},
            "metrics": self.metrics,
            "validation": self.validation,
            "exogenous_events": self.events,
            "background": self.background,
        }


# -- the files ---------------------------------------------------------------------------


def _find(root: Path, stem: str) -> Path | None:
    for suffix in (".yaml", ".yml"):
        if (root / (stem + suffix)).is_file():
            return root / (stem + suffix)
    return None


def _scenario_file(raw: dict[str, Any], rel: str, problems: list[Problem]) -> dict[str, Any]:
    raw = dict(raw)
    length = raw.pop("scenario_length", None)
    if length is not None:
        if (
            isinstance(length, dict)
            and length.get("type", "fixed") == "fixed"
            and "turns" in length
        ):
            for key in set(length) - {"type", "turns"}:
                problems.append(
                    Problem(
                        rel, f"scenario_length.{key}", "unknown field, ignored", severity="warning"
                    )
                )
            if "turns" in raw or "num_turns" in raw:
                problems.append(
                    Problem(rel, "scenario_length", "and `turns:` are both given", "keep one")
                )
            else:
                raw["turns"] = length["turns"]
        else:
            problems.append(
                Problem(
                    rel,
                    "scenario_length",
                    f"{length!r} is not a fixed length",
                    "write `turns: N` (or scenario_length: {type: fixed, turns: N})",
                )
            )
    listed = raw.pop("actors", None)
    top = strip_unknown(raw, ScenarioSettings, rel, [], problems, elsewhere=COMPONENTS)
    top["actors"] = listed
    return top


def _read_actors(
    root: Path, main: str, listed: Any, problems: list[Problem], budget: ReadBudget, lines: Lines
) -> dict[str, tuple[str, dict[str, Any]]]:
    files: dict[str, tuple[str, dict[str, Any]]] = {}
    by_file: dict[str, str] = {}  # file name, with and without its suffix -> short_name
    unreadable: set[str] = set()
    paths = [*(root / "actors").glob("*.yaml"), *(root / "actors").glob("*.yml")]
    for path in sorted(paths):
        rel = f"actors/{path.name}"
        data = read_yaml(path, rel, problems, budget, lines)
        if data is FAILED or not isinstance(data, dict):
            if data is not FAILED:
                problems.append(
                    Problem(rel, "", "must be a mapping of fields (name, short_name, ...)")
                )
            unreadable.update((path.stem, path.name))
            continue
        data = strip_unknown(data, Actor, rel, [], problems)
        # the file name stands in for a missing short_name, as in Scenario Lab
        defaulted = "short_name" not in data
        short = str(data.setdefault("short_name", path.stem))
        if not SHORT_NAME.match(short):
            problems.append(
                Problem(
                    rel,
                    "short_name",
                    f"{short!r} must be lowercase letters, digits and hyphens, e.g. 'tech-co'",
                    "without `short_name:` the file name is used" if defaulted else "",
                )
            )
            unreadable.update((short, path.stem, path.name))  # its listing is not a second error
            continue
        if short in files:
            problems.append(
                Problem(rel, "short_name", f"{short!r} is also the short_name of {files[short][0]}")
            )
            continue
        files[short] = (rel, data)
        by_file.update({path.stem: short, path.name: short})
    if listed is None:
        listed = list(files)
        if files:
            problems.append(
                Problem(
                    main,
                    "actors",
                    "not given; every actor file is played, in file-name order",
                    "list the short names, e.g. actors: [" + ", ".join(files) + "]",
                    "warning",
                )
            )
    elif isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list) or not listed:
        problems.append(
            Problem(
                main,
                "actors",
                "must list the actors' short names",
                "e.g. actors: [techco, regulator], one actors/<file>.yaml each",
            )
        )
        listed = []
    actors: dict[str, tuple[str, dict[str, Any]]] = {}
    for i, entry in enumerate(listed):
        if not isinstance(entry, str):
            problems.append(Problem(main, f"actors.{i}", f"{entry!r} is not a short name"))
            continue
        # Scenario Lab's own examples list file names (`tech-company` for a file whose
        # short_name is `techco`): a short_name is looked up first, then a file name
        name = entry.removeprefix("actors/")
        found = name if name in files else by_file.get(name)
        if found is None:
            if name not in unreadable:
                problems.append(_unknown_actor(main, i, entry, files))
        elif found in actors:
            again = f" (as {entry!r})" if entry != found else ""
            problems.append(Problem(main, f"actors.{i}", f"lists {found!r} twice{again}"))
        else:
            actors[found] = files[found]
    for short, (rel, _data) in files.items():
        if short not in actors:
            problems.append(
                Problem(
                    rel,
                    "short_name",
                    f"{short!r} is not listed under `actors:` in {main}, so it is not played",
                    "add it to the list to play it",
                    "warning",
                )
            )
    return actors


def _unknown_actor(
    main: str, i: int, entry: str, files: dict[str, tuple[str, dict[str, Any]]]
) -> Problem:
    present = ", ".join(
        f"{rel.removeprefix('actors/')} (short_name {short})" for short, (rel, _d) in files.items()
    )
    return Problem(
        main,
        f"actors.{i}",
        f"lists {entry!r}, which is neither an actor's short_name nor a file in actors/",
        f"actor files: {present}" if present else "actors/ has no actor files",
    )


def _read_optional(
    root: Path, stem: str, problems: list[Problem], budget: ReadBudget, lines: Lines
) -> tuple[str, Any]:
    """(file name, data); data is ``FAILED`` when the file exists but cannot be read."""
    path = _find(root, stem)
    if path is None:
        return f"{stem}.yaml", None
    data = read_yaml(path, path.name, problems, budget, lines)
    if data is None:
        problems.append(Problem(path.name, "", "is empty, ignored", severity="warning"))
    return path.name, data


def _extra_keys(data: dict[str, Any], known: set[str], rel: str, problems: list[Problem]) -> None:
    for key in data:
        if key not in known:
            problems.append(Problem(rel, str(key), "unknown field, ignored", severity="warning"))


def _metrics(rel: str, data: Any, problems: list[Problem]) -> list[Any]:
    if data is None or data is FAILED:
        return []
    if not isinstance(data, dict):
        problems.append(
            Problem(rel, "", "must be a mapping with a `metrics:` list", "e.g. metrics: [...]")
        )
        return []
    _extra_keys(data, {"metrics"}, rel, problems)
    items = data.get("metrics")
    if not isinstance(items, list):
        problems.append(Problem(rel, "metrics", "must be a list of metrics"))
        return []
    return [strip_unknown(m, Metric, rel, ["metrics", i], problems) for i, m in enumerate(items)]


def _validation(rel: str, data: Any, problems: list[Problem]) -> dict[str, Any] | None:
    if data is None or data is FAILED:
        return None
    if not isinstance(data, dict):
        problems.append(Problem(rel, "", "must be a mapping with `checks:`"))
        return None
    data = dict(data)
    checks = data.get("checks")
    if isinstance(checks, list):  # the list form: each check carries its `name:`
        keyed: dict[str, Any] = {}
        for i, item in enumerate(checks):
            if not isinstance(item, dict) or not item.get("name"):
                problems.append(Problem(rel, f"checks.{i}", "a check in a list needs a `name:`"))
            elif str(item["name"]) in keyed:
                problems.append(
                    Problem(rel, f"checks.{i}.name", f"{item['name']!r} is given twice")
                )
            else:
                keyed[str(item["name"])] = {k: v for k, v in item.items() if k != "name"}
        data["checks"] = keyed
    if isinstance(data.get("checks"), dict):
        # `name:` with nothing after it is a check with every default (enabled, medium)
        data["checks"] = {str(k): {} if v is None else v for k, v in data["checks"].items()}
    result: dict[str, Any] = strip_unknown(data, ValidationConfig, rel, [], problems)
    return result


def _events(rel: str, data: Any, problems: list[Problem]) -> tuple[list[Any], list[str]]:
    if data is None or data is FAILED:
        return [], []
    if not isinstance(data, dict):
        problems.append(Problem(rel, "", "must be a mapping with an `exogenous_events:` list"))
        return [], []
    events: list[Any] = []
    origins: list[str] = []
    for key, value in data.items():
        if value is None:
            continue
        if key != "exogenous_events" and key not in GROUPED_EVENTS:
            problems.append(
                Problem(rel, str(key), "is not a known group of events", FLAT_EVENTS_HINT)
            )
            continue
        kind = GROUPED_EVENTS.get(key)
        # A grouped list is a layout Scenario Lab never reads, so what does not fit there
        # is skipped with a warning (load.py does the same for events that fail validation)
        severity: Literal["error", "warning"] = "error" if kind is None else "warning"
        skipped = "" if kind is None else ", so it is skipped"
        if not isinstance(value, list):
            problems.append(
                Problem(rel, key, f"must be a list of events{skipped}", severity=severity)
            )
            continue
        for i, item in enumerate(value):
            origin = f"{key}.{i}"
            if kind is not None:
                if not isinstance(item, dict):
                    problems.append(
                        Problem(
                            rel,
                            origin,
                            f"must be a mapping (name, description, ...){skipped}",
                            severity=severity,
                        )
                    )
                    continue
                given = item.get("type")
                if given is not None and given != kind:
                    problems.append(
                        Problem(
                            rel,
                            f"{origin}.type",
                            f"is {given!r} but the event is listed under {key} ({kind} "
                            f"events){skipped}",
                            f"remove `type:` or move the event; {FLAT_EVENTS_HINT}",
                            severity,
                        )
                    )
                    continue
                item = {**item, "type": kind}
            events.append(strip_unknown(item, ExogenousEvent, rel, [key, i], problems))
            origins.append(origin)
    return events, origins


def _background(root: Path, problems: list[Problem], budget: ReadBudget) -> dict[str, str]:
    folder = root / "background"
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        rel = f"background/{path.name}"
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix != ".md":
            problems.append(Problem(rel, "", "is not a .md file, ignored", severity="warning"))
            continue
        try:
            out[path.name] = budget.read(
                path, budget.limits.background_file_bytes, "split it or shorten it"
            )
        except InputRefused as e:
            if not e.quiet:
                problems.append(Problem(rel, "", e.message, e.hint))
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem(rel, "", f"cannot be read: {e}", "save it as UTF-8 text"))
    return out


def _stray_files(root: Path, problems: list[Problem]) -> None:
    known = ["scenario", *OPTIONAL_FILES]
    for path in sorted(root.iterdir()):
        if path.is_file() and path.suffix in (".yaml", ".yml") and path.stem not in known:
            close = difflib.get_close_matches(path.stem, known, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}.yaml?" if close else ""
            problems.append(
                Problem(path.name, "", "is not a scenario file, ignored", hint, "warning")
            )


def read_scenario_dir(
    root: Path, problems: list[Problem], limits: InputLimits = LIMITS
) -> RawScenario | None:
    """The directory in the canonical layout; None when scenario.yaml is unusable.

    ``limits`` bounds each file and the directory in total (see ``engine.scenario.limits``).
    """
    if not root.is_dir():
        hint = "give a folder with scenario.yaml"
        if root.name in ("scenario.yaml", "scenario.yml"):
            hint = f"give the folder that holds it: {root.parent}"
        elif root.suffix in (".yaml", ".yml") and root.is_file():
            hint += "; a batch file is checked with `scenario-lab batch run FILE --dry-run`"
        elif not root.exists():
            hint = f"no such folder; {hint}"
        problems.append(Problem(str(root), "", "is not a scenario directory", hint))
        return None
    main = _find(root, "scenario")
    if main is None:
        problems.append(
            Problem(
                "scenario.yaml",
                "",
                f"is missing in {root}",
                "a scenario directory needs scenario.yaml with name, turns and actors",
            )
        )
        return None
    budget = ReadBudget(limits)
    lines: Lines = {}
    raw = read_yaml(main, main.name, problems, budget, lines)
    if raw is FAILED:
        return None
    if not isinstance(raw, dict):
        problems.append(
            Problem(main.name, "", "must be a mapping of fields (name, turns, actors, ...)")
        )
        return None
    top = _scenario_file(raw, main.name, problems)
    actors = _read_actors(root, main.name, top.pop("actors"), problems, budget, lines)
    metrics_rel, metrics = _read_optional(root, "metrics", problems, budget, lines)
    validation_rel, validation = _read_optional(root, "validation-rules", problems, budget, lines)
    events_rel, events = _read_optional(root, "exogenous-events", problems, budget, lines)
    flat, origins = _events(events_rel, events, problems)
    _stray_files(root, problems)
    return RawScenario(
        top=top,
        actors=actors,
        metrics=_metrics(metrics_rel, metrics, problems),
        validation=_validation(validation_rel, validation, problems),
        events=flat,
        event_origins=origins,
        background=_background(root, problems, budget),
        metrics_unreadable=metrics is FAILED,
        lines=lines,
        files={
            "scenario": main.name,
            "metrics": metrics_rel,
            "validation": validation_rel,
            "exogenous_events": events_rel,
        },
    )
