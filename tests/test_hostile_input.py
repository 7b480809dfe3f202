"""Hostile or oversized input gets one clear line, in bounded time and memory.

Found by a user: a YAML alias bomb hung `validate` (1.3 GB); 10,000-deep nesting was a
RecursionError traceback; a 50 MB description went out as a 13M-token prompt; a
100,000-character run id was a traceback. The bombs run in a separate process with a
memory ceiling and a timeout, and report their own peak RSS.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import ScenarioInvalid
from engine.play.limits import (
    DEFAULT_CONTEXT_WINDOW,
    check_prompt_sizes,
    context_window,
    prompt_fits,
)
from engine.scenario.limits import LIMITS, MiB
from engine.scenario.load import load_scenario, validate_scenario
from tests.engine_helpers import LLM3, RULES3, cli, llm_env, runs_json
from tests.fakellm import FakeLLMServer

BUNDLED = Path(__file__).parent.parent / "scenarios"
CEILING = 2 * 1024 * MiB  # address space of a bomb's process: a regression fails, not swaps

# The peak RSS a process reached, printed as its last stderr line however it exits.
# The peak is this process's own (VmHWM, reset by exec): ru_maxrss also counts the
# forking parent's, so a pytest process grown past the bound failed every case.
_MEASURED = (
    "import resource, sys\n"
    "from cli.app import main\n"
    "def peak_kb():\n"
    "    try:\n"
    "        for line in open('/proc/self/status'):\n"
    "            if line.startswith('VmHWM:'):\n"
    "                return int(line.split()[1])\n"
    "    except OSError:\n"
    "        pass\n"
    "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print(f'PEAK_KB {peak_kb()}', file=sys.stderr)\n"
)


def _bounded_cli(*args: object, timeout: float = 60.0) -> tuple[int, str, str, float, int]:
    """(exit code, stdout, stderr without the peak line, seconds, peak RSS in KB)."""

    def ceiling() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (CEILING, CEILING))

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=ceiling,
    )
    seconds = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("PEAK_KB "), done.stderr[-2000:]
    return done.returncode, done.stdout, "\n".join(lines[:-1]), seconds, int(lines[-1].split()[1])


def _scenario(tmp_path: Path, source: Path = LLM3) -> Path:
    root = tmp_path / "scenario"
    shutil.copytree(source, root)
    return root


def _billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _errors(root: Path) -> list[str]:
    return [str(p) for p in validate_scenario(root) if p.severity == "error"]


# -- bombs, in a process of their own ---------------------------------------------------


def test_a_billion_laughs_is_refused_quickly_in_little_memory(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    actor = root / "actors" / "techco.yaml"
    # 9^10 values once expanded, from under a kilobyte; `goals` makes the engine walk them
    actor.write_text(_billion_laughs() + actor.read_text() + "goals: *l9\n")
    code, out, err, seconds, peak_kb = _bounded_cli("validate", root)
    assert code == 1 and "Traceback" not in err
    [line] = [x for x in out.splitlines() if x.startswith("error: actors/")]
    assert line.startswith("error: actors/techco.yaml: holds more than 20,000 values by line ")
    assert "aliases expanded" in line and "billion laughs" in line
    assert seconds < 30 and peak_kb < 300 * 1024, (seconds, peak_kb)
    # `run` stops at the same line before it records anything
    code, _out, err, seconds, _peak = _bounded_cli("run", root, "--db", tmp_path / "x.db")
    assert code == 2 and err.count("\n") == 0 and "actors/techco.yaml: holds more" in err
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("extra: " + "[" * 10_000 + "]" * 10_000 + "\n", "line 13"),
        ("extra: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", "line 13"),
        ("extra:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), "line 77"),
    ],
    ids=["flow lists", "flow mappings", "block lists"],
)
def test_deep_nesting_is_refused_without_a_traceback(tmp_path: Path, text: str, where: str) -> None:
    root = _scenario(tmp_path)
    with (root / "scenario.yaml").open("a") as f:
        f.write(text)
    code, out, err, seconds, peak_kb = _bounded_cli("validate", root)
    assert code == 1 and "Traceback" not in err + out
    assert (
        f"error: scenario.yaml: nests deeper than {LIMITS.yaml_depth} levels at {where} "
        "(a scenario needs a few levels of mappings and lists; flatten the data)"
    ) in out.splitlines()
    assert seconds < 30 and peak_kb < 300 * 1024, (seconds, peak_kb)


def test_a_batch_file_is_read_with_the_same_limits(tmp_path: Path) -> None:
    batch = tmp_path / "sweep.yaml"
    sweep = (BUNDLED / "strait-crisis-sweep.yaml").read_text()
    sweep = sweep.replace("base_scenario: strait-crisis", f"base_scenario: {BUNDLED}/strait-crisis")
    batch.write_text(_billion_laughs() + sweep)
    code, _out, err, seconds, peak_kb = _bounded_cli("batch", "run", batch, "--dry-run")
    assert code == 2 and err.count("\n") == 0, err
    assert err.startswith(f"error: {batch}: holds more than 20,000 values by line ")
    assert seconds < 30 and peak_kb < 300 * 1024, (seconds, peak_kb)
    batch.write_text("experiment_name: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert "nests deeper than 64 levels at line 1" in cli("batch", "run", batch).stderr


# -- every limit: one problem naming the file and the limit ------------------------------


def test_a_document_of_too_many_plain_values(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    (root / "metrics.yaml").write_text("metrics:\n" + "  - 1\n" * 20_001)
    [error] = _errors(root)
    # the scenario's other files hold the first few hundred values
    assert re.fullmatch(
        r"metrics.yaml: holds more than 20,000 values by line 19\d\d\d \(the limit for a "
        r"scenario or batch: a scenario holds hundreds of values, not tens of thousands\)",
        error,
    )


def test_values_count_across_the_files_of_a_directory(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    (root / "metrics.yaml").write_text("metrics: [" + "1, " * 12_000 + "]\n")
    (root / "exogenous-events.yaml").write_text("random_events: [" + "1, " * 12_000 + "]\n")
    # each file alone is within the limit; the second one read takes the total past it
    limit = [e for e in _errors(root) if "values by line" in e]
    assert len(limit) == 1 and limit[0].startswith("exogenous-events.yaml: holds more than")


def test_an_alias_inside_its_own_anchor(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    (root / "metrics.yaml").write_text("metrics: &m\n  - *m\n")
    assert _errors(root) == [
        "metrics.yaml: has an alias inside its own anchor at line 2 "
        "(write the values out: a scenario has no recursive structures)"
    ]


def test_aliases_that_stay_small_are_still_fine(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    actor = root / "actors" / "ngo.yaml"
    actor.write_text("base: &base [Stay within the law]\n" + actor.read_text())
    actor.write_text(actor.read_text().replace("constraints: [Stay within the law]", ""))
    actor.write_text(actor.read_text() + "constraints: *base\n")
    loaded = load_scenario(root)
    assert loaded.scenario.actors["ngo"].constraints == ["Stay within the law"]


def test_a_yaml_file_over_its_size_is_not_read(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    actor = root / "actors" / "ngo.yaml"
    actor.write_text(actor.read_text() + "description: " + "x" * (2 * MiB) + "\n")
    [error] = _errors(root)
    assert error.startswith("actors/ngo.yaml: is 2 MiB, more than the 2 MiB allowed")
    assert error.endswith("(move long texts into background/*.md)")
    with pytest.raises(ScenarioInvalid, match=r"actors/ngo.yaml: is 2 MiB, more than the 2 MiB"):
        load_scenario(root)


def test_background_documents_have_their_own_size_and_the_directory_a_total(
    tmp_path: Path,
) -> None:
    root = _scenario(tmp_path)
    (root / "background" / "huge.md").write_bytes(b"x" * (8 * MiB + 1))
    assert _errors(root) == [
        "background/huge.md: is 8 MiB, more than the 8 MiB allowed (split it or shorten it)"
    ]
    (root / "background" / "huge.md").unlink()
    for name in ("a.md", "b.md", "c.md"):  # 18 MiB together, each one within its limit
        (root / "background" / name).write_bytes(b"x" * (6 * MiB))
    assert _errors(root) == [
        "background/c.md: takes the scenario directory past 16 MiB in total "
        "(shorten or remove background documents or long texts)"
    ]


def test_a_directory_of_too_many_files_is_one_line(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    for i in range(LIMITS.directory_files + 50):
        (root / "actors" / f"extra-{i:04d}.yaml").write_text(f"name: Extra {i}\n")
    errors = _errors(root)
    limit_lines = [e for e in errors if "a scenario directory may have" in e]
    assert len(limit_lines) == 1, limit_lines
    assert limit_lines[0].endswith(
        f"is one file more than the {LIMITS.directory_files} a scenario directory may have "
        "(remove the files the scenario does not use)"
    )
    assert not any("not read" in e for e in errors)  # later files are skipped quietly


def test_a_fifo_is_refused_instead_of_waited_on(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    os.mkfifo(root / "actors" / "pipe.yaml")
    assert "actors/pipe.yaml: is not a regular file (give a file, not a device or pipe)" in _errors(
        root
    )


def test_a_number_python_will_not_convert_is_one_line(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    text = (root / "scenario.yaml").read_text().replace("turns: 3", "turns: " + "9" * 5000)
    (root / "scenario.yaml").write_text(text)
    [error] = _errors(root)
    assert error == (
        "scenario.yaml: is not valid YAML: Exceeds the limit (4300 digits) for integer "
        "string conversion: value has 5000 digits"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in BUNDLED.iterdir() if p.is_dir()))
def test_the_bundled_scenarios_are_well_within_every_limit(name: str) -> None:
    from engine.scenario.files import read_scenario_dir
    from engine.scenario.limits import InputLimits

    tight = InputLimits(
        yaml_file_bytes=64 * 1024, directory_bytes=256 * 1024, yaml_values=2_000, yaml_depth=8
    )
    problems: list = []
    assert read_scenario_dir(BUNDLED / name, problems, tight) is not None
    assert not [p for p in problems if p.severity == "error"]
    loaded = load_scenario(BUNDLED / name)
    assert check_prompt_sizes(loaded.scenario) == []


# -- prompts against the model's context window -----------------------------------------


def _long_private_information(root: Path, chars: int) -> None:
    actor = root / "actors" / "techco.yaml"
    text = actor.read_text().replace(
        "private_information: SECRET-techco-PRIVATE",
        "private_information: " + "word " * (chars // 5),
    )
    actor.write_text(text)


def test_context_windows_of_known_unknown_and_declared_models() -> None:
    assert context_window("openai/gpt-4o-mini")[0] == 128_000
    assert context_window("gpt-4o-mini")[0] == 128_000  # a bare name sent to an endpoint
    assert context_window("openai/gpt-4.1-mini")[0] == 1_047_576  # not gpt-4o's
    assert context_window("anthropic/claude-3.5-haiku:beta")[0] == 200_000
    assert context_window("ollama/llama3.1:8b") == (
        DEFAULT_CONTEXT_WINDOW,
        "the default for a model not known here",
    )
    assert context_window("ollama/llama3.1:8b", 32_768)[0] == 32_768


def test_run_refuses_a_prompt_past_the_window_before_any_call(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    _long_private_information(root, 40_000)  # ~10,000 tokens; test/actor is unknown: 8,192
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        refused = cli("run", root, "--db", db, env=llm_env(fake.base_url))
        assert fake.request_count == 0
    assert refused.exit_code == 2
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: actor techco's decision prompt is about 10,")
    assert (
        "tokens; with 1,200 for the answer it exceeds the 8,192-token context window of "
        "test/actor (the default for a model not known here): shorten the scenario's texts, "
        "set context_window_tokens in techco's file if test/actor takes more, or pass "
        "--allow-long-prompts to send it anyway"
    ) in line
    assert not db.exists()  # nothing recorded

    estimated = cli("estimate", root)
    assert estimated.exit_code == 0
    assert "warning: actor techco's decision prompt is about 10," in estimated.stderr

    # declared by the actor, the window is the model's: the run is fine
    actor = root / "actors" / "techco.yaml"
    actor.write_text(actor.read_text() + "context_window_tokens: 32768\n")
    assert check_prompt_sizes(load_scenario(root).scenario) == []
    # but not for another model put in its seat
    with pytest.raises(ScenarioInvalid, match="techco's decision prompt"):
        check_prompt_sizes(load_scenario(root).scenario, model_overrides={"techco": "x/other"})


def test_allow_long_prompts_sends_them_with_a_warning(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    scenario = root / "scenario.yaml"
    text = scenario.read_text().replace(
        "description: Three actors negotiate export controls.",
        "description: " + "export " * 8_000,  # the world update's prompt: ~14,000 tokens
    )
    scenario.write_text(text)
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        env = llm_env(fake.base_url)
        refused = cli("run", root, "--db", db, "--turns", "1", env=env)
        assert refused.exit_code == 2 and "the world update prompt is about 14," in refused.stderr
        assert fake.request_count == 0
        allowed = cli("run", root, "--db", db, "--turns", "1", "--allow-long-prompts", env=env)
        assert allowed.exit_code == 0, allowed.output
        assert "warning: the world update prompt is about 14," in allowed.stderr
        assert fake.request_count > 0
    assert runs_json(db)[0]["status"] == "completed"


def test_a_prompt_that_outgrows_the_window_in_later_turns_is_a_warning(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    loaded = load_scenario(root)
    assert check_prompt_sizes(loaded.scenario, turns=3) == []
    fits = {f.what: f for f in prompt_fits(loaded.scenario, turns=400)}
    decision = fits["actor techco's decision"]
    assert decision.first_tokens < 1_000 and decision.last_tokens > DEFAULT_CONTEXT_WINDOW
    [warning, *_others] = check_prompt_sizes(loaded.scenario, turns=400)
    assert warning.startswith("actor techco's decision prompt grows from about ")
    assert "by turn 400, past the 8,192-token context window of test/actor" in warning
    assert warning.endswith("or play fewer turns")
    assert fits["the world update"].last_tokens == fits["the world update"].first_tokens


def test_rule_and_human_actors_make_no_prompts() -> None:
    assert prompt_fits(load_scenario(RULES3).scenario) == []


# -- ids users type ----------------------------------------------------------------------

LONG = "x" * 100_000


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("ids") / "log.db"
    result = cli("run", RULES3, "--db", db)
    assert result.exit_code == 0, result.output
    return db, result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "{id}"],
        ["replay", "{id}", "--check"],
        ["log", "{id}"],
        ["audit", "{id}"],
        ["verify", "{id}"],
        ["report", "{id}"],
        ["resume", "{id}"],
        ["fork", "{id}", "--at-turn", "1"],
        ["decide", "{id}", "--actor", "x"],
        ["compare", "{run}", "{id}"],
        ["runs", "--batch", "{id}"],
        ["report", "--batch", "{id}"],
        ["batch", "show", "{id}"],
        ["batch", "resume", "{id}"],
    ],
    ids=lambda a: " ".join(a),
)
@pytest.mark.parametrize("bad", [LONG, "", "ab\ncd", "a b", "\x1b[31m"], ids=repr)
def test_a_malformed_id_is_a_one_line_usage_error(
    played: tuple[Path, str], args: list[str], bad: str
) -> None:
    db, run_id = played
    filled = [a.replace("{id}", bad).replace("{run}", run_id) for a in args]
    result = cli(*filled, "--db", db)
    if args == ["verify", "{id}"] and bad == "":  # verify's RUN is optional: "" is every run
        assert result.exit_code == 0 and f"{run_id}: ok" in result.stdout
        return
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert " id" in line and len(line) < 300, line
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["log", "{run}", "--actor", LONG],
        ["audit", "{run}", "--actor", LONG],
        ["decide", "{run}", "--actor", LONG],
        ["fork", "{run}", "--at-turn", "1", "--decision", f"{LONG}=x"],
        ["fork", "{run}", "--at-turn", "1", "--human", LONG],
        ["run", str(RULES3), "--model", f"{LONG}=x"],
    ],
    ids=lambda a: " ".join(x[:20] for x in a),
)
def test_an_absurd_actor_name_in_a_flag_is_a_one_line_usage_error(
    played: tuple[Path, str], args: list[str]
) -> None:
    db, run_id = played
    result = cli(*[a.replace("{run}", run_id) for a in args], "--db", db)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_deeply_nested_price_file_is_one_line(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text("[" * 100_000 + "]" * 100_000)
    result = cli("estimate", LLM3, "--prices", prices)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot read price file {prices}: maximum recursion depth")


def test_a_batch_refuses_a_variation_whose_prompt_is_past_the_window(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    _long_private_information(root, 40_000)
    batch = tmp_path / "batch.yaml"
    batch.write_text(
        f"experiment_name: long\nbase_scenario: {root}\nruns_per_variation: 1\n"
        "variations:\n  - type: scenario_parameter\n    parameter: turns\n    values: [1, 2]\n"
    )
    db = tmp_path / "log.db"
    with FakeLLMServer() as fake:
        env = llm_env(fake.base_url)
        for args in (("--dry-run",), ()):
            refused = cli("batch", "run", batch, "--db", db, *args, env=env)
            assert refused.exit_code == 2, refused.output
            assert "actor techco's decision prompt is about 10," in refused.stderr
            assert "--allow-long-prompts" in refused.stderr
        assert fake.request_count == 0
        assert not db.exists()  # nothing recorded
        allowed = cli("batch", "run", batch, "--db", db, "--dry-run", "--allow-long-prompts")
    assert allowed.exit_code == 0, allowed.output
    assert "turns=1: actor techco's decision prompt is about 10," in allowed.stderr
