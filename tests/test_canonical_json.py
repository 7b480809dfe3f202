"""Every JSON the CLI prints is the same, byte for byte, in every process.

A set serialised in hash order made ``replay --json`` of the same run differ between two
processes. Here one log (a run with talks, a fork of it, a batch) is read by every
command that prints JSON, in two processes started with different ``PYTHONHASHSEED``
values, and the outputs (and the files ``export --format json`` writes) must be equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eventstore import canonical_json
from tests.check_helpers import talker, talks_scenario
from tests.engine_helpers import RULES3, cli, last_line, llm_env
from tests.fakellm import FakeLLMServer
from tests.test_batch_helpers import BATCHES, bcli

# Runs each command given as JSON argv lists with the real CLI in this one process and
# prints each one's exit code and output, so two processes can be compared.
CHILD = """
import json, sys
from typer.testing import CliRunner
from cli.app import app
for argv in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, argv, catch_exceptions=False)
    print(json.dumps({"argv": argv, "exit": result.exit_code, "out": result.stdout}))
"""


def _outputs(commands: list[list[str]], seed: str, env: dict[str, str]) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(commands)],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONHASHSEED": seed},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_every_json_output_is_the_same_in_two_processes(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    scenario = talks_scenario(tmp_path, validation=True)
    with FakeLLMServer(responder=talker) as fake:
        env = llm_env(fake.base_url)
        run = cli("run", scenario, "--db", db, "--turns", "2", "--seed", "4", env=env)
        assert run.exit_code == 0, run.output
        run_id = last_line(run.stdout)
        fork = cli("fork", run_id, "--db", db, "--at-turn", "1", "--play", env=env)
        assert fork.exit_code == 0, fork.output
        branch = last_line(fork.stdout)
    batch = bcli("batch", "run", BATCHES / "rules.yaml", "--db", db)
    assert batch.exit_code == 0, batch.output
    batch_id = last_line(batch.stdout)
    d = str(db)
    commands = [
        ["runs", "--db", d, "--json"],
        ["runs", "--db", d, "--json", "--tree"],
        ["log", run_id, "--db", d, "--json"],
        ["replay", run_id, "--db", d, "--json"],
        ["replay", run_id, "--db", d, "--json", "--turn", "1"],
        ["replay", branch, "--db", d, "--json"],
        ["audit", run_id, "--db", d, "--json"],
        ["estimate", str(scenario), "--json"],
        ["estimate", str(RULES3), "--json"],
        ["batch", "show", batch_id, "--db", d, "--json"],
        ["batch", "list", "--db", d, "--json"],
        ["compare", run_id, branch, "--db", d, "--json"],
        ["sql", "--db", d, "--format", "json", "SELECT * FROM runs ORDER BY run_id"],
        ["sql", "--db", d, "--format", "json", "SELECT * FROM messages ORDER BY run_id, seq"],
        ["sql", "--db", d, "--format", "json", "SELECT * FROM lifecycle ORDER BY run_id, seq"],
    ]
    exports = {seed: tmp_path / f"export-{seed}" for seed in ("1", "2")}
    first, second = (
        _outputs(
            [*commands, ["export", "--db", d, "--format", "json", "--out", str(exports[seed])]],
            seed,
            env,
        )
        for seed in exports
    )
    assert len(first) == len(commands) + 1
    for a, b in zip(first, second, strict=True):
        assert a["exit"] == 0, a
        # export prints the paths it wrote, which differ by design
        said = [
            str(o["out"]).replace(str(exports[seed]), "OUT") for o, seed in ((a, "1"), (b, "2"))
        ]
        assert said[0] == said[1], f"{a['argv']} prints different JSON in two processes"
    replayed = json.loads(str(first[3]["out"]))
    assert replayed["turn_progress"]["call_ids"]  # the set that was printed in hash order
    files = sorted(p.name for p in exports["1"].iterdir())
    assert files and files == sorted(p.name for p in exports["2"].iterdir())
    for name in files:
        assert (exports["1"] / name).read_bytes() == (exports["2"] / name).read_bytes(), name


def test_canonical_json_sorts_sets_and_keeps_the_order_of_keys() -> None:
    value = {"b": {"z", "a", "m"}, "a": frozenset({3, 1, 2}), "mixed": {1, "1"}}
    # items of mixed types come in the order of their own JSON text
    assert canonical_json(value) == '{"b": ["a", "m", "z"], "a": [1, 2, 3], "mixed": ["1", 1]}'
