"""The format reference and the JSON Schemas: generated from the models, current, and
true to the files the project ships (an editor using them flags nothing in them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from cli.commands_scenario import SCHEMA_KINDS
from engine.formats.reference import DOCS_PATH, render_reference
from engine.formats.schema import KINDS, file_models, json_schema
from engine.scenario.starter import init_scenario
from tests.engine_helpers import cli

ROOT = Path(__file__).parent.parent
SCENARIOS = ROOT / "scenarios"


def test_reference_file_is_up_to_date() -> None:
    assert DOCS_PATH.read_text() == render_reference(), (
        "docs/scenario-format.md is out of date: run `python -m engine.formats.reference`"
    )


def test_reference_check_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "engine.formats.reference", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")


def _objects(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"(file)": schema, **schema.get("$defs", {})}


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_is_described_and_in_the_reference(kind: str) -> None:
    text = render_reference()
    for name, obj in _objects(json_schema(kind)).items():
        assert obj.get("description"), f"{kind}: {name} has no description"
        for field, spec in obj["properties"].items():
            assert spec.get("description"), f"{kind}: {name}.{field} has no description"
            assert f"| `{field}` |" in text
        if name != "(file)":
            assert f"### {name}\n" in text


def test_the_kinds_are_the_same_everywhere() -> None:
    assert tuple(file_models()) == KINDS
    assert ", ".join(KINDS) == SCHEMA_KINDS  # the CLI's help, kept without importing engine


def test_the_reference_documents_batch_variations_and_expressions() -> None:
    text = render_reference()
    for needed in ("`actor_parameter`", "`scenario_parameter`", "`actor_model`", "actor_models"):
        assert needed in text
    assert "## Expressions" in text and "`clamp`" in text and "`turn`" in text


# -- the schemas against real files ------------------------------------------------------


def _validator(kind: str) -> Draft202012Validator:
    schema = json_schema(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(kind: str, path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text())
    return [
        f"{path}: {'.'.join(map(str, e.path))}: {e.message}"
        for e in _validator(kind).iter_errors(data)
    ]


def _scenario_files(root: Path) -> list[tuple[str, Path]]:
    files = [("scenario", root / "scenario.yaml")]
    files += [("actor", p) for p in sorted((root / "actors").glob("*.yaml"))]
    for kind, name in (
        ("metrics", "metrics.yaml"),
        ("validation", "validation-rules.yaml"),
        ("exogenous", "exogenous-events.yaml"),
    ):
        if (root / name).exists():
            files.append((kind, root / name))
    return files


@pytest.mark.parametrize("name", ["strait-crisis", "ai-summit", "tabletop-human"])
def test_every_bundled_scenario_file_fits_its_schema(name: str) -> None:
    errors = [e for kind, path in _scenario_files(SCENARIOS / name) for e in _errors(kind, path)]
    assert errors == []


def test_every_batch_file_fits_the_batch_schema() -> None:
    batches = [
        SCENARIOS / "strait-crisis-sweep.yaml",
        *sorted((ROOT / "tests" / "data" / "batches").glob("*.yaml")),
    ]
    batches.append(ROOT / "tests" / "data" / "scenario-lab" / "experiments" / "town-ai-models.yaml")
    assert [e for path in batches for e in _errors("batch", path)] == []


@pytest.mark.parametrize("kind", ["rules", "llm", "human"])
def test_every_starter_file_fits_its_schema(kind: str, tmp_path: Path) -> None:
    init_scenario(tmp_path / "s", kind)
    assert [e for k, path in _scenario_files(tmp_path / "s") for e in _errors(k, path)] == []


REJECTED = [
    ("actor", {"name": "A", "control": "robot"}, "'robot' is not one of"),
    ("actor", {"name": "A", "prefrences": {}}, "Additional properties are not allowed"),
    ("actor", {"name": "A", "preferences": {"tension": [1]}}, "is not valid under any"),
    ("scenario", {"name": "S", "turns": 0}, "less than the minimum of 1"),
    (
        "exogenous",
        {"random_events": [{"name": "x", "probability": 2}]},
        "2 is not valid under any of the given schemas",
    ),
    (
        "batch",
        {"experiment_name": "x", "base_scenario": "s", "variations": [{"type": "actor_modl"}]},
        "is not valid under any",
    ),
]


@pytest.mark.parametrize(("kind", "data", "why"), REJECTED)
def test_a_schema_flags_what_the_loader_would(kind: str, data: dict[str, Any], why: str) -> None:
    messages = [e.message for e in _validator(kind).iter_errors(data)]
    assert any(why in m for m in messages), messages


def test_aliases_are_in_the_schema() -> None:
    properties = json_schema("actor")["properties"]
    assert (
        properties["model"]["description"] == "Another name for `llm_model`; give only one of them."
    )
    assert "num_turns" in json_schema("scenario")["properties"]


# -- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_schema_command_prints_canonical_json(kind: str) -> None:
    result = cli("schema", kind)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json_schema(kind)
    assert (
        result.stdout
        == json.dumps(json_schema(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def test_schema_command_defaults_to_scenario_and_refuses_an_unknown_kind() -> None:
    assert json.loads(cli("schema").stdout)["title"] == "scenario.yaml"
    result = cli("schema", "actors")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "error: no schema named 'actors' (choose one of scenario, actor, metrics, validation, "
        "exogenous, batch)\n"
    )
