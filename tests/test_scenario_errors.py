"""Every problem names its file, its field, what is wrong and (where obvious) the fix.

Each case edits a copy of a valid fixture scenario on disk and looks for the exact line
a user would see; ``broken-many`` checks that every problem is reported in one pass.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.errors import ScenarioInvalid
from engine.scenario.load import Problem, load_scenario, validate_scenario

DATA = Path(__file__).parent / "data" / "scenarios"


def _copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(DATA / name, root)
    return root


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def _lines(root: Path, severity: str = "error") -> list[str]:
    return [str(p) for p in validate_scenario(root) if p.severity == severity]


# (file to edit, text to replace, replacement, a line the user must see)
ERRORS = {
    "wrong type": (
        "scenario.yaml",
        "turns: 4",
        "turns: ten",
        "scenario.yaml:4: turns: should be a valid integer, unable to parse string as an "
        "integer, not 'ten'",
    ),
    "wrong type in an actor": (
        "actors/hawk.yaml",
        "goals: Hold the river line",
        "goals: {first: Hold}",
        "actors/hawk.yaml:4: goals: should be a valid list",
    ),
    "a YAML boolean where text belongs": (
        "actors/hawk.yaml",
        "name: Hawkish Republic",
        "name: yes",
        "actors/hawk.yaml:1: name: should be a valid string, not True (quote it",
    ),
    "bad turn_duration": (
        "scenario.yaml",
        "turn_duration: 1 month",
        "turn_duration: monthly",
        "scenario.yaml:5: turn_duration: 'monthly' is not a duration; write 'N unit' with unit "
        "second, minute, hour, day, week, month or year",
    ),
    "zero turn_duration": (
        "scenario.yaml",
        "turn_duration: 1 month",
        "turn_duration: 0 days",
        "scenario.yaml:5: turn_duration: '0 days' is not a duration; the number must be at least 1",
    ),
    "bad start_date": (
        "scenario.yaml",
        '"2030-01-31"',
        "31/01/2030",
        "scenario.yaml:6: start_date: '31/01/2030' is not an ISO date",
    ),
    "missing required field": (
        "actors/dove.yaml",
        "name: Dovish Federation\n",
        "",
        "actors/dove.yaml: name: is required",
    ),
    "invalid short_name": (
        "actors/hawk.yaml",
        "short_name: hawk",
        "short_name: Hawk_1",
        "actors/hawk.yaml:2: short_name: 'Hawk_1' must be lowercase letters, digits and hyphens",
    ),
    "unknown control": (
        "actors/hawk.yaml",
        "control: rules",
        "control: robot",
        "actors/hawk.yaml:3: control: should be 'ai', 'human', 'scripted' or 'rules', not 'robot'",
    ),
    "scripted actor without a script": (
        "actors/broker.yaml",
        "script:\n  - Calls both capitals.\n  - {action: Hosts a meeting., reasoning: Momentum "
        "matters., goals: Keep talking, action_name: mediate}\n",
        "",
        "actors/broker.yaml: script: control: scripted needs a `script:` list of actions, one "
        "per turn (the last entry repeats",
    ),
    "script naming an undeclared action": (
        "actors/broker.yaml",
        "action_name: mediate",
        "action_name: bribe",
        "actors/broker.yaml:8: script.1.action_name: names 'bribe', which is not one of this "
        "actor's actions (actions: mediate)",
    ),
    "rules actor without preferences": (
        "actors/dove.yaml",
        "preferences: {tension: -1, trade: 1}",
        "",
        "actors/dove.yaml: preferences: control: rules needs `preferences:`",
    ),
    "rules actor without actions": (
        "actors/dove.yaml",
        "actions:\n"
        '  - {name: trade_deal, effects: {trade: 5}, narrative: "{actor} proposes a trade deal."}\n'
        '  - {name: protest, effects: {tension: 0.5}, narrative: "{actor} files a protest."}\n',
        "",
        "actors/dove.yaml: actions: control: rules needs `actions:` to choose from",
    ),
    "duplicate action names": (
        "actors/dove.yaml",
        "name: protest",
        "name: trade_deal",
        "actors/dove.yaml:6: actions.1.name: 'trade_deal' is declared twice",
    ),
    "ai actor without a model": (
        "actors/hawk.yaml",
        "control: rules",
        "control: ai",
        "actors/hawk.yaml: llm_model: is required for control: ai (e.g. llm_model: "
        "openai/gpt-4o-mini",
    ),
    "action effect on an undeclared variable": (
        "actors/hawk.yaml",
        "effects: {tension: 1}",
        "effects: {morale: 1}",
        "actors/hawk.yaml:6: actions.0.effects: names 'morale', which scenario.yaml does not "
        "declare under `variables:` (declared: tension, trade)",
    ),
    "preference on an undeclared variable": (
        "actors/hawk.yaml",
        "preferences: {tension: 0.5",
        "preferences: {tensoin: 0.5",
        "actors/hawk.yaml:8: preferences: names 'tensoin', which scenario.yaml does not declare",
    ),
    "variable outside its range": (
        "scenario.yaml",
        "tension: {initial: 5,",
        "tension: {initial: 15,",
        "scenario.yaml:9: variables.tension.initial: 15 is outside [0, 10]",
    ),
    "variable bounds reversed": (
        "scenario.yaml",
        "trade: {initial: 50, min: 0, max: 100}",
        "trade: {initial: 50, min: 100, max: 0}",
        "scenario.yaml:10: variables.trade.min: 100 must be below max (0)",
    ),
    "no adjudicator at all": (
        "scenario.yaml",
        "variables:\n",
        "world_state_model: rules\nunused:\n",
        "scenario.yaml:8: world_state_model: is required when the scenario declares no `variables:`",
    ),
    "actor listed without a file": (
        "scenario.yaml",
        "actors: [hawk, dove, broker]",
        "actors: [hawk, dove, broker, tech-company]",
        "scenario.yaml:7: actors.3: lists 'tech-company', which is neither an actor's short_name "
        "nor a file in actors/ (actor files: broker.yaml (short_name broker), dove.yaml "
        "(short_name dove), hawk.yaml (short_name hawk))",
    ),
    "actor listed twice": (
        "scenario.yaml",
        "actors: [hawk, dove, broker]",
        "actors: [hawk, dove, broker, dove]",
        "scenario.yaml:7: actors.3: lists 'dove' twice",
    ),
    "actor listed twice, once by its file name": (
        "scenario.yaml",
        "actors: [hawk, dove, broker]",
        "actors: [hawk, dove, broker, dove.yaml]",
        "scenario.yaml:7: actors.3: lists 'dove' twice (as 'dove.yaml')",
    ),
    "duplicate short names": (
        "actors/dove.yaml",
        "short_name: dove",
        "short_name: hawk",
        "actors/hawk.yaml:2: short_name: 'hawk' is also the short_name of actors/dove.yaml",
    ),
    "metric continuous without range": (
        "metrics.yaml",
        "extraction: {type: keyword, keywords: talks, scoring: presence}",
        "type: continuous\n    extraction: {type: llm, prompt: Rate it.}",
        "metrics.yaml:2: metrics.0.range: a continuous metric judged by a model needs a range "
        "(add `range: [min, max]`",
    ),
    "categorical metric without categories": (
        "metrics.yaml",
        "extraction:",
        "type: categorical\n    extraction:",
        "metrics.yaml:2: metrics.0.categories: a categorical metric needs `categories:`",
    ),
    "keyword metric without keywords": (
        "metrics.yaml",
        "keywords: talks, ",
        "",
        "metrics.yaml:4: metrics.0.extraction.keywords: a keyword extraction needs `keywords:`",
    ),
    "unknown extraction type": (
        "metrics.yaml",
        "type: keyword",
        "type: magic",
        "metrics.yaml:4: metrics.0.extraction.type: should be 'llm', 'keyword' or 'pattern', "
        "not 'magic'",
    ),
    "bad regex": (
        "metrics.yaml",
        "extraction: {type: keyword, keywords: talks, scoring: presence}",
        "extraction: {type: pattern, pattern: '(\\d+'}",
        "metrics.yaml:4: metrics.0.extraction.pattern: `(\\d+` is not a valid regex: missing ), "
        "unterminated subpattern",
    ),
    "pattern group the regex lacks": (
        "metrics.yaml",
        "extraction: {type: keyword, keywords: talks, scoring: presence}",
        "extraction: {type: pattern, pattern: '(\\d+)%', group: 2}",
        "metrics.yaml:4: metrics.0.extraction.group: 2 but the pattern has 1 group(s)",
    ),
    "metric named like a variable": (
        "metrics.yaml",
        "name: talk_mentions",
        "name: tension",
        "metrics.yaml:2: metrics.0.name: 'tension' is also a variable; variables are recorded as "
        "metrics already",
    ),
    "conditional event on a metric that does not exist": (
        "exogenous-events.yaml",
        'conditions: {tension: ">= 7", talk_mentions: 0}',
        'conditions: {panic: ">= 7"}',
        "exogenous-events.yaml:4: exogenous_events.2.conditions: names 'panic', which is neither "
        "a metric in metrics.yaml nor a variable in scenario.yaml (known: talk_mentions, "
        "tension, trade)",
    ),
    "condition that is no comparison": (
        "exogenous-events.yaml",
        'tension: ">= 7"',
        'tension: "about 7"',
        "exogenous-events.yaml:4: exogenous_events.2.conditions: tension: 'about 7' is not a "
        "comparison like '>= 7', '< 3', '== 1' or '!= 0'",
    ),
    "scheduled event without a turn": (
        "exogenous-events.yaml",
        "type: scheduled, turn: 2,",
        "type: scheduled,",
        "exogenous-events.yaml:2: exogenous_events.0.turn: a scheduled event needs `turn:`",
    ),
    "random event with a probability above 1": (
        "exogenous-events.yaml",
        "probability: 0.5",
        "probability: 1.5",
        "exogenous-events.yaml:3: exogenous_events.1.probability: should be less than or equal "
        "to 1, not 1.5",
    ),
    "trend event without a frequency": (
        "exogenous-events.yaml",
        "frequency: 2, ",
        "",
        "exogenous-events.yaml:5: exogenous_events.3.frequency: a trend event needs `frequency:`",
    ),
    "reversed turn_range": (
        "exogenous-events.yaml",
        "turn_range: [2, 4]",
        "turn_range: [4, 2]",
        "exogenous-events.yaml:5: exogenous_events.3.turn_range: [4, 2] is not [first, last] turns",
    ),
    "event effect on an undeclared variable": (
        "exogenous-events.yaml",
        "effects: {trade: -10}",
        "effects: {harvest: -10}",
        "exogenous-events.yaml:2: exogenous_events.0.effects: names 'harvest'",
    ),
    "unknown group of events": (
        "exogenous-events.yaml",
        "exogenous_events:",
        "surprises:\n  - {name: X}\nexogenous_events:",
        "exogenous-events.yaml:1: surprises: is not a known group of events (list the events "
        "under `exogenous_events:`, each with `type: scheduled | random | conditional | trend`",
    ),
    "YAML syntax error": (
        "actors/dove.yaml",
        "name: Dovish Federation",
        "name: [Dovish Federation",
        "actors/dove.yaml: is not valid YAML at line 2: expected ',' or ']'",
    ),
    "a key given twice": (
        "actors/hawk.yaml",
        "control: rules\n",
        "control: rules\ncontrol: ai\n",
        "actors/hawk.yaml:3: control: is given twice in one mapping (lines 3 and 4) (YAML would "
        "keep only the last; merge them)",
    ),
    "an alias and its field both given": (
        "scenario.yaml",
        "turns: 4",
        "turns: 4\nnum_turns: 5",
        "scenario.yaml:5: num_turns: is another name for 'turns', which is also given (keep only "
        "'turns')",
    ),
    "scenario_length that is not fixed": (
        "scenario.yaml",
        "turns: 4",
        "scenario_length: {type: until_agreement}",
        "scenario.yaml:4: scenario_length: {'type': 'until_agreement'} is not a fixed length "
        "(write `turns: N`",
    ),
    "a check severity that does not exist": (
        "metrics.yaml",
        "metrics:",
        "metrics:",  # unchanged: the check is added below
        "validation-rules.yaml:4: checks.plausible.severity: should be 'low', 'medium' or 'high', "
        "not 'critical'",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_each_error_names_file_field_and_fix(case: str, tmp_path: Path) -> None:
    rel, old, new, expected = ERRORS[case]
    root = _copy("rules-min", tmp_path)
    _edit(root, rel, old, new)
    if case == "a check severity that does not exist":
        (root / "validation-rules.yaml").write_text(
            "checks:\n  plausible:\n    description: Plausible?\n    severity: critical\n"
        )
    lines = _lines(root)
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(root)
    assert caught.value.problems == lines
    assert caught.value.message == lines[0]


def test_every_problem_is_found_in_one_pass() -> None:
    root = DATA / "broken-many"
    problems = validate_scenario(root)
    assert [str(p) for p in problems if p.severity == "error"] == [
        "scenario.yaml:3: turn_duration: 'fortnightly' is not a duration; write 'N unit' with "
        "unit second, minute, hour, day, week, month or year (singular or plural), e.g. "
        "'1 month' or '2 weeks'",
        "scenario.yaml:4: start_date: '31/01/2030' is not an ISO date, e.g. 2031-03-01",
        "scenario.yaml:2: turns: should be a valid integer, unable to parse string as an "
        "integer, not 'ten'",
        "scenario.yaml:8: variables.tension.initial: 12 is outside [0, 10]",
        "scenario.yaml:5: actors.0: lists 'tech-company', which is neither an actor's "
        "short_name nor a file in actors/ (actor files: privacy.yaml (short_name privacy), "
        "rules.yaml (short_name rules-one), scripted.yaml (short_name scripted-one), "
        "techco.yaml (short_name techco))",
        "actors/privacy.yaml:3: control: should be 'ai', 'human', 'scripted' or 'rules', not 'robot'",
        "actors/scripted.yaml: script: control: scripted needs a `script:` list of actions, "
        "one per turn (the last entry repeats when the run is longer than the script)",
        "actors/rules.yaml:5: actions.0.effects: names 'morale', which scenario.yaml does not "
        "declare under `variables:` (declared: tension)",
        "actors/rules.yaml: preferences: control: rules needs `preferences:` (a mapping "
        "variable -> weight, e.g. {tension: -1.0, trade_flow: 0.5})",
        "metrics.yaml:2: metrics.0.range: a continuous metric judged by a model needs a range "
        "(add `range: [min, max]`, e.g. range: [0, 10])",
        "metrics.yaml:7: metrics.1.extraction.pattern: `(\\d+` is not a valid regex: missing ), "
        "unterminated subpattern at position 0 (in YAML, single-quote patterns with "
        "backslashes, e.g. '(\\d+)%')",
        "exogenous-events.yaml:4: exogenous_events.0.conditions: names 'panic_level', which is "
        "neither a metric in metrics.yaml nor a variable in scenario.yaml (known: cooperation, "
        "numbers, tension)",
    ]
    assert [str(p) for p in problems if p.severity == "warning"] == [
        "scenario.yaml:6: mood: unknown field, ignored",
        "actors/techco.yaml:2: short_name: 'techco' is not listed under `actors:` in "
        "scenario.yaml, so it is not played (add it to the list to play it)",
    ]


def test_scenario_invalid_carries_the_first_line_and_every_line() -> None:
    root = DATA / "broken-many"
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(root)
    errors = [str(p) for p in validate_scenario(root) if p.severity == "error"]
    assert str(caught.value) == caught.value.message == errors[0]
    assert caught.value.problems == errors
    assert caught.value.hint == f"and 11 more: run `scenario-lab validate {root}`"
    assert caught.value.one_line().endswith(f"(and 11 more: run `scenario-lab validate {root}`)")


def test_missing_scenario_yaml() -> None:
    root = DATA / "no-scenario-yaml"
    assert [str(p) for p in validate_scenario(root)] == [
        f"scenario.yaml: is missing in {root} (a scenario directory needs scenario.yaml with "
        "name, turns and actors)"
    ]
    with pytest.raises(ScenarioInvalid, match=r"scenario\.yaml: is missing"):
        load_scenario(root)


def test_yaml_syntax_error_gives_the_line() -> None:
    assert [str(p) for p in validate_scenario(DATA / "bad-yaml")] == [
        "scenario.yaml: is not valid YAML at line 4: expected ',' or ']', but got ':'"
    ]


def test_not_a_directory(tmp_path: Path) -> None:
    (problem,) = validate_scenario(tmp_path / "nowhere")
    assert problem.message == "is not a scenario directory"
    assert problem.file == str(tmp_path / "nowhere")


def test_scenario_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    (root / "scenario.yaml").write_text("- just\n- a list\n")
    assert _lines(root) == ["scenario.yaml: must be a mapping of fields (name, turns, actors, ...)"]


def test_problem_text() -> None:
    p = Problem("actors/techco.yaml", "goals", "should be a valid list", "e.g. goals: [a, b]")
    assert str(p) == "actors/techco.yaml: goals: should be a valid list (e.g. goals: [a, b])"
    assert str(Problem("scenario.yaml", "", "is missing")) == "scenario.yaml: is missing"
    assert p.severity == "error"
    at = Problem("actors/techco.yaml", "goals", "should be a valid list", line=4)
    assert str(at) == "actors/techco.yaml:4: goals: should be a valid list"


# -- warnings: the scenario still loads --------------------------------------------------

WARNINGS = {
    "unknown top-level field": (
        "scenario.yaml",
        "turns: 4",
        "turns: 4\ncolour: blue",
        "scenario.yaml:5: colour: unknown field, ignored",
    ),
    "misspelt field": (
        "actors/hawk.yaml",
        "goals:",
        "goal:",
        "actors/hawk.yaml:4: goal: unknown field, ignored (did you mean 'goals'?)",
    ),
    "unknown field inside an action": (
        "actors/hawk.yaml",
        "{name: patrol, description: Patrol the river,",
        "{name: patrol, cost: 3, description: Patrol the river,",
        "actors/hawk.yaml:6: actions.0.cost: unknown field, ignored",
    ),
    "a comma splitting a flow mapping value": (
        "actors/hawk.yaml",
        "description: Patrol the river,",
        "description: Patrol, then wait,",
        "actors/hawk.yaml:6: actions.0.then wait: unknown field, ignored (if a comma inside a "
        "{flow: mapping} split a value, quote the value)",
    ),
    "unknown field in a variable": (
        "scenario.yaml",
        "trade: {initial: 50,",
        "trade: {initial: 50, units: percent,",
        "scenario.yaml:10: variables.trade.units: unknown field, ignored",
    ),
    "unknown field in a metric extraction": (
        "metrics.yaml",
        "scoring: presence}",
        "scoring: presence, weight: 2}",
        "metrics.yaml:4: metrics.0.extraction.weight: unknown field, ignored",
    ),
    "unknown field in an event": (
        "exogenous-events.yaml",
        "{name: Incident,",
        "{name: Incident, severity: 3,",
        "exogenous-events.yaml:3: exogenous_events.1.severity: unknown field, ignored",
    ),
    "metrics given in scenario.yaml": (
        "scenario.yaml",
        "turns: 4",
        "turns: 4\nmetrics: []",
        "scenario.yaml:5: metrics: unknown field, ignored (it has its own file or folder",
    ),
    "actor file not listed": (
        "scenario.yaml",
        "actors: [hawk, dove, broker]",
        "actors: [hawk, dove]",
        "actors/broker.yaml:2: short_name: 'broker' is not listed under `actors:` in "
        "scenario.yaml, so it is not played",
    ),
    "scheduled event after the last turn": (
        "exogenous-events.yaml",
        "turn: 2,",
        "turn: 7,",
        "exogenous-events.yaml:2: exogenous_events.0.turn: 7 is after the last turn (4), so the "
        "event never fires",
    ),
    "a script for an actor that is not scripted": (
        "actors/hawk.yaml",
        "control: rules",
        "control: rules\nscript: [Waits.]",
        "actors/hawk.yaml:4: script: is ignored because control is 'rules'",
    ),
}


@pytest.mark.parametrize("case", list(WARNINGS))
def test_warnings_name_file_and_field_and_do_not_stop_loading(case: str, tmp_path: Path) -> None:
    rel, old, new, expected = WARNINGS[case]
    root = _copy("rules-min", tmp_path)
    _edit(root, rel, old, new)
    assert _lines(root, "error") == []
    warnings = _lines(root, "warning")
    assert any(w.startswith(expected) for w in warnings), "\n".join(warnings)
    assert load_scenario(root).warnings == warnings


def test_stray_files(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    (root / "metric.yaml").write_text("metrics: []\n")
    (root / "background" / "notes.txt").write_text("not markdown")
    (root / "validation-rules.yaml").write_text("")
    assert _lines(root, "warning") == [
        "validation-rules.yaml: is empty, ignored",
        "metric.yaml: is not a scenario file, ignored (did you mean metrics.yaml?)",
        "background/notes.txt: is not a .md file, ignored",
    ]


def test_grouped_events_that_do_not_fit_are_skipped_with_a_warning(tmp_path: Path) -> None:
    # Scenario Lab never reads grouped lists, so its users expect them not to stop a run
    root = _copy("rules-min", tmp_path)
    (root / "exogenous-events.yaml").write_text(
        "random_events:\n"
        "  - {name: Storm, type: scheduled, turn: 2}\n"
        "  - Just a sentence\n"
        "  - {name: Squall, probability: 2}\n"
        "  - {name: Gale, probability: 0.5, effects: {harvest: 1}}\n"
        "  - {name: Drizzle, probability: 0.1}\n"
        "scheduled_events: {name: Vote}\n"
    )
    assert _lines(root) == []
    assert _lines(root, "warning") == [
        "exogenous-events.yaml:2: random_events.0.type: is 'scheduled' but the event is listed "
        "under random_events (random events), so it is skipped (remove `type:` or move the "
        "event; list the events under `exogenous_events:`, each with `type: scheduled | random "
        "| conditional | trend`; grouped lists may be named scheduled_events, random_events, "
        "conditional_events, trends, trend_events)",
        "exogenous-events.yaml:3: random_events.1: must be a mapping (name, description, ...), "
        "so it is skipped",
        "exogenous-events.yaml:4: random_events.2: does not match the event schema "
        "(probability: should be less than or equal to 1, not 2), so it is skipped (fix it to "
        "play it; `scenario-lab schema exogenous` prints the schema)",
        "exogenous-events.yaml:5: random_events.3: does not match the event schema (effects: "
        "names 'harvest', which scenario.yaml does not declare under `variables:`), so it is "
        "skipped (fix it to play it; `scenario-lab schema exogenous` prints the schema)",
        "exogenous-events.yaml:7: scheduled_events: must be a list of events, so it is skipped",
    ]
    events = load_scenario(root).scenario.exogenous_events
    assert [(e.name, e.type) for e in events] == [("Drizzle", "random")]


def test_the_flat_event_list_is_our_schema_and_its_errors_stop_loading(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    (root / "exogenous-events.yaml").write_text(
        "exogenous_events:\n  - {name: Storm, type: random, probability: 2}\n"
    )
    assert _lines(root) == [
        "exogenous-events.yaml:2: exogenous_events.0.probability: should be less than or equal "
        "to 1, not 2"
    ]


def test_validation_checks_in_list_form_need_names(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    (root / "validation-rules.yaml").write_text(
        "checks:\n  - {name: a}\n  - {description: nameless}\n  - {name: a}\n"
    )
    assert _lines(root) == [
        "validation-rules.yaml:3: checks.1: a check in a list needs a `name:`",
        "validation-rules.yaml:4: checks.2.name: 'a' is given twice",
    ]


def test_an_unreadable_metrics_file_does_not_cascade(tmp_path: Path) -> None:
    root = _copy("rules-min", tmp_path)
    (root / "metrics.yaml").write_text("metrics: [\n")
    # the condition on talk_mentions is not reported: metrics.yaml could not be read
    assert _lines(root) == [
        "metrics.yaml: is not valid YAML at line 2: expected the node content, but found "
        "'<stream end>'"
    ]
