"""The notebook facade: ``scenario_lab.open`` and docs/notebook.ipynb run by a real kernel."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

import scenario_lab
from scenario_lab.app import BUNDLED_SCENARIOS, QueryError, RunNotFound, UsageError
from tests.engine_helpers import RULES3

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"
STRAIT = BUNDLED_SCENARIOS / "strait-crisis"
KERNEL = "scenario-lab-tests"


@pytest.fixture(autouse=True)
def this_interpreter_as_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel spec running this interpreter: a user's own "python3" spec may point
    at a Python without scenario-lab."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "scenario-lab tests", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


def _execute(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError at the first cell that fails
    return notebook


@pytest.mark.slow
def test_the_notebook_runs_in_a_jupyter_kernel() -> None:
    notebook = _execute(NOTEBOOK)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert "image/svg+xml" in kinds  # the chart was drawn
    assert "text/html" in kinds  # DataFrames were shown


@pytest.mark.slow
def test_a_failing_cell_fails_the_notebook_run(tmp_path: Path) -> None:
    broken = nbformat.read(NOTEBOOK, as_version=4)
    broken.cells.insert(4, nbformat.v4.new_code_cell("db.metrics('no-such-run')"))
    path = tmp_path / "broken.ipynb"
    nbformat.write(broken, path)
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="no run 'no-such-run'"):
        _execute(path)


@pytest.fixture
def db(tmp_path: Path) -> scenario_lab.Database:
    with scenario_lab.open(tmp_path / "log.db") as opened:
        yield opened


def test_run_fork_and_tables_as_pandas(db: scenario_lab.Database) -> None:
    base = db.run(STRAIT, seed=3, turns=4, name="base", tags=["nb"])
    branch = db.fork(base.run_id, 2, decisions={"eastern-power": "hotline_call"}, tags=["b"])
    assert base.status == branch.status == "completed" and branch.turns_completed == 4
    runs = db.runs(tag="nb")
    assert set(runs.run_id) == {base.run_id, branch.run_id}
    assert list(db.runs(tag="b").run_id) == [branch.run_id]
    metrics = db.metrics(branch.run_id)
    assert set(metrics.run_id) == {branch.run_id} and metrics.turn.max() == 4
    assert metrics.inherited.any() and not metrics.inherited.all()  # turns 0-2 inherited
    decisions = db.decisions(branch.run_id[:6])  # a unique prefix is enough
    forced = decisions[(decisions.turn == 3) & (decisions.actor == "eastern-power")]
    assert list(forced.action_name) == ["hotline_call"] and list(forced.brain) == ["counterfactual"]
    assert db.replay(base.run_id, turn=2).last_completed_turn == 2
    counted = db.sql("SELECT count(*) AS n FROM runs WHERE list_contains(tags, ?)", ["nb"])
    assert int(counted.n[0]) == 2
    assert "runs" in set(db.sql_schema()["table"])
    assert "| Name | base |" in db.report(base.run_id)
    unplayed = db.fork(base.run_id, 1, play=False)
    assert unplayed.status == "not_started" and unplayed.turns_completed == 1


def test_polars_and_arrow_frames(tmp_path: Path) -> None:
    import polars as pl
    import pyarrow as pa

    polars_db = scenario_lab.open(tmp_path / "log.db", frames="polars")
    run = polars_db.run(RULES3, seed=1)
    assert isinstance(polars_db.metrics(run.run_id), pl.DataFrame)
    arrow_db = scenario_lab.open(tmp_path / "log.db", frames="arrow")
    assert isinstance(arrow_db.decisions(run.run_id), pa.Table)


def test_batch_stats(db: scenario_lab.Database) -> None:
    from scenario_lab.app import BatchRunRequest

    lab = db.lab
    created = lab.create_batch(BatchRunRequest(file=str(ROOT / "tests/data/batches/rules.yaml")))
    asyncio.run(lab.play_batch(created.batch_id))
    stats = db.batch_stats(created.batch_id[:8])
    assert set(stats.variation_index) == {0, 1, 2, 3} and (stats.n == 4).all()
    assert len(db.runs(batch=created.batch_id)) == 16


def test_it_works_inside_a_running_event_loop(db: scenario_lab.Database) -> None:
    async def in_a_notebook() -> str:
        outcome = db.run(RULES3, seed=2)  # anyio.run alone would refuse here
        return outcome.status

    assert asyncio.run(in_a_notebook()) == "completed"


def test_a_missing_dataframe_library_is_one_clear_line(
    db: scenario_lab.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.run(RULES3)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(scenario_lab.MissingExtra) as caught:
        db.sql("SELECT 1 AS one")
    message = str(caught.value)
    assert "\n" not in message
    assert "pandas is not installed: pip install 'scenario-lab[notebook]'" in message


def test_bad_requests_raise_the_library_errors(db: scenario_lab.Database, tmp_path: Path) -> None:
    db.run(RULES3)
    with pytest.raises(RunNotFound):
        db.metrics("nope")
    with pytest.raises(QueryError, match="no_such_table"):
        db.sql("SELECT * FROM no_such_table")
    with pytest.raises(UsageError, match="one statement at a time"):
        db.sql("SELECT 1; SELECT 2")
    with pytest.raises(UsageError, match="unknown DataFrame kind 'excel'"):
        scenario_lab.open(tmp_path / "other.db", frames="excel")
    copy = tmp_path / "copy"
    shutil.copytree(RULES3, copy)
    (copy / "scenario.yaml").write_text("name: [unclosed\n")
    with pytest.raises(scenario_lab.app.ScenarioInvalid):
        db.run(copy)
