"""Batch files: every mistake is one line naming the file, the field and the fix; the
matrix is the Cartesian product; a dry run prints it with its cost and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.batch.config import load_batch
from engine.batch.plan import plan_document, plan_from_document
from engine.errors import ScenarioInvalid
from engine.rng import derive_seed
from tests.test_batch_helpers import BATCHES, ENGINE_DATA, bcli, write_batch


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with copies of the test scenarios beside the batch files written in it."""
    shutil.copytree(ENGINE_DATA / "rules3", tmp_path / "rules3")
    shutil.copytree(ENGINE_DATA / "llm3", tmp_path / "llm3")
    return tmp_path


def _rules(**fields: Any) -> dict[str, Any]:
    return {"experiment_name": "x", "base_scenario": "rules3", **fields}


def _var(**spec: Any) -> dict[str, Any]:
    return {"variations": [spec]}


# (fields, the field named, what the line must also say)
ERRORS = [
    (_rules(runs_per_variaton=3), "runs_per_variaton", "did you mean 'runs_per_variation'"),
    ({"base_scenario": "rules3"}, "experiment_name", "is required"),
    (_rules(base_scenario="nowhere"), "base_scenario", "relative to the batch file"),
    (_rules(runs_per_variation=0), "runs_per_variation", "greater than or equal to 1"),
    (_rules(budget_limit=-2), "budget_limit", "greater than 0"),
    (_rules(**_var(type="actor_models", actor="north", values=[1])), "variations.0.type", "use one of actor_model"),
    (_rules(**_var(type="actor_model", actor="nort", values=["a/b"])), "variations.0.actor", "did you mean 'north'"),
    (_rules(**_var(type="actor_model", actor="north", values=["a/b"])), "variations.0.actor", "vary a control: ai actor"),
    (_rules(**_var(type="scenario_parameter", parameter="turns", values=[])), "variations.0.values", "list at least one value"),
    (_rules(**_var(type="scenario_parameter", parameter="turns", values=[2, 2])), "variations.0.values", "give each value once"),
    (_rules(**_var(type="scenario_parameter", parameter="variables.tensio.initial", values=[1])), "variations.0.values.0", "valid: tension, trade"),
    (_rules(**_var(type="scenario_parameter", parameter="variables.tension.initial", values=[20])), "variations.0.values.0", "outside [0, 10]"),
    (_rules(**_var(type="actor_parameter", parameter="preferences.tension", values=[1])), "variations.0.parameter", "actors.<actor>.<field>"),
    (_rules(**_var(type="actor_parameter", parameter="actors.nrth.preferences.tension", values=[1])), "variations.0.parameter", "did you mean 'north'"),
    (_rules(**_var(type="scenario_parameter", parameter="turns", values=[2], actr="x")), "variations.0.actr", "check the spelling"),
    (
        _rules(variations=[
            {"type": "scenario_parameter", "parameter": "turns", "values": [2]},
            {"type": "scenario_parameter", "parameter": "turns", "values": [3]},
        ]),
        "variations.1",
        "merge their values into one list",
    ),
    (
        _rules(variations=[
            {"type": "scenario_parameter", "parameter": "variables.tension.max", "values": [6, 20]},
            {"type": "scenario_parameter", "parameter": "variables.tension.initial", "values": [4, 8]},
        ]),
        "variations",
        "variables.tension.max=6, variables.tension.initial=8 is invalid",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "field", "says"), ERRORS, ids=[e[1] + ":" + e[2][:20] for e in ERRORS]
)
def test_each_batch_file_error_is_one_line_with_file_field_and_fix(
    folder: Path, fields: dict[str, Any], field: str, says: str
) -> None:
    path = write_batch(folder, "b.yaml", fields)
    result = bcli("batch", "run", path, "--db", folder / "log.db")
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: {field}: "), line
    assert says in line
    assert not (folder / "log.db").exists()


def test_unreadable_batch_files_name_the_file(folder: Path) -> None:
    (folder / "bad.yaml").write_text("a: [1\n")
    (folder / "list.yaml").write_text("- 1\n")
    for name, says in (
        ("bad.yaml", "is not valid YAML at line 2"),
        ("list.yaml", "must be a mapping of fields"),
        ("missing.yaml", "no such batch file"),
    ):
        result = bcli("batch", "run", folder / name, "--dry-run")
        assert result.exit_code == 2
        assert result.stderr.strip() == f"error: {folder / name}: {says}" or (
            result.stderr.startswith(f"error: {folder / name}: {says}")
        )


def test_every_problem_is_reported_at_once(folder: Path) -> None:
    path = write_batch(folder, "b.yaml", _rules(runs_per_variation=0, budget_limit=0, seeds=1))
    result = bcli("batch", "run", path, "--dry-run")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[2] for line in lines] == [
        "seeds",
        "runs_per_variation",
        "budget_limit",
    ]


