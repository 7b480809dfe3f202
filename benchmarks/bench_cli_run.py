"""``scenario-lab run`` from process start to its first model call, and from its last
answer to exit: the ``cli_run`` case of ``bench_engine.py`` on its own, so it can be
repeated quickly while working on start-up (the engine benchmark takes minutes).

The bundled 3-actor ``ai-summit`` against the loopback fake at 200 ms, into a new log
and into the log it left, alternating with the baseline: a bare Python process that
imports httpx and sends one request (the floor of any such client). Targets: < 300 ms
to the first call, < 100 ms after the last answer. ``load_avg_1m`` says how busy the
machine was: compare with the baseline of the same run, not across runs.

``--vs DIR`` also runs the CLI of another source tree (an export of main: ``git archive
main | tar -x -C DIR``) in the same rounds, so before and after see the same load.
``cpu_ms`` is each process's whole CPU time (user + system), which load stretches less
than wall time; ``cpu_to_first_call_ms`` the CPU it had used when it opened the first
model call's connection (read in the process, by a hook on ``socket.connect``).

``libraries``, in the same rounds, is a process that imports the libraries a run needs
before its first call (Typer and its pydantic adapters, pydantic, httpx and httpcore,
anyio on asyncio, PyYAML, msgspec, sqlite3) and nothing of scenario-lab: its CPU is
the part of the run's start that no change to scenario-lab can remove.

    python benchmarks/bench_cli_run.py [--quick] [--repeat N] [--turns N] [--vs DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import emit
from bench_engine import BASELINE_CLIENT, SUMMIT, _timed, compile_tree

from tests.fakellm import FakeLLMServer

KEYS = ("start_to_first_call_ms", "last_answer_to_exit_ms", "cpu_ms", "cpu_to_first_call_ms")

# The CLI's entry point, with a hook that writes the process's CPU time at its first
# outgoing connection (the first model call's) to $BENCH_CPU_OUT.
CLI = """
import os, resource, socket
_connect = socket.socket.connect
def connect(self, address):
    out = os.environ.pop("BENCH_CPU_OUT", None)
    if out:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        with open(out, "w") as f:
            f.write(str((ru.ru_utime + ru.ru_stime) * 1000))
    return _connect(self, address)
socket.socket.connect = connect
from cli.app import main
main()
"""

# What `run` imports of libraries before its first call, set up as cli/root.py sets
# them (no httpx command line, no pydantic plugin scan), and nothing of scenario-lab.
LIBRARIES = """
import os, sys
sys.modules.setdefault("httpx._main", None)
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
import typer, typer.main, typer._adapters, pydantic, httpx, httpcore, h11
import anyio, anyio._backends._asyncio, yaml, msgspec, sqlite3, importlib.metadata
"""


def timed_with_cpu(
    cmd: list[str], srv: FakeLLMServer, latency: float, env: dict[str, str], cwd: Path
) -> dict[str, float]:
    """``bench_engine._timed`` plus the process's CPU (its children's rusage delta) and,
    when the command writes it, its CPU at the first call."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        sample = _timed(cmd, srv, latency, env)
    finally:
        os.chdir(old)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = env.get("BENCH_CPU_OUT")
    if out:
        sample["cpu_to_first_call_ms"] = float(Path(out).read_text())
    return {**sample, "cpu_ms": cpu * 1000}


def cpu_of(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """A process that calls nothing: its CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_ms": cpu * 1000}


def ranges(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in KEYS:
        values = sorted(x[key] for x in samples if key in x)
        if values:
            low, mid, high = values[0], statistics.median(values), values[-1]
            out[key] = [round(low, 1), round(mid, 1), round(high, 1)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round at 50 ms a call")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--vs", type=Path, help="another source tree's CLI, alternating")
    args = parser.parse_args()
    repeat, latency = (1, 0.05) if args.quick else (args.repeat, 0.2)
    here = Path(__file__).resolve().parent.parent
    trees = {"now": here} | ({"vs": args.vs.resolve()} if args.vs else {})
    env = {**os.environ, "SCENARIO_LAB_LLM_API_KEY": "bench"}
    samples: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as d, FakeLLMServer(latency_s=latency) as srv:
        tmp = Path(d)
        for tree in trees.values():  # bytecode written once, as an installed package has it
            compile_tree(tree)
        for i in range(repeat):
            base = [sys.executable, "-c", BASELINE_CLIENT, srv.base_url]
            samples.setdefault("baseline", []).append(timed_with_cpu(base, srv, latency, env, here))
            libraries = [sys.executable, "-c", LIBRARIES]
            samples.setdefault("libraries", []).append(cpu_of(libraries, env))
            for name, tree in trees.items():
                db = tmp / f"{name}-{i}.db"
                cmd = [sys.executable, "-c", CLI, "run"]
                cmd += [str(SUMMIT), "--db", str(db), "--turns", str(args.turns), "--seed", "1"]
                cmd += ["--llm-base-url", srv.base_url]
                for case in ("new_log", "existing_log"):
                    cpu_out = tmp / f"{name}-{i}-{case}.cpu"
                    tree_env = {**env, "PYTHONPATH": str(tree), "BENCH_CPU_OUT": str(cpu_out)}
                    sample = timed_with_cpu(cmd, srv, latency, tree_env, tree)
                    samples.setdefault(f"{name}_{case}", []).append(sample)
    emit(
        {
            "benchmark": "cli_run",
            "turns": args.turns,
            "repeat": repeat,
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "ranges": "min, median, max",
        }
        | {case: ranges(found) for case, found in samples.items()}
    )


if __name__ == "__main__":
    main()
