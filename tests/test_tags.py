"""Names and tags: given on run, fork and batch runs, kept in the log, found again by
``runs --tag``, in the analytics tables (SQL), in reports, and ``runs --tree`` folding
each batch into one line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from scenario_lab.app import ListRuns
from tests.app_helpers import make_lab
from tests.engine_helpers import DATA, RULES3, cli, last_line, one_line_error
from tests.legacy_logs import rechain

RULES_BATCH = DATA.parent / "batches" / "rules.yaml"


@pytest.fixture
def tagged(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "log.db"
    result = cli("run", RULES3, "--db", db, "--name", "baseline", "--tag", "exp-3", "--tag", "calm")
    assert result.exit_code == 0, result.output
    return db, last_line(result.stdout)


def test_name_and_tags_are_in_the_run_started_event(tagged: tuple[Path, str]) -> None:
    db, run_id = tagged
    with sqlite3.connect(db) as conn:
        version, payload = conn.execute(
            "SELECT schema_version, CAST(payload AS TEXT) FROM events "
            "WHERE run_id = ? AND type = 'RunStarted'",
            (run_id,),
        ).fetchone()
    started = json.loads(payload)
    assert version == 2
    assert started["name"] == "baseline" and started["tags"] == ["exp-3", "calm"]


def test_runs_filters_by_tag_and_forks_keep_their_parents_tags(tagged: tuple[Path, str]) -> None:
    db, run_id = tagged
    other = last_line(cli("run", RULES3, "--db", db, "--tag", "other").stdout)
    branch = last_line(
        cli("fork", run_id, "--db", db, "--at-turn", "2", "--name", "what-if", "--tag", "b").stdout
    )
    rows = json.loads(cli("runs", "--db", db, "--json", "--tag", "exp-3").stdout)
    by_id = {r["run_id"]: r for r in rows}
    assert set(by_id) == {run_id, branch}  # the fork inherits the tag; `other` has not got it
    assert by_id[run_id]["name"] == "baseline" and by_id[run_id]["tags"] == ["exp-3", "calm"]
    # a name is the run's own; tags add up along the lineage
    assert by_id[branch]["name"] == "what-if" and by_id[branch]["tags"] == ["exp-3", "calm", "b"]
    both = json.loads(cli("runs", "--db", db, "--json", "--tag", "exp-3", "--tag", "b").stdout)
    assert [r["run_id"] for r in both] == [branch]
    assert [r["run_id"] for r in json.loads(cli("runs", "--db", db, "--json").stdout)] == [
        branch,
        other,
        run_id,
    ]
    text = cli("runs", "--db", db, "--tag", "calm").stdout
    assert "baseline #exp-3 #calm" in text and other not in text
    nothing = cli("runs", "--db", db, "--tag", "nope")
    assert nothing.exit_code == 0 and "no run has the tag(s) nope" in nothing.stderr


def test_the_app_layer_filters_by_tag(tagged: tuple[Path, str]) -> None:
    db, run_id = tagged
    lab = make_lab(db.parent)
    assert [r.run_id for r in lab.list_runs(ListRuns(tags=("calm",))).runs] == [run_id]
    assert lab.list_runs(ListRuns(tags=("calm", "absent"))).runs == ()


def test_tags_are_in_the_analytics_tables_and_the_report(tagged: tuple[Path, str]) -> None:
    db, run_id = tagged
    branch = last_line(cli("fork", run_id, "--db", db, "--at-turn", "1", "--tag", "b").stdout)
    out = cli(
        "sql",
        "SELECT run_id, name, tags FROM runs WHERE list_contains(tags, 'exp-3') ORDER BY name",
        "--db",
        db,
        "--format",
        "json",
    )
    assert out.exit_code == 0, out.output
    rows = {r["run_id"]: r for r in json.loads(out.stdout)}
    assert rows[run_id]["name"] == "baseline" and rows[run_id]["tags"] == ["exp-3", "calm"]
    assert rows[branch]["name"] is None and rows[branch]["tags"] == ["exp-3", "calm", "b"]
    report = cli("report", run_id, "--db", db).stdout
    assert "| Name | baseline |" in report and "`exp-3`, `calm`" in report


def test_a_batch_gives_its_tags_to_every_run_and_the_tree_folds_it(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    solo = last_line(cli("run", RULES3, "--db", db, "--name", "solo").stdout)
    result = cli("batch", "run", RULES_BATCH, "--db", db, "--tag", "sweep")
    assert result.exit_code == 0, result.output
    batch_id = last_line(result.stdout)
    tagged = json.loads(cli("runs", "--db", db, "--json", "--tag", "sweep").stdout)
    assert len(tagged) == 16 and {r["batch_id"] for r in tagged} == {batch_id}
    tree = cli("runs", "--db", db, "--tree").stdout.splitlines()
    assert len(tree) == 3  # header, the solo run, one line for the 16 runs of the batch
    line = next(t for t in tree if batch_id in t)
    assert "Border standoff sweep" in line and "16 completed" in line and "#sweep" in line
    assert any(solo in t and "solo" in t for t in tree)
    folded = json.loads(cli("runs", "--db", db, "--tree", "--json").stdout)
    assert [bool(x.get("batch")) for x in folded].count(True) == 1


def test_fork_count_tags_every_branch_and_refuses_a_name(tagged: tuple[Path, str]) -> None:
    db, run_id = tagged
    args = ["fork", run_id, "--db", db, "--at-turn", "2", "--play", "--count", "3"]
    result = cli(*args, "--tag", "mc")
    assert result.exit_code == 0, result.output
    rows = json.loads(cli("runs", "--db", db, "--json", "--tag", "mc").stdout)
    assert len(rows) == 3 and all(r["tags"] == ["exp-3", "calm", "mc"] for r in rows)
    one_line_error(cli(*args, "--name", "x"), 2, "--name names one run", "--tag")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tag", "two words"], "--tag 'two words' must be a word"),
        (["--tag", "a,b"], "--tag 'a,b' must be a word"),
        (["--tag", ""], "--tag '' must be a word"),
        (["--name", "   "], "--name '' must be one printable line"),
        (["--name", "line\nbreak"], "must be one printable line"),
    ],
)
def test_bad_labels_are_refused_before_anything_is_recorded(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    db = tmp_path / "log.db"
    one_line_error(cli("run", RULES3, "--db", db, *args), 2, needle)
    assert not db.exists() or not json.loads(cli("runs", "--db", db, "--json").stdout or "[]")


def test_bad_tags_on_fork_and_batch_are_refused(tagged: tuple[Path, str]) -> None:
    db, run_id = tagged
    one_line_error(cli("fork", run_id, "--db", db, "--at-turn", "1", "--tag", "a b"), 2, "--tag")
    one_line_error(cli("batch", "run", RULES_BATCH, "--db", db, "--tag", "a b"), 2, "--tag")
    assert len(json.loads(cli("runs", "--db", db, "--json").stdout)) == 1


def test_version_1_run_events_read_with_no_labels(tagged: tuple[Path, str]) -> None:
    db, run_id = tagged
    # a log written before names and tags: the same payload without them, as version 1
    with sqlite3.connect(db) as conn:
        payload = conn.execute(
            "SELECT CAST(payload AS TEXT) FROM events WHERE run_id = ? AND type = 'RunStarted'",
            (run_id,),
        ).fetchone()[0]
        old = json.loads(payload)
        del old["name"], old["tags"]
        conn.execute(
            "UPDATE events SET schema_version = 1, payload = ? "
            "WHERE run_id = ? AND type = 'RunStarted'",
            (json.dumps(old).encode(), run_id),
        )
    rechain(db, run_id)  # as that version wrote it: a chain over these bytes
    rows = json.loads(cli("runs", "--db", db, "--json").stdout)
    assert rows[0]["name"] is None and rows[0]["tags"] == []
    state = json.loads(cli("replay", run_id, "--db", db, "--json").stdout)
    assert state["status"] == "completed"


def test_a_folded_batch_line_counts_what_its_runs_spent_themselves(tmp_path: Path) -> None:
    from tests.engine_helpers import LLM3, llm_env
    from tests.fakellm import FakeLLMServer

    db, prices = tmp_path / "log.db", tmp_path / "prices.json"
    prices.write_text(
        json.dumps({m: {"input": 1.0, "output": 2.0} for m in ("test/actor", "test/world")})
    )
    with FakeLLMServer() as fake:
        env = llm_env(fake.base_url)
        run_id = last_line(cli("run", LLM3, "--db", db, "--prices", prices, env=env).stdout)
        args = ["fork", run_id, "--db", db, "--at-turn", "2", "--play", "--count", "2"]
        result = cli(*args, "--prices", prices, env=env)
        assert result.exit_code == 0, result.output
    runs = json.loads(cli("runs", "--db", db, "--json").stdout)
    parent = next(r for r in runs if r["run_id"] == run_id)
    branches = [r for r in runs if r["parent_run_id"] == run_id]
    inherited = sum(  # what each branch's timeline holds of its parent's turns 0-2
        c["cost_usd"]
        for c in json.loads(
            cli(
                "sql",
                "SELECT run_id, cost_usd FROM costs WHERE inherited",
                "--db",
                db,
                "--format",
                "json",
            ).stdout
        )
    )
    tree = json.loads(cli("runs", "--db", db, "--tree", "--json").stdout)
    line = next(t["batch"] for t in tree if t.get("batch"))
    assert parent["total_cost_usd"] > 0 and line["runs"] == 2
    expected = sum(b["total_cost_usd"] for b in branches) - inherited
    assert line["own_cost_usd"] == pytest.approx(expected) and line["own_cost_usd"] > 0
