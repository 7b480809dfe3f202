"""Expressions in scenario files are checked when the scenario loads: a bad one is a
problem naming its file, field and line, before anything runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.errors import ScenarioInvalid
from engine.scenario.load import load_scenario, validate_scenario
from tests.engine_helpers import RULES3, cli, runs_json

DATA = Path(__file__).parent / "data" / "scenarios"
HINT = (
    "an expression may use numbers, names, + - * /, comparisons, and/or/not, "
    "'a if condition else b', min, max, abs, clamp(x, low, high)"
)


def _copy(tmp_path: Path, source: Path = DATA / "rules-min") -> Path:
    root = tmp_path / "scenario"
    shutil.copytree(source, root)
    return root


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    text = (root / rel).read_text()
    assert old in text, f"{old!r} not in {rel}"
    (root / rel).write_text(text.replace(old, new, 1))


HAWK_PREFS = "preferences: {tension: 0.5, trade: 0.2}"
PATROL = "{name: patrol, description: Patrol the river,"

# (file, text, replacement, the exact error line)
CASES = {
    "unknown name in a weight": (
        "actors/hawk.yaml",
        HAWK_PREFS,
        'preferences: {tension: "2 if tensoin > 5 else 0.5", trade: 0.2}',
        "actors/hawk.yaml:8: preferences.tension: '2 if tensoin > 5 else 0.5' reads 'tensoin', "
        "which is neither a variable, an action nor `turn` (variables: tension, trade; an "
        "action's name counts the actors that chose it last turn)",
    ),
    "syntax error in a condition": (
        "actors/hawk.yaml",
        PATROL,
        '{name: patrol, when: "tension >", description: Patrol the river,',
        "actors/hawk.yaml:6: actions.0.when: 'tension >' is not an expression: invalid syntax "
        f"({HINT})",
    ),
    "a call that is not allowed": (
        "actors/hawk.yaml",
        HAWK_PREFS,
        "preferences: {tension: \"open('x')\", trade: 0.2}",
        "actors/hawk.yaml:8: preferences.tension: \"open('x')\": a call of open (only min, max, "
        f"abs, clamp may be called) is not allowed ({HINT})",
    ),
    "attribute access": (
        "actors/hawk.yaml",
        HAWK_PREFS,
        'preferences: {tension: "tension.real", trade: 0.2}',
        "actors/hawk.yaml:8: preferences.tension: 'tension.real': attribute access (a.b) is "
        f"not allowed ({HINT})",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_expression_names_file_field_and_line(case: str, tmp_path: Path) -> None:
    rel, old, new, expected = CASES[case]
    root = _copy(tmp_path)
    _edit(root, rel, old, new)
    errors = [str(p) for p in validate_scenario(root) if p.severity == "error"]
    assert errors == [expected]
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(root)
    assert caught.value.message == expected


def test_an_ambiguous_name_is_an_error_only_where_an_expression_reads_it(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "actors/dove.yaml", "{name: protest,", "{name: trade,")
    assert [p for p in validate_scenario(root) if p.severity == "error"] == []  # unread: fine
    _edit(root, "actors/hawk.yaml", HAWK_PREFS, 'preferences: {tension: "trade / 100", trade: 1}')
    errors = [str(p) for p in validate_scenario(root) if p.severity == "error"]
    assert errors == [
        "actors/hawk.yaml:8: preferences.tension: 'trade / 100' reads 'trade', which is both "
        "a variable and an action (rename one of them)"
    ]


def test_valid_expressions_load_and_keep_their_text(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(
        root,
        "actors/hawk.yaml",
        HAWK_PREFS,
        'preferences: {tension: "-1 if tension >= 7 or talk else 0.5", trade: 0.2}',
    )
    _edit(root, "actors/hawk.yaml", PATROL, "{name: patrol, when: turn > 1 and not patrol,")
    loaded = load_scenario(root)
    hawk = loaded.resolved["actors"]["hawk"]
    assert hawk["preferences"] == {"tension": "-1 if tension >= 7 or talk else 0.5", "trade": 0.2}
    assert hawk["actions"][0]["when"] == "turn > 1 and not patrol"
    assert loaded.warnings == []


def test_a_condition_on_a_brain_that_ignores_it_is_a_warning(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "actors/broker.yaml", "{name: mediate,", "{name: mediate, when: tension > 5,")
    warnings = [str(p) for p in validate_scenario(root) if p.severity == "warning"]
    assert warnings == [
        "actors/broker.yaml:5: actions.0.when: is used only by control: rules, not 'scripted'; "
        "ignored (other brains see every declared action)"
    ]


def test_validate_and_run_print_one_line_and_run_nothing(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "actors/hawk.yaml", HAWK_PREFS, 'preferences: {tension: "x ** 2", trade: 0.2}')
    result = cli("validate", root)
    assert result.exit_code == 1
    assert (
        "error: actors/hawk.yaml:8: preferences.tension: 'x ** 2': the operator ** is not allowed"
        in result.stdout
    )
    run = cli("run", root, "--db", tmp_path / "x.db")
    assert run.exit_code == 2 and run.stderr.count("\n") == 1
    assert "actors/hawk.yaml:8: preferences.tension" in run.stderr
    assert not (tmp_path / "x.db").exists()


def test_a_sweep_may_set_a_weight_to_an_expression_and_it_is_checked(tmp_path: Path) -> None:
    loaded = load_scenario(RULES3)
    swept = loaded.with_overrides({"actors.north.preferences.tension": "-2 if tension > 6 else 0"})
    assert swept.resolved["actors"]["north"]["preferences"]["tension"] == (
        "-2 if tension > 6 else 0"
    )
    with pytest.raises(ScenarioInvalid) as caught:
        loaded.with_overrides({"actors.north.preferences.tension": "-2 if tenson > 6 else 0"})
    assert caught.value.message.startswith(
        "override 'actors.north.preferences.tension': actors.north.preferences.tension: "
        "'-2 if tenson > 6 else 0' reads 'tenson', which is neither a variable"
    )


def test_an_expression_that_fails_in_play_fails_the_run_in_one_line(tmp_path: Path) -> None:
    root = _copy(tmp_path, RULES3)
    # trade starts at 50: the weight divides by zero in the first turn
    _edit(
        root,
        "actors/north.yaml",
        "preferences: {tension: -0.5, trade: 1.0}",
        'preferences: {tension: "1 / (trade - 50)", trade: 1.0}',
    )
    assert validate_scenario(root) == []
    db = tmp_path / "log.db"
    result = cli("run", root, "--db", db, "--seed", "3")
    assert result.exit_code != 0
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line == (
        "error: actor north: preferences.tension: '1 / (trade - 50)' divides by zero in turn 1 "
        "(guard the expression, e.g. 'x / y if y else 0')"
    )
    [run] = runs_json(db)
    assert run["status"] == "failed" and run["turns_completed"] == 0
