"""Bad arguments to run, fork, resume and estimate: one line, exit 2, nothing written;
and the next commands the CLI suggests work as printed."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.engine_helpers import LLM3, cli, last_line, llm_env, runs_json
from tests.fakellm import FakeLLMServer

SCENARIOS = Path(__file__).parent.parent / "scenarios"
STRAIT = SCENARIOS / "strait-crisis"
TABLETOP = SCENARIOS / "tabletop-human"


def _one_line_usage_error(result: object, expected: str) -> None:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert (len(err.splitlines()) == 1 and err.startswith("error: ")) or "Usage:" in err, err
    assert expected in err, err


@pytest.fixture
def played(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "log.db"
    result = cli("run", STRAIT, "--db", db, "--seed", "3")
    assert result.exit_code == 0, result.output
    return db, last_line(result.stdout)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--turns", "0"], "Invalid value for '--turns'"),
        (["--turns", "100001"], "--turns 100001 is out of range"),
        # 1 month a turn from 2031: this many turns end past the calendar
        (["--turns", "99999"], "turn 99999 would fall past the year 9999"),
        (["--credit-limit", "-1"], "Invalid value for '--credit-limit'"),
        (["--credit-limit", "nan"], "Invalid value for '--credit-limit'"),
        (["--credit-limit", "inf"], "inf is not an amount of USD"),
    ],
)
def test_run_refuses_turns_and_limits_no_run_can_play(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    db = tmp_path / "log.db"
    _one_line_usage_error(cli("run", STRAIT, "--db", db, *args), expected)
    assert not db.exists() or runs_json(db) == []


def test_a_malformed_endpoint_is_a_usage_error_before_anything_is_written(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    result = cli("run", LLM3, "--db", db, "--llm-base-url", "notaurl", env=llm_env("x"))
    _one_line_usage_error(result, "--llm-base-url 'notaurl' is not an http(s) URL")
    assert not db.exists() or runs_json(db) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--turns", "-5"], "Invalid value for '--turns'"),
        (["--model", "ghost=x"], "ghost"),
        (["--model", "techco=a", "--model", "techco=b"], "--model names techco twice"),
    ],
)
def test_estimate_checks_what_run_checks(args: list[str], expected: str) -> None:
    _one_line_usage_error(cli("estimate", LLM3, *args), expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--at-turn", "-1", "--play"], "Invalid value for '--at-turn'"),
        (
            ["--at-turn", "4", "--decision", "eastern-power=nonexistent_action"],
            "'nonexistent_action' is not one of eastern-power's actions",
        ),
        (
            [
                "--at-turn",
                "4",
                "--decision",
                "eastern-power=hotline_call",
                "--decision",
                "eastern-power=naval_patrols",
            ],
            "--decision names eastern-power twice",
        ),
        (["--at-turn", "4", "--inject", " "], "--inject needs the event's text"),
        (["--at-turn", "4", "--turns", "99999"], "would fall past the year 9999"),
    ],
)
def test_fork_refuses_what_would_silently_go_wrong(
    played: tuple[Path, str], args: list[str], expected: str
) -> None:
    db, run = played
    before = len(runs_json(db))
    _one_line_usage_error(cli("fork", run, "--db", db, *args), expected)
    assert len(runs_json(db)) == before  # no branch was recorded


def test_a_sentence_is_still_a_free_text_decision(played: tuple[Path, str]) -> None:
    db, run = played
    result = cli("fork", run, "--db", db, "--at-turn", "4", "--decision", "eastern-power=Waits.")
    assert result.exit_code == 2  # one word, not an action: refused
    ok = cli("fork", run, "--db", db, "--at-turn", "4", "--decision", "eastern-power=It waits.")
    assert ok.exit_code == 0, ok.output


def _suggested(stderr: str, label: str) -> list[str]:
    """The command after ``label`` in the CLI's hints, as argv (without the program)."""
    line = next(x for x in stderr.splitlines() if x.strip().startswith(label))
    argv = shlex.split(line.split(label, 1)[1])
    assert argv[0] == "scenario-lab"
    return argv[1:]


def test_the_resume_suggested_after_a_credit_limit_halt_works(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        env = llm_env(fake.base_url)
        # a priced model (the test models cost nothing, so never reach a limit)
        summit = SCENARIOS / "ai-summit"
        halted = cli("run", summit, "--db", db, "--turns", "1", "--credit-limit", "0", env=env)
        assert halted.exit_code == 3, halted.output  # halted: exit 3
        assert runs_json(db)[0]["halt_reason"] == "credit_limit"
        argv = _suggested(halted.stderr, "then:")
        assert argv[-4:-2] == ["--credit-limit", "1.00"] and argv[-2:] == ["--db", str(db)]
        resumed = cli(*argv, env=env)
    assert resumed.exit_code == 0, resumed.output
    assert runs_json(db)[0]["status"] == "completed"


def test_the_decide_suggested_for_a_rule_world_seat_works(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    halted = cli("run", TABLETOP, "--db", db, "--seed", "3")
    assert halted.exit_code == 3, halted.output  # halted: exit 3
    argv = _suggested(halted.stderr, "next:")
    assert "--action-name" in argv and argv[-2:] == ["--db", str(db)]
    # the placeholder is the one thing a person fills in
    argv[argv.index("...")] = "Crews restore the substations by hand."
    submitted = cli(*argv)
    assert submitted.exit_code == 0, submitted.output
    # and the refusal to resume before a decision suggests the same command
    again = cli("run", TABLETOP, "--db", db, "--seed", "4")
    run = last_line(again.stdout)
    refused = cli("resume", run, "--db", db)
    assert refused.exit_code == 3 and "--action-name manual_restoration" in refused.stderr


def test_resume_interactive_asks_the_waiting_seat_and_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    run = last_line(cli("run", TABLETOP, "--db", db, "--seed", "3").stdout)
    answers = "manual_restoration\nCrews restore the substations by hand.\nr\ng\n"
    resumed = cli("resume", run, "--db", db, "--interactive", input=answers * 10)
    assert resumed.exit_code == 0, resumed.output
    assert runs_json(db)[0]["status"] == "completed"


def test_input_ending_at_a_prompt_halts_the_run_instead_of_failing_it(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    # one answer, then the input runs dry at the next turn's prompt
    answers = "manual_restoration\nCrews restore the substations by hand.\nr\ng\n"
    result = cli("run", TABLETOP, "--db", db, "--seed", "3", "--interactive", input=answers)
    assert result.exit_code == 3, result.output  # halted: exit 3
    [summary] = runs_json(db)
    assert (summary["status"], summary["halt_reason"]) == ("halted", "human_input")
    assert summary["turns_completed"] >= 1
    more = answers * 10
    resumed = cli("resume", summary["run_id"], "--db", db, "--interactive", input=more)
    assert resumed.exit_code == 0, resumed.output
    assert runs_json(db)[0]["status"] == "completed"


@pytest.mark.parametrize("budget", ["nan", "inf"])
def test_a_batch_budget_must_be_an_amount(tmp_path: Path, budget: str) -> None:
    sweep = SCENARIOS / "strait-crisis-sweep.yaml"
    db = tmp_path / "log.db"
    result = cli("batch", "run", sweep, "--db", db, "--budget", budget)
    _one_line_usage_error(result, f"{budget} is not an amount of USD")
    assert not db.exists() or runs_json(db) == []
