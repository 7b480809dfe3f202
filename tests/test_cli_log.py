"""The log commands through the real CLI: runs, log, replay, fork, verify, validate."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.engine_helpers import RULES3, cli, last_line


@pytest.fixture
def played(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "log.db"
    result = cli("run", RULES3, "--db", db, "--seed", "5")
    assert result.exit_code == 0, result.output
    return db, last_line(result.stdout)


def _one_line_error(result: object, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    for needle in needles:
        assert needle in err


def test_runs_json_has_the_documented_keys(played: tuple[Path, str]) -> None:
    db, run_id = played
    branch = last_line(cli("fork", run_id, "--db", db, "--at-turn", "2").stdout)
    rows = json.loads(cli("runs", "--db", db, "--json").stdout)
    assert [r["run_id"] for r in rows] == [branch, run_id]  # newest first
    keys = {
        "run_id",
        "scenario",
        "parent_run_id",
        "fork_turn",
        "status",
        "halt_reason",
        "turns_completed",
        "total_cost_usd",
        "created_at",
    }
    assert all(keys <= set(r) for r in rows)
    by_id = {r["run_id"]: r for r in rows}
    assert by_id[run_id]["status"] == "completed" and by_id[run_id]["turns_completed"] == 4
    assert by_id[branch]["parent_run_id"] == run_id and by_id[branch]["fork_turn"] == 2
    assert by_id[branch]["status"] == "not_started"  # created, not played: resume plays it
    assert by_id[branch]["scenario"] == "Border standoff (test)"
    tree = cli("runs", "--db", db, "--tree").stdout
    assert tree.index(run_id) < tree.index(branch) and f"fork of {run_id} at turn 2" in tree


def test_log_filters_and_json(played: tuple[Path, str]) -> None:
    db, run_id = played
    lines = cli(
        "log", run_id, "--db", db, "--turn", "2", "--type", "DecisionMade"
    ).stdout.splitlines()
    assert len(lines) == 3 and all("DecisionMade" in line for line in lines)
    south = cli("log", run_id, "--db", db, "--actor", "south", "--json").stdout.splitlines()
    records = [json.loads(line) for line in south]
    assert records and all(r["actor"] == "south" for r in records)
    assert {"position", "seq", "turn", "type", "payload", "hash", "event_id"} <= set(records[0])
    prefix = cli("log", run_id[:6], "--db", db, "--turn", "0")
    assert prefix.exit_code == 0 and "RunStarted" in prefix.stdout


def test_replay_text_and_json(played: tuple[Path, str]) -> None:
    db, run_id = played
    text = cli("replay", run_id, "--db", db, "--turn", "2").stdout
    assert "turn: 2 completed of 4" in text and "tension" in text
    data = json.loads(cli("replay", run_id, "--db", db, "--json").stdout)
    assert data["status"] == "completed" and data["last_completed_turn"] == 4
    assert set(data["world"]["variables"]) == {"tension", "trade"}


def test_fork_prints_the_branch_id_last(played: tuple[Path, str]) -> None:
    db, run_id = played
    result = cli("fork", run_id, "--db", db, "--at-turn", "0")
    branch = last_line(result.stdout)
    assert result.exit_code == 0 and branch != run_id
    log = cli("log", branch, "--db", db).stdout
    assert "RunForked" in log and log.count("TurnCompleted") == 1  # only the shared setup


def test_verify_finds_a_tampered_event(played: tuple[Path, str]) -> None:
    db, run_id = played
    assert cli("verify", "--db", db).exit_code == 0
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'offers talks', 'declares war') AS BLOB) "
            "WHERE type = 'DecisionMade' AND CAST(payload AS TEXT) LIKE '%offers talks%'"
        )
        pos = conn.execute(
            "SELECT min(position) FROM events WHERE CAST(payload AS TEXT) LIKE '%declares war%'"
        ).fetchone()[0]
    assert pos is not None
    result = cli("verify", run_id, "--db", db)
    assert result.exit_code == 1
    assert f"BROKEN at position {pos}" in result.stdout


def test_verify_finds_events_cut_from_the_end(played: tuple[Path, str]) -> None:
    db, run_id = played
    with sqlite3.connect(db) as conn:
        last = conn.execute("SELECT max(seq) FROM events WHERE run_id = ?", (run_id,)).fetchone()[0]
        conn.execute("DELETE FROM events WHERE run_id = ? AND seq >= ?", (run_id, last - 1))
    result = cli("verify", run_id, "--db", db)
    assert result.exit_code == 1
    assert f"BROKEN at seq {last - 1}: events seq {last - 1}..{last} are missing" in result.stdout


def test_unknown_run_is_a_usage_error(played: tuple[Path, str]) -> None:
    db, _run_id = played
    for command in (["log"], ["replay"], ["verify"], ["fork", "--at-turn", "1"], ["resume"]):
        _one_line_error(
            cli(command[0], "nope", "--db", db, *command[1:]),
            2,
            "no run 'nope'",
            "scenario-lab runs",
        )


def test_missing_log_file(tmp_path: Path) -> None:
    _one_line_error(cli("runs", "--db", tmp_path / "absent.db"), 1, "no log at", "--db")
    assert not (tmp_path / "absent.db").exists()


def test_corrupt_log_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    _one_line_error(cli("runs", "--db", bad), 1, str(bad), "not a scenario-lab log")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    _one_line_error(cli("log", "x", "--db", other), 1, "not a scenario-lab log")


def test_turn_out_of_range(played: tuple[Path, str]) -> None:
    db, run_id = played
    _one_line_error(cli("replay", run_id, "--db", db, "--turn", "9"), 2, "has no turn 9", "0 to 4")
    _one_line_error(cli("log", run_id, "--db", db, "--turn", "9"), 2, "has no turn 9")
    for args in (["--turn", "9"], ["--turn", "-1"]):
        _one_line_error(cli("audit", run_id, "--db", db, *args), 2, f"has no turn {args[1]}")


def test_a_filter_on_an_actor_the_run_does_not_have_is_refused(played: tuple[Path, str]) -> None:
    db, run_id = played
    for command in ("log", "audit"):
        result = cli(command, run_id, "--db", db, "--actor", "nobody")
        _one_line_error(result, 2, "has no actor 'nobody'", "actors: ")


def test_fork_of_an_unfinished_turn(played: tuple[Path, str]) -> None:
    db, run_id = played
    _one_line_error(
        cli("fork", run_id, "--db", db, "--at-turn", "5"), 2, "has not completed turn 5", "0 to 4"
    )


def test_unknown_event_type(played: tuple[Path, str]) -> None:
    db, run_id = played
    _one_line_error(cli("log", run_id, "--db", db, "--type", "Nonsense"), 2, "unknown event type")


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(RULES3, broken)
    text = (
        (broken / "scenario.yaml")
        .read_text()
        .replace("actors: [north, south, broker]", "actors: [north, south, broker, ghost]")
    )
    text = text.replace("turn_duration: 1 month", "turn_duration: fortnightly\ncolour: blue")
    (broken / "scenario.yaml").write_text(text)
    (broken / "actors" / "north.yaml").write_text(
        (broken / "actors" / "north.yaml").read_text().replace("control: rules", "control: robot")
    )
    result = cli("validate", broken)
    assert result.exit_code == 1
    out = result.stdout
    assert (
        "scenario.yaml:8: actors.3: lists 'ghost', which is neither an actor's short_name nor a file in actors/"
        in out
    )
    assert "scenario.yaml:5: turn_duration:" in out and "'N unit'" in out
    assert "warning: scenario.yaml:6: colour: unknown field" in out
    assert "actors/north.yaml:4: control:" in out
    run = cli("run", broken, "--db", tmp_path / "x.db")
    _one_line_error(run, 2, "turn_duration", "and 2 more", "scenario-lab validate")
    assert not (tmp_path / "x.db").exists()


def test_validate_missing_directory(tmp_path: Path) -> None:
    result = cli("validate", tmp_path / "nowhere")
    assert result.exit_code == 1 and "is not a scenario directory" in result.stdout


def test_a_suggested_command_names_the_log_unless_it_is_the_default() -> None:
    from cli.common import command

    assert command("resume abc", Path("scenario-lab.db")) == "scenario-lab resume abc"
    assert command("resume abc", Path("runs/x.db")) == "scenario-lab resume abc --db runs/x.db"
    assert command("resume abc", Path("my runs/x.db")) == (
        "scenario-lab resume abc --db 'my runs/x.db'"
    )
