"""YAML files and their fields: safe reading with line numbers, duplicate keys, and
canonical keys with unknown fields reported (as warnings) at any depth.

``Problem`` is the unit of every report about a scenario directory.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel

from engine.scenario.limits import (
    YAML_ERRORS,
    BoundedLoader,
    InputRefused,
    ReadBudget,
    yaml_problem,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or odd) in a scenario directory, with its file and dotted field."""

    file: str  # relative to the scenario directory
    field: str
    message: str
    hint: str = ""
    severity: Literal["error", "warning"] = "error"
    line: int | None = None  # of the field in the file, where known

    def __str__(self) -> str:
        file = f"{self.file}:{self.line}" if self.line else self.file
        where = f"{file}: {self.field}: " if self.field else f"{file}: "
        return where + self.message + (f" ({self.hint})" if self.hint else "")


# file -> dotted path in the file as written ("actions.0.when") -> the line it starts on
Lines = dict[str, dict[str, int]]


def with_line(problem: Problem, lines: Lines) -> Problem:
    """The problem with the line of its field (or of the nearest enclosing one) in its file."""
    known = lines.get(problem.file)
    if problem.line is not None or not problem.field or not known:
        return problem
    parts = problem.field.split(".")
    while parts:
        line = known.get(".".join(parts))
        if line is not None:
            return replace(problem, line=line)
        parts.pop()
    return problem


def line_map(node: Any, limit: int) -> dict[str, int]:
    """Dotted path -> line, for every key and list item of a composed YAML document.

    At most ``limit`` entries: an alias repeats what it stands for, and the document was
    already bounded by the value budget, so this only guards the walk.
    """
    out: dict[str, int] = {}
    stack: list[tuple[Any, str]] = [(node, "")]
    while stack and len(out) < limit:
        current, path = stack.pop()
        children: list[tuple[str, Any, Any]] = []  # (key, node whose line it is, value)
        if isinstance(current, yaml.MappingNode):
            children = [
                (str(k.value), k, v)
                for k, v in current.value
                if isinstance(k, yaml.ScalarNode) and not k.tag.endswith(":merge")
            ]
        elif isinstance(current, yaml.SequenceNode):
            children = [(str(i), item, item) for i, item in enumerate(current.value)]
        for key, at, child in children:
            here = f"{path}.{key}" if path else key
            out.setdefault(here, at.start_mark.line + 1)
            stack.append((child, here))
    return out


# -- YAML --------------------------------------------------------------------------------


class _Loader(BoundedLoader):
    """Bounded safe YAML that notes duplicate keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: str, budget: ReadBudget):
        super().__init__(stream, budget)
        self.duplicates: list[tuple[str, int, int]] = []  # key, first line, repeated line


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            loader.duplicates.append((str(key), seen[key], line))
        seen.setdefault(key, line)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
FAILED = object()  # read_yaml's answer for a file it could not read


def read_yaml(
    path: Path, rel: str, problems: list[Problem], budget: ReadBudget, lines: Lines | None = None
) -> Any:
    """The file's data, or ``FAILED`` after recording why it could not be read.

    ``budget`` bounds the file and the directory it is part of (see ``limits``); the
    line of each field goes into ``lines[rel]`` when given.
    """
    try:
        text = budget.read(
            path, budget.limits.yaml_file_bytes, "move long texts into background/*.md"
        )
    except InputRefused as e:
        if not e.quiet:
            problems.append(Problem(rel, "", e.message, e.hint))
        return FAILED
    except (OSError, UnicodeDecodeError) as e:
        problems.append(Problem(rel, "", f"cannot be read: {e}"))
        return FAILED
    loader = _Loader(text, budget)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except (InputRefused, *YAML_ERRORS) as e:
        problems.append(Problem(rel, "", yaml_problem(e), getattr(e, "hint", "")))
        return FAILED
    finally:
        loader.dispose()
    if lines is not None and node is not None:
        lines[rel] = line_map(node, budget.limits.yaml_values)
    for key, first, again in loader.duplicates:
        problems.append(
            Problem(
                rel,
                key,
                f"is given twice in one mapping (lines {first} and {again})",
                "YAML would keep only the last; merge them",
            )
        )
    return data


# -- unknown fields ----------------------------------------------------------------------


def accepted_keys(model: type[BaseModel]) -> dict[str, str]:
    """Every key a model accepts (field names and aliases) -> its field name."""
    out = {}
    for name, info in model.model_fields.items():
        out[name] = name
        if isinstance(info.validation_alias, AliasChoices):
            out.update({c: name for c in info.validation_alias.choices if isinstance(c, str)})
    return out


def nested_model(annotation: Any, value: Any) -> Any:
    """The part of a field's type that ``value`` is meant to be (for unions)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            origin = typing.get_origin(arg) or arg
            if isinstance(value, dict) and (
                origin is dict or (isinstance(origin, type) and issubclass(origin, BaseModel))
            ):
                return arg
            if isinstance(value, list) and origin in (list, tuple):
                return arg
        return None
    return annotation


def strip_unknown(
    data: Any,
    model: type[BaseModel],
    file: str,
    path: list[str | int],
    problems: list[Problem],
    *,
    elsewhere: tuple[str, ...] = (),
) -> Any:
    """``data`` with canonical keys and without unknown fields (warnings), at any depth.

    ``elsewhere`` names fields that belong in other files, for the warning's hint.
    """
    if not isinstance(data, dict):
        return data
    accepted = accepted_keys(model)
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in data.items():
        where = ".".join(str(p) for p in (*path, key))
        name = accepted.get(str(key))
        if name is None:
            close = difflib.get_close_matches(str(key), list(accepted), n=1)
            hint = f"did you mean {close[0]!r}?" if close else ""
            if str(key) in elsewhere:
                hint = "it has its own file or folder in the scenario directory"
            elif value is None and not close:
                hint = "if a comma inside a {flow: mapping} split a value, quote the value"
            problems.append(Problem(file, where, "unknown field, ignored", hint, "warning"))
            continue
        if name in given:
            alias, other = (str(key), given[name]) if str(key) != name else (given[name], name)
            problems.append(
                Problem(
                    file,
                    ".".join(str(p) for p in (*path, alias)),
                    f"is another name for {other!r}, which is also given",
                    f"keep only {name!r}",
                )
            )
            continue
        given[name] = str(key)
        out[name] = _walk(value, model.model_fields[name].annotation, file, [*path, name], problems)
    return out


def _walk(
    value: Any, annotation: Any, file: str, path: list[str | int], problems: list[Problem]
) -> Any:
    annotation = nested_model(annotation, value)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return strip_unknown(value, annotation, file, path, problems)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and isinstance(value, list):
        return [_walk(v, args[0], file, [*path, i], problems) for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict):
        return {k: _walk(v, args[1], file, [*path, str(k)], problems) for k, v in value.items()}
    return value


def describe_error(err: Mapping[str, Any]) -> tuple[str, str]:
    """A pydantic error as (message, hint) in the words of a scenario file."""
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "missing":
        return "is required", ""
    if kind == "extra_forbidden":
        return "is not a known field", "check the spelling"
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if msg.startswith("Input should be"):
        msg = "should be" + msg.removeprefix("Input should be")
        if isinstance(value, str | int | float | bool) or value is None:
            msg += f", not {value!r}"
    hint = ""
    if isinstance(value, bool) and kind in ("string_type", "literal_error"):
        hint = "quote it: YAML reads yes/no/on/off/true/false as booleans"
    return msg, hint
