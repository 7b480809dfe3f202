"""Dotted-path overrides of a resolved scenario, for batch parameter sweeps.

``apply_overrides(resolved, {"turns": 12, "actors.hawk.preferences.tension": -2})``
returns a new resolved scenario, revalidated as a whole. Paths follow the resolved
layout: scenario.yaml's fields at the top, actor files under ``actors.<short_name>``,
list items by index (``actors.hawk.actions.0.effects.tension``).
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.errors import ScenarioInvalid
from engine.scenario.model import DEFER_CHECKS, Scenario
from engine.scenario.yamlfile import accepted_keys, describe_error, nested_model


def _bad(path: str, message: str) -> ScenarioInvalid:
    text = f"override {path!r}: {message}"
    return ScenarioInvalid(text, problems=[text])


def _set(root: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = root
    annotation: Any = Scenario
    for i, key in enumerate(parts):
        here = ".".join(parts[:i]) or "the top level"
        last = i == len(parts) - 1
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        slot: str | int
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = accepted_keys(annotation).get(key)
            if field is None or not isinstance(node, dict):
                valid = ", ".join(sorted(annotation.model_fields))
                raise _bad(path, f"no field {key!r} at {here} (valid: {valid})")
            slot, child = field, annotation.model_fields[field].annotation
        elif origin is dict and isinstance(node, dict):
            # a new key is fine at the end (a preference, an effect), not on the way
            if key not in node and not last:
                valid = ", ".join(sorted(node)) or "none"
                raise _bad(path, f"no key {key!r} at {here} (valid: {valid})")
            slot, child = key, args[1]
        elif origin is list and isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                valid = f"0 to {len(node) - 1}" if node else "none, the list is empty"
                raise _bad(path, f"no item {key!r} at {here} (valid indexes: {valid})")
            slot, child = int(key), args[0]
        else:
            raise _bad(path, f"{here} is a single value, not a mapping with {key!r}")
        if last:
            node[slot] = value
            return
        node = node[slot]
        if node is None:
            raise _bad(path, f"{'.'.join(parts[: i + 1])} is not set; override it as a whole")
        annotation = nested_model(child, node)


def _related(path: str, loc: str) -> bool:
    return not loc or loc == path or loc.startswith(path + ".") or path.startswith(loc + ".")


def apply_overrides(resolved: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A new resolved scenario with each dotted path set to its value, revalidated.

    Raises ``ScenarioInvalid`` for a path that does not exist (naming the valid keys at
    that level) or values that make the scenario invalid. ``resolved`` is not changed.
    """
    out = copy.deepcopy(dict(resolved))
    for path, value in overrides.items():
        _set(out, str(path), value)
    try:
        scenario = Scenario.model_validate(out)
    except ValidationError:
        lines = _problems(out, [str(p) for p in overrides])
        raise ScenarioInvalid(lines[0], problems=lines) from None
    result: dict[str, Any] = json.loads(scenario.model_dump_json())
    return result


def _problems(data: dict[str, Any], paths: list[str]) -> list[str]:
    """Each problem as "override 'path': field: what is wrong", field paths in full."""
    found: list[tuple[str, str]] = []
    try:
        # checks deferred, so that cross-field issues come back with their full paths
        deferred = Scenario.model_validate(data, context={DEFER_CHECKS: True})
    except ValidationError as e:
        for err in e.errors():
            message, hint = describe_error(err)
            found.append((_dotted(err["loc"]), message + (f" ({hint})" if hint else "")))
    else:
        for issue in deferred.issues():
            if issue.severity == "error":
                text = issue.message + (f" ({issue.hint})" if issue.hint else "")
                found.append((_dotted(issue.path), text))
    lines = []
    for where, text in found:
        which = [p for p in paths if _related(p, where)] or paths
        label = "override" if len(which) == 1 else "overrides"
        lines.append(f"{label} {', '.join(map(repr, which))}: {where or 'scenario'}: {text}")
    return lines


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in path)
