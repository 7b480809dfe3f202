"""A fork recorded without ``--play`` never began a turn: every front end lists it as
``not_started`` (not ``interrupted``, which means a process died while playing it) and
says that ``resume`` plays it; once resumed it plays like any other run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.engine_helpers import cli, last_line, payloads
from tests.server_helpers import bearer, live, make_world


def _fork(db: Path, run: str, *extra: str) -> tuple[str, str]:
    """Fork ``run`` at turn 3 without playing; (branch id, what it said on stderr)."""
    made = cli("fork", run, "--at-turn", "3", "--seed", "11", "--db", db, *extra)
    assert made.exit_code == 0, made.output
    return last_line(made.stdout), made.stderr


def test_the_cli_says_a_fork_made_without_play_is_not_started_and_how_to_start_it(
    tmp_path: Path,
) -> None:
    w = make_world(tmp_path)
    branch, said = _fork(w.db, w.strait)
    assert said.strip() == (
        f"branch {branch} of {w.strait} at turn 3, not started: "
        f"`scenario-lab resume {branch} --db {w.db}` plays it"
    )

    listed = cli("runs", "--json", "--db", w.db)
    status = {r["run_id"]: r["status"] for r in json.loads(listed.stdout)}
    assert status[branch] == "not_started" and status[w.strait] == "completed"
    tree = cli("runs", "--tree", "--db", w.db)
    row = next(line for line in tree.stdout.splitlines() if branch in line)
    assert "not_started" in row and "interrupted" not in row
    assert f"`scenario-lab resume {branch} --db {w.db}` plays it" in tree.stderr
    sql = cli("sql", f"SELECT status FROM runs WHERE run_id = '{branch}'", "--db", w.db)
    assert "not_started" in sql.stdout, sql.output

    resumed = cli("resume", branch, "--db", w.db)
    assert resumed.exit_code == 0, resumed.output
    events = payloads(w.db, branch)
    started = [p for _t, kind, p in events if kind == "RunResumed"]
    assert [p["detail"] for p in started] == ["starting it"]  # not "after interruption"
    listed = cli("runs", "--json", "--db", w.db)
    assert {r["run_id"]: r["status"] for r in json.loads(listed.stdout)}[branch] == "completed"
    assert "not started" not in cli("runs", "--db", w.db).stderr


def test_runs_help_explains_the_statuses() -> None:
    shown = " ".join(cli("runs", "--help").stdout.split())
    assert "not_started (a fork recorded without --play)" in shown
    assert "`resume RUN` starts a not_started run" in shown


def test_several_runs_not_started_get_one_hint(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    _fork(w.db, w.strait)
    _fork(w.db, w.strait)
    said = cli("runs", "--db", w.db).stderr
    assert f"2 runs were recorded but not started: `scenario-lab resume RUN --db {w.db}`" in said


def test_a_run_that_died_in_its_first_turn_stays_interrupted(tmp_path: Path) -> None:
    """Only a run that never began a turn of its own is not started: one whose process
    died inside a turn it began is interrupted, as before."""
    from eventstore import EventStore, TurnStarted

    w = make_world(tmp_path)
    branch, _ = _fork(w.db, w.strait)
    with EventStore.open(w.db) as store:
        store.append(branch, [TurnStarted(turn=4)], expected_seq=store.last_seq(branch))
    listed = json.loads(cli("runs", "--json", "--db", w.db).stdout)
    assert {r["run_id"]: r["status"] for r in listed}[branch] == "interrupted"


def test_the_api_lists_and_filters_a_run_not_started(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    branch, _ = _fork(w.db, w.strait)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        page = c.get("/api/v1/runs", params={"status": "not_started"})
        assert page.status_code == 200, page.text
        assert [r["run_id"] for r in page.json()["runs"]] == [branch]
        interrupted = c.get("/api/v1/runs", params={"status": "interrupted"}).json()["runs"]
        assert branch not in [r["run_id"] for r in interrupted]
        one = c.get(f"/api/v1/runs/{branch}")
        assert one.status_code == 200 and one.json()["status"] == "not_started"
        bad = c.get("/api/v1/runs", params={"status": "sleeping"})
        assert bad.status_code == 422 and "not_started" in bad.text
