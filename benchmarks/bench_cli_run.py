"""``scenario-lab run`` from process start to its first model call, and from its last
answer to exit: the ``cli_run`` case of ``bench_engine.py`` on its own, so it can be
repeated quickly while working on start-up (the engine benchmark takes minutes).

The bundled 3-actor ``ai-summit`` against the loopback fake at 200 ms, into a new log
and into the log it left, alternating with the baseline: a bare Python process that
imports httpx and sends one request (the floor of any such client). Targets: < 300 ms
to the first call, < 100 ms after the last answer. ``load_avg_1m`` says how busy the
machine was: compare with the baseline of the same run, not across runs.

    python benchmarks/bench_cli_run.py [--quick] [--repeat N] [--turns N]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import emit, parse_args
from bench_engine import bench_cli_run


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], repeat=(7, 1), turns=(2, 1))
    with tempfile.TemporaryDirectory() as d:
        latency = 0.05 if args.quick else 0.2
        result = bench_cli_run(Path(d), args.turns, latency, repeat=args.repeat)
    emit({"benchmark": "cli_run", **result})


if __name__ == "__main__":
    main()
