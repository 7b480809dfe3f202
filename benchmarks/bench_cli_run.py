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
than wall time.

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
from bench_engine import BASELINE_CLIENT, SUMMIT, _timed

from tests.fakellm import FakeLLMServer

KEYS = ("start_to_first_call_ms", "last_answer_to_exit_ms", "cpu_ms")


def timed_with_cpu(
    cmd: list[str], srv: FakeLLMServer, latency: float, env: dict[str, str], cwd: Path
) -> dict[str, float]:
    """``bench_engine._timed`` plus the process's CPU (its children's rusage delta)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        sample = _timed(cmd, srv, latency, env)
    finally:
        os.chdir(old)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**sample, "cpu_ms": cpu * 1000}


def ranges(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in KEYS:
        values = sorted(x[key] for x in samples)
        out[key] = [round(values[0], 1), round(statistics.median(values), 1), round(values[-1], 1)]
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
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "compileall",
                    "-q",
                    "cli",
                    "engine",
                    "eventstore",
                    "scenario_lab",
                ],
                cwd=tree,
                check=True,
                capture_output=True,
            )
        for i in range(repeat):
            base = [sys.executable, "-c", BASELINE_CLIENT, srv.base_url]
            samples.setdefault("baseline", []).append(timed_with_cpu(base, srv, latency, env, here))
            for name, tree in trees.items():
                db = tmp / f"{name}-{i}.db"
                cmd = [sys.executable, "-c", "from cli.app import main; main()", "run"]
                cmd += [str(SUMMIT), "--db", str(db), "--turns", str(args.turns), "--seed", "1"]
                cmd += ["--llm-base-url", srv.base_url]
                tree_env = {**env, "PYTHONPATH": str(tree)}
                for case in ("new_log", "existing_log"):
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
