"""``--json`` and ``-o/--out`` work the same on every command that prints data: JSON
that parses, and ``-o FILE`` writing exactly what stdout would have shown (and nothing
on stdout). Every command is either such a data command or an action that prints only
the id it made: a new command must be put in one of the two lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from cli.app import app
from tests.engine_helpers import cli, last_line

ROOT = Path(__file__).resolve().parent.parent
STRAIT = ROOT / "scenarios" / "strait-crisis"
RULES_BATCH = ROOT / "tests" / "data" / "batches" / "rules.yaml"

# commands that print data: each takes --json and -o/--out
DATA = {
    "validate",
    "estimate",
    "replay",
    "runs",
    "log",
    "verify",
    "audit",
    "sql",
    "compare",
    "export",
    "batch list",
    "batch show",
    "batch run",  # its --dry-run plan
    "interview",  # the answer (needs a model: test_interview_writes_its_answer_to_out)
}
# -o only: a document (markdown or HTML) or a JSON Schema, JSON by nature
OUT_ONLY = {"report", "schema"}
# commands that act and print the id they made (or nothing)
ACTIONS = {"run", "resume", "fork", "decide", "project", "init", "batch resume"}
DATA |= {"users list", "keys list"}  # the server's accounts (tests/test_cli_accounts*.py)
# the server's commands that act: serve runs until stopped; the others print a line
# on stderr (keys create prints its key once, on stdout, and nothing else)
SERVER = {"serve", "users add", "users remove", "keys create", "keys revoke"}


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group of subcommands
            out |= _commands(command, f"{prefix}{name} ")
        else:
            out[f"{prefix}{name}"] = command
    return out


def _options(command: Any) -> set[str]:
    return {o for p in command.params for o in getattr(p, "opts", ())}


def test_every_command_is_classified_and_data_commands_take_json_and_out() -> None:
    commands = _commands(typer.main.get_group(app))
    assert set(commands) == DATA | OUT_ONLY | ACTIONS | SERVER
    for name in DATA:
        assert {"--json", "--out", "-o"} <= _options(commands[name]), name
    for name in OUT_ONLY:
        assert {"--out", "-o"} <= _options(commands[name]), name


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A log with a run, a branch of it and a small rule batch."""
    tmp = tmp_path_factory.mktemp("out")
    db = tmp / "log.db"
    run_id = last_line(cli("run", STRAIT, "--db", db, "--turns", "3").stdout)
    branch = last_line(
        cli("fork", run_id, "--at-turn", "1", "--seed", "9", "--play", "--db", db).stdout
    )
    batch = cli("batch", "run", RULES_BATCH, "--db", db, "--parallel", "1")
    assert batch.exit_code == 0, batch.output
    return {"db": db, "tmp": tmp, "run": run_id, "branch": branch, "batch": last_line(batch.stdout)}


# (args with {run}/{branch}/{batch}/{db}/{tmp} filled in, JSON lines or one document)
# compare without --json is a document: `test_documents_go_to_the_out_file`
CASES: list[tuple[list[str], bool]] = [
    (["validate", str(STRAIT)], False),
    (["estimate", str(STRAIT)], False),
    (["replay", "{run}", "--turn", "2", "--db", "{db}"], False),
    (["replay", "{run}", "--check", "--db", "{db}"], False),
    (["runs", "--db", "{db}"], False),
    (["log", "{run}", "--turn", "1", "--db", "{db}"], True),
    (["verify", "--db", "{db}"], False),
    (["audit", "{run}", "--turn", "1", "--db", "{db}"], True),
    (["sql", "SELECT run_id FROM runs ORDER BY run_id", "--db", "{db}"], False),
    (["compare", "{run}", "{branch}", "--json", "--db", "{db}"], False),
    (["batch", "list", "--db", "{db}"], False),
    (["batch", "show", "{batch}", "--db", "{db}"], False),
    (["batch", "run", str(RULES_BATCH), "--dry-run", "--db", "{db}"], False),
]


def _fill(args: list[str], log: dict[str, Any]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in log.items()}) for a in args]