def test_a_broken_base_scenario_is_named_with_the_validate_command(folder: Path) -> None:
    (folder / "rules3" / "scenario.yaml").write_text("name: x\nturns: 0\nactors: [north]\n")
    result = bcli("batch", "run", write_batch(folder, "b.yaml", _rules()), "--dry-run")
    assert result.exit_code == 2
    assert "base_scenario: scenario" in result.stderr and "scenario-lab validate" in result.stderr


def test_the_matrix_is_the_cartesian_product_in_replicate_major_order(folder: Path) -> None:
    path = write_batch(
        folder,
        "b.yaml",
        _rules(
            base_scenario="llm3",
            runs_per_variation=2,
            seed=9,
            variations=[
                {"type": "actor_model", "actor": "techco", "values": ["m/a", "m/b"]},
                {"type": "scenario_parameter", "parameter": "turns", "values": [2, 3, 4]},
                {
                    "type": "actor_parameter",
                    "actor": "ngo",
                    "parameter": "decision_style",
                    "values": ["Bold"],
                },
            ],
        ),
    )
    plan = load_batch(path)
    assert len(plan.variations) == 6 and len(plan.runs) == 12
    assert [v.label for v in plan.variations[:2]] == [
        {"techco.model": "m/a", "turns": 2, "actors.ngo.decision_style": "Bold"},
        {"techco.model": "m/a", "turns": 3, "actors.ngo.decision_style": "Bold"},
    ]
    last = plan.variations[5]
    assert last.model_overrides == {"techco": "m/b"}
    assert last.loaded is not None and last.loaded.scenario.turns == 4
    assert last.loaded.scenario.actors["ngo"].decision_style == "Bold"
    assert [(r.variation, r.replicate) for r in plan.runs[5:8]] == [(5, 0), (0, 1), (1, 1)]
    assert [r.seed for r in plan.runs] == [derive_seed(9, i, "batch") for i in range(12)]
    assert len({r.run_id for r in plan.runs}) == 12
    again = plan_from_document(plan_document(plan))
    assert [v.scenario_sha256 for v in again.variations] == [
        v.scenario_sha256 for v in plan.variations
    ]
    assert again.runs == plan.runs and again.config_sha256() == plan.config_sha256()


def test_scenario_labs_dict_form_and_output_fields_are_accepted() -> None:
    plan = load_batch(BATCHES / "legacy.yaml")
    assert [v.model_overrides for v in plan.variations] == [
        {"regulator": "test/small", "ngo": "test/small"},
        {"regulator": "test/large", "ngo": "test/small"},
    ]
    assert any("output_dir: ignored" in w for w in plan.warnings)
    assert any("timeout_per_run: ignored" in w for w in plan.warnings)


def test_a_base_scenario_relative_to_the_working_directory_still_loads_with_a_warning(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "experiments").mkdir()
    path = write_batch(folder / "experiments", "b.yaml", _rules())
    monkeypatch.chdir(folder)
    plan = load_batch(path)
    assert any("relative to the working directory" in w for w in plan.warnings)


def test_budget_option_replaces_the_files_budget(folder: Path) -> None:
    path = write_batch(folder, "b.yaml", _rules(budget_limit=3))
    assert load_batch(path).budget_usd == 3
    assert load_batch(path, budget_usd=0.5).budget_usd == 0.5
    with pytest.raises(ScenarioInvalid, match="must be more than 0"):
        load_batch(path, budget_usd=0)


def test_dry_run_prints_the_matrix_and_estimate_and_writes_nothing(folder: Path) -> None:
    prices = folder / "prices.json"
    prices.write_text(
        '{"m/a": {"input": 1, "output": 2}, "m/b": {"input": 10, "output": 20}, '
        '"test/actor": {"input": 1, "output": 2}, "test/world": {"input": 1, "output": 2}}'
    )
    path = write_batch(
        folder,
        "b.yaml",
        _rules(
            base_scenario="llm3",
            runs_per_variation=3,
            budget_limit=0.001,
            variations=[{"type": "actor_model", "actor": "techco", "values": ["m/a", "m/b"]}],
        ),
    )
    db = folder / "log.db"
    result = bcli("batch", "run", path, "--dry-run", "--db", db, "--prices", prices)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "matrix: 2 variation(s) x 3 run(s) = 6 runs" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[5] for r in rows] == ["techco.model=m/a", "techco.model=m/b"]
    per_run = [float(r[3]) for r in rows]
    assert 0 < per_run[0] < per_run[1]  # the dearer model costs more
    total = float(out.split("estimated cost: $")[1].split()[0])
    assert total == pytest.approx(3 * sum(per_run), abs=1e-3)
    assert "over the budget" in result.stderr and "nothing was written" in result.stderr
    assert not db.exists() and not (folder / "log.db.locks").exists()


def test_dry_run_leaves_an_existing_log_untouched(folder: Path) -> None:
    db = folder / "log.db"
    path = write_batch(folder, "b.yaml", _rules())
    from eventstore import EventStore

    EventStore.open(db).close()
    before = db.read_bytes()
    result = bcli("batch", "run", path, "--dry-run", "--db", db)
    assert result.exit_code == 0, result.output
    assert db.read_bytes() == before
