"""The error tree: stable codes and categories, data on attributes, and messages that
name request fields, rendered with each front end's own names."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import msgspec
import pytest

import engine.errors
import eventstore
import projections
from cli.errors import FLAGS
from eventstore import CATEGORY_STATUS, InvalidRequest, RunNotFound, ScenarioLabError
from scenario_lab.app import ScenarioInvalid, error_info


def _tree() -> list[type[ScenarioLabError]]:
    found = set()
    for module in (eventstore, engine.errors, projections):
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, ScenarioLabError):
                found.add(obj)
    return sorted(found, key=lambda c: c.__name__)


def test_every_class_of_the_tree_has_its_own_code_and_a_known_category() -> None:
    classes = _tree()
    assert len(classes) >= 18
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes), codes
    assert all(c.category in CATEGORY_STATUS for c in classes)
    # every code is documented in the tree of the base module
    doc = inspect.getmodule(ScenarioLabError).__doc__ or ""  # type: ignore[union-attr]
    assert all(c.code in doc for c in classes), [c.code for c in classes if c.code not in doc]


def test_a_template_names_fields_as_each_front_end_does() -> None:
    e = InvalidRequest(
        "{turns} {n} is out of range", hint="pass fewer {turns}", field="turns", values={"n": 0}
    )
    assert e.message == str(e) == "turns 0 is out of range"
    assert e.hint == "pass fewer turns"
    assert e.one_line(FLAGS) == "--turns 0 is out of range (pass fewer --turns)"
    assert (
        e.one_line({"turns": "turn_count"})
        == "turn_count 0 is out of range (pass fewer turn_count)"
    )


def test_user_text_in_values_is_never_read_as_a_placeholder() -> None:
    e = InvalidRequest("{models} names actor {actor!r}", values={"actor": "{turns}"})
    assert e.one_line(FLAGS) == "--model names actor '{turns}'"
    plain = ScenarioLabError("a {brace} in a plain message stays")
    assert plain.one_line(FLAGS) == "a {brace} in a plain message stays"


def test_error_info_is_the_error_as_json_ready_data() -> None:
    e = ScenarioInvalid(
        "{credit_limit} {usd} is not an amount of USD >= 0",
        hint="give a limit in USD",
        field="credit_limit",
        run_id="abc",
        values={"usd": -1.0},
    )
    info = error_info(e, FLAGS)
    assert msgspec.json.decode(msgspec.json.encode(info)) == {
        "code": "scenario-invalid",
        "category": "invalid",
        "message": "--credit-limit -1.0 is not an amount of USD >= 0",
        "hint": "give a limit in USD",
        "run_id": "abc",
        "field": "credit_limit",
        "problems": ["credit_limit -1.0 is not an amount of USD >= 0"],
    }
    assert CATEGORY_STATUS[info.category] == 422
    missing = error_info(RunNotFound("zz"))
    assert (missing.code, CATEGORY_STATUS[missing.category]) == ("run-not-found", 404)
    assert missing.run_id == "zz" and "scenario-lab runs" in (missing.hint or "")


def _raised_texts(path: Path) -> list[str]:
    """Every string written into an error a module raises (message, hint, values)."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            texts += [
                c.value
                for c in ast.walk(node.exc)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            ]
    return texts


def test_no_message_of_the_app_layer_names_a_cli_flag() -> None:
    """Errors raised by the application layer (and the engine checks it moved there)
    spell no flag, and every field they name has a flag in the CLI's one table."""
    root = Path(__file__).resolve().parent.parent
    owned = [
        root / "engine" / "play" / "session.py",
        root / "engine" / "play" / "human.py",
        *sorted((root / "scenario_lab").rglob("*.py")),
    ]
    fields: set[str] = set()
    for path in owned:
        texts = _raised_texts(path)
        flagged = [t for t in texts if re.search(r"(^|[\s(/])--[a-z]", t)]
        assert not flagged, (path, flagged)
        fields.update(re.findall(r'field="([a-z_]+)"', path.read_text()))
    # runs, cursor and scenario are arguments of the CLI, not options; the rest are
    # fields of requests only the HTTP API takes (injects, white-cell reviews, files, the
    # runs listing's status filter)
    http_only = {"description", "effects", "visible_to", "variables", "files", "status"}
    assert fields - {"cursor", "runs", "scenario"} - http_only <= set(FLAGS), fields - set(FLAGS)


@pytest.mark.parametrize("code", ["run-not-found", "turn-out-of-range", "scenario-invalid"])
def test_codes_are_stable_strings(code: str) -> None:
    assert code in {c.code for c in _tree()}


def test_a_line_quoting_hostile_input_is_cut_in_the_middle() -> None:
    name = "x" * 100_000
    err = InvalidRequest(
        f"actor {name} is not in this scenario", field="actor", hint="give one of: a, b"
    )
    line = err.one_line()
    assert len(line) < 2_100
    assert line.startswith("actor xxx") and line.endswith("(give one of: a, b)")
    assert "characters cut" in line
    assert InvalidRequest("short", field="actor").one_line() == "short"