@pytest.mark.parametrize(("args", "lines"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_json_parses_and_out_writes_what_stdout_shows(
    log: dict[str, Any], args: list[str], lines: bool
) -> None:
    args = _fill(args, log)
    for extra in ([], ["--json"]) if "--json" not in args else ([],):
        shown = cli(*args, *extra)
        assert shown.exit_code == 0, shown.output
        if extra:
            docs = shown.stdout.splitlines() if lines else [shown.stdout]
            assert docs and all(json.loads(d) is not None for d in docs), shown.stdout
        target = log["tmp"] / f"{args[0]}-{len(extra)}.out"
        written = cli(*args, *extra, "-o", target)
        assert written.exit_code == 0, written.output
        assert written.stdout == "" and f"wrote {target}" in written.stderr
        assert target.read_text() == shown.stdout


def test_export_takes_out_as_its_folder_and_json_lists_the_files(log: dict[str, Any]) -> None:
    folder = log["tmp"] / "exported"
    result = cli("export", "--format", "csv", "-o", folder, "--json", "--db", log["db"])
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)
    assert files and all(Path(f).parent == folder and Path(f).exists() for f in files)


@pytest.mark.parametrize(
    "command",
    [
        ["report", "{run}", "--db", "{db}"],
        ["compare", "{run}", "{branch}", "--db", "{db}"],
        ["schema", "actor"],
    ],
)
def test_documents_go_to_the_out_file(log: dict[str, Any], command: list[str]) -> None:
    """A report or comparison written with -o has its charts as SVG files beside it
    (printed, they are Mermaid): the same text otherwise."""
    args = _fill(command, log)
    target = log["tmp"] / f"{args[0]}.md"
    shown = cli(*args)
    result = cli(*args, "--out", target)
    assert result.exit_code == 0 and result.stdout == "", result.output
    assert f"wrote {target}" in result.stderr
    first = shown.stdout.splitlines()[:3]
    assert first and target.read_text().splitlines()[:3] == first


def test_a_failing_command_leaves_no_out_file_and_an_unwritable_one_is_one_line(
    log: dict[str, Any],
) -> None:
    target = log["tmp"] / "never.json"
    failed = cli("replay", "nosuchrun", "--db", log["db"], "-o", target)
    assert failed.exit_code != 0 and not target.exists()
    blocked = cli("runs", "--db", log["db"], "-o", log["tmp"] / "missing-dir" / "x.txt")
    err = blocked.stderr.strip()
    assert (
        blocked.exit_code == 1
        and err.startswith("error: cannot write")
        and len(err.splitlines()) == 1
    )


def test_an_invalid_scenario_still_writes_its_problems_with_exit_1(tmp_path: Path) -> None:
    target = tmp_path / "problems.json"
    result = cli("validate", tmp_path, "--json", "-o", target)
    assert result.exit_code == 1
    found = json.loads(target.read_text())
    assert found["valid"] is False and found["errors"] >= 1 and found["problems"]


def test_json_with_a_conflicting_format_or_without_a_dry_run_is_a_usage_error(
    log: dict[str, Any],
) -> None:
    sql = cli("sql", "SELECT 1", "--json", "--format", "csv", "--db", log["db"])
    assert sql.exit_code == 2 and "--json or --format" in sql.stderr
    batch = cli("batch", "run", RULES_BATCH, "--json", "--db", log["db"])
    assert batch.exit_code == 2 and "--dry-run" in batch.stderr


def test_interview_writes_its_answer_to_out(tmp_path: Path) -> None:
    from tests.engine_helpers import LLM3, llm_env
    from tests.fakellm import FakeLLMServer

    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        env = llm_env(fake.base_url)
        run_id = last_line(cli("run", LLM3, "--db", db, "--turns", "1", env=env).stdout)
        ask = ["interview", run_id, "What next?", "--actor", "ngo", "--at-turn", "1", "--db", db]
        for extra in ([], ["--json"]):
            target = tmp_path / f"answer{len(extra)}.txt"
            result = cli(*ask, *extra, "-o", target, env=env)
            assert result.exit_code == 0 and result.stdout == "", result.output
            assert target.read_text().strip()
            if extra:
                assert json.loads(target.read_text())["actor"] == "ngo"
