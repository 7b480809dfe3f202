"""Mistakes a new user makes, each answered with one error line that names what was
wrong and the fix (found by trying the CLI as a new user would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine_helpers import cli, last_line, one_line_error

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
STRAIT = SCENARIOS / "strait-crisis"


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A log with one completed strait-crisis run (10 turns): (log, run id)."""
    db = tmp_path_factory.mktemp("mistakes") / "log.db"
    done = cli("run", STRAIT, "--seed", "7", "--db", db)
    assert done.exit_code == 0, done.output
    return db, last_line(done.stdout)


def test_run_given_the_scenario_yaml_says_to_give_its_folder(tmp_path: Path) -> None:
    result = cli("run", STRAIT / "scenario.yaml", "--db", tmp_path / "log.db")
    one_line_error(
        result, 2, "is not a scenario directory", f"give the folder that holds it: {STRAIT}"
    )


def test_run_of_a_missing_folder_says_there_is_none(tmp_path: Path) -> None:
    result = cli("run", tmp_path / "nope", "--db", tmp_path / "log.db")
    one_line_error(result, 2, "nope: is not a scenario directory", "no such folder")


def test_batch_run_given_a_scenario_folder_says_which_command_plays_it(tmp_path: Path) -> None:
    result = cli("batch", "run", STRAIT, "--db", tmp_path / "log.db")
    one_line_error(
        result, 2, "is a folder, not a batch file", "a scenario folder plays with `scenario-lab run"
    )
    assert "device or pipe" not in result.stderr  # the old, wrong hint


def test_sql_that_writes_is_refused_with_what_to_do_instead(played: tuple[Path, str]) -> None:
    db, _ = played
    for statement in ("DROP TABLE runs", "CREATE TABLE x AS SELECT 1"):
        result = cli("sql", statement, "--db", db)
        one_line_error(result, 1, "sql is read-only", "`scenario-lab export`")
        assert "sql --schema" not in result.stderr  # a schema listing would not help


def test_compare_with_one_run_says_what_it_needs(played: tuple[Path, str]) -> None:
    db, run_id = played
    result = cli("compare", run_id, "--db", db)
    one_line_error(result, 2, "compare needs at least two runs", "give two or more run ids")


def test_a_fork_past_the_last_turn_names_the_turns_it_may_use(played: tuple[Path, str]) -> None:
    db, run_id = played
    result = cli("fork", run_id, "--at-turn", "99", "--db", db)
    one_line_error(
        result,
        2,
        f"run {run_id} has not completed turn 99; last completed turn: 10",
        "(fork at a completed turn, 0 to 10)",
    )


def test_decide_for_a_rule_actor_says_its_control_and_how_to_take_the_seat(
    played: tuple[Path, str],
) -> None:
    db, run_id = played
    result = cli("decide", run_id, "--actor", "eastern-power", "--action", "x", "--db", db)
    one_line_error(
        result,
        2,
        f"'eastern-power' is not a human seat in run {run_id}: its control is rules",
        "fork the run with --human eastern-power",
    )


def test_a_bad_price_says_the_shape_once(tmp_path: Path) -> None:
    result = cli("estimate", SCENARIOS / "ai-summit", "--price", "foo")
    one_line_error(
        result,
        2,
        "--price takes MODEL=IN,OUT or MODEL=IN,OUT,CACHED",
        "got 'foo' (e.g. --price openai/gpt-4o-mini=0.15,0.6,0.075)",
    )


def test_resume_help_says_it_starts_a_fork_made_without_play() -> None:
    shown = cli("resume", "--help").stdout
    assert "start a fork recorded without --play" in " ".join(shown.split())


def test_sql_schema_of_one_table_lists_its_columns_and_names_the_tables_if_unknown(
    played: tuple[Path, str],
) -> None:
    db, _ = played
    shown = cli("sql", "--schema", "runs", "--db", db, "-f", "csv")
    assert shown.exit_code == 0, shown.output
    tables = {line.split(",")[0] for line in shown.stdout.splitlines()[1:]}
    assert tables == {"runs"}
    everything = cli("sql", "--schema", "--db", db, "-f", "csv").stdout
    assert len(everything.splitlines()) > len(shown.stdout.splitlines())
    result = cli("sql", "--schema", "nope", "--db", db)
    one_line_error(result, 2, "there is no table 'nope'", "tables: events,", "runs")


def test_runs_in_a_new_folder_says_how_to_make_a_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventstore import EventStore

    monkeypatch.chdir(tmp_path)  # no scenarios/ here: the bundled example is elsewhere
    result = cli("runs")
    one_line_error(result, 1, "no log at scenario-lab.db", "`scenario-lab init DIR` writes one")
    with EventStore.open(tmp_path / "scenario-lab.db", create=True):
        pass
    empty = cli("runs")
    assert empty.exit_code == 0, empty.output
    assert empty.stderr.strip() == (
        "no runs yet: `scenario-lab init DIR` writes a scenario, `scenario-lab run DIR` plays it"
    )
    monkeypatch.chdir(SCENARIOS.parent)  # the repository's top folder: its example
    assert (
        "scenario-lab run scenarios/strait-crisis"
        in cli("runs", "--db", tmp_path / "scenario-lab.db").stderr
    )


def test_init_where_no_folder_can_be_made_says_so_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = cli("init", tmp_path / "afile" / "new")
    one_line_error(
        result, 2, f"cannot write {tmp_path / 'afile' / 'new'}", "give a folder you can write"
    )


def test_validate_given_a_batch_file_says_how_batch_files_are_checked(tmp_path: Path) -> None:
    result = cli("validate", SCENARIOS / "strait-crisis-sweep.yaml")
    assert result.exit_code == 1
    assert "a batch file is checked with `scenario-lab batch run FILE --dry-run`" in result.stdout


def test_a_folder_given_as_the_log_is_named_as_one(tmp_path: Path) -> None:
    for args in (("runs",), ("run", STRAIT)):
        result = cli(*args, "--db", tmp_path)
        one_line_error(result, 1, f"{tmp_path} is a folder, not a log", "give --db a file")
        assert "free space" not in result.stderr  # the old, wrong hint


def test_export_into_a_file_says_a_file_is_in_the_way(played: tuple[Path, str]) -> None:
    db, run_id = played
    in_the_way = db.parent / "taken"
    in_the_way.write_text("x")
    result = cli("export", run_id, "--db", db, "-o", in_the_way)
    one_line_error(result, 1, "cannot create the folder", "a file is in the way", "-o/--out")


def test_a_missing_price_file_is_named_once(tmp_path: Path) -> None:
    result = cli("estimate", SCENARIOS / "ai-summit", "--prices", tmp_path / "none.json")
    one_line_error(result, 2, f"cannot read price file {tmp_path / 'none.json'}: No such file")
    assert "Errno" not in result.stderr
