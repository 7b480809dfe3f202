"""Batches: a rule-driven batch in worker processes, and an LLM batch in one process.

- rules: ``runs`` rule-driven runs of a 5-actor, 20-turn scenario (written to a temp
  dir) played by ``run_batch`` with 2 worker processes: wall time (start-up of the
  workers included) and events/s. Baseline: the same batch with 1 worker; the
  speed-up of 2 over 1 has a target of >= 1.6 (and the 2-worker wall < 2 min for
  1000 runs). ``cpus`` and ``load_avg`` say what the machine had to give: on a shared
  or 2-CPU machine busy with other work, two workers cannot reach two CPUs' worth.
- llm: ``llm_runs`` runs of a 4-actor, 3-turn scenario against the loopback fake
  (``python -m tests.fakellm``, its own process) at 200 ms a call, all runs in flight,
  one cap of 64 calls: achieved calls/s vs the ideal 64 / 0.2 = 320 (target >= 0.9),
  with this process's CPU per call; ``llm_cap_16``: a third of the runs at a cap of 16
  (ideal 80 calls/s), a pace one process's CPU can keep.

    python benchmarks/bench_batch.py [--quick] [--runs N] [--baseline-runs N] [--llm-runs N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import emit, parse_args, phase_bound
from _scenarios import llm_scenario, rules_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.batch.config import load_batch
from engine.batch.plan import record_batch
from engine.batch.play import run_batch
from engine.llm import LLMSettings, PriceTable, Router
from eventstore import EventStore
from tests.fakellm import fake_process

LATENCY_S = 0.2
CALL_CAP = 64
LLM_ACTORS, LLM_TURNS = 4, 3  # each run of the LLM batch


def batch_file(folder: Path, scenario: Path, runs: int, variations: list[Any]) -> Path:
    path = folder / "batch.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "experiment_name": "bench",
                "base_scenario": str(scenario),
                "runs_per_variation": runs,
                "seed": 1,
                "variations": variations,
            }
        )
    )
    return path


def play_rules(tmp: Path, file: Path, workers: int) -> tuple[float, int]:
    db = tmp / f"rules-{workers}.db"
    with EventStore.open(db) as store:
        batch_id = record_batch(store, load_batch(file))
    t0 = time.perf_counter()
    result = run_batch(db, batch_id, client=None, parallel=workers)
    seconds = time.perf_counter() - t0
    failed = [o for o in result.outcomes if o.status != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} rule runs did not complete: {failed[0]}")
    with EventStore.open(db) as store:
        return seconds, store.max_position()


def bench_rules(tmp: Path, runs: int, baseline_runs: int) -> dict[str, Any]:
    scenario = rules_scenario(tmp / "rules", 5, 20, "bench-batch-rules")
    # two variations of one actor's taste for trade, so the batch has a matrix to expand
    variations = [
        {
            "type": "actor_parameter",
            "parameter": "actors.r0.preferences.trade",
            "values": [0.5, 1.0],
        }
    ]
    main_dir, base_dir = tmp / "main", tmp / "base"
    main_dir.mkdir()
    base_dir.mkdir()
    two_s, events = play_rules(tmp, batch_file(main_dir, scenario, runs // 2, variations), 2)
    one_s, base_events = play_rules(
        tmp, batch_file(base_dir, scenario, baseline_runs // 2, variations), 1
    )
    rate_two, rate_one = events / two_s, base_events / one_s
    speedup = rate_two / rate_one
    return {
        "runs": runs,
        "actors": 5,
        "turns": 20,
        "events": events,
        "wall_s_2_workers": round(two_s, 2),
        "events_per_s_2_workers": round(rate_two, 1),
        "baseline_runs": baseline_runs,
        "wall_s_1_worker": round(one_s, 2),
        "events_per_s_1_worker": round(rate_one, 1),
        "speedup_ratio": round(speedup, 3),
        "target_speedup": 1.6,
        "cpus": os.cpu_count(),
        "load_avg": round(os.getloadavg()[0], 2),
        "pass": speedup >= 1.6 and (runs < 1000 or two_s < 120),
    }


def bench_llm(tmp: Path, runs: int, latency: float, cap: int) -> dict[str, Any]:
    scenario = llm_scenario(tmp / "llm", LLM_ACTORS, LLM_TURNS, "bench-batch-llm")
    folder = tmp / "llm-batch"
    folder.mkdir(parents=True)
    file = batch_file(folder, scenario, runs, [])
    db = tmp / "llm.db"
    with EventStore.open(db) as store:
        batch_id = record_batch(store, load_batch(file))
    with fake_process(latency) as base_url:
        router = Router(LLMSettings.from_env({}, base_url=base_url))
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = run_batch(
            db, batch_id, client=router, prices=PriceTable.load(), parallel=runs, call_limit=cap
        )
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    failed = [o for o in result.outcomes if o.status != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} LLM runs did not complete: {failed[0]}")
    with EventStore.open(db) as store:
        calls = sum(r.type == "CostIncurred" for r in store.iter_after(0))
    ideal = cap / latency
    achieved = calls / seconds
    return {
        "runs": runs,
        "calls": calls,
        "seconds": round(seconds, 3),
        "calls_per_s": round(achieved, 1),
        "ideal_calls_per_s": round(ideal, 1),
        "ratio": round(achieved / ideal, 3),
        # the ceiling of any engine for this run shape (see _common.phase_bound)
        "phase_bound": round(phase_bound(runs, LLM_TURNS, LLM_ACTORS, cap), 3),
        "target_ratio": 0.9,
        "pass": achieved / ideal >= 0.9,
        # this process's CPU per call (engine, HTTP client, log): when calls/s times this
        # nears 1000 ms, the one event loop, not the cap, sets the pace
        "cpu_ms_per_call": round(1000 * cpu / calls, 2),
        "cpu_bound_calls_per_s": round(calls / cpu, 1),
        # the ratio falls with the machine's other work (the fake shares the CPUs too)
        "load_avg": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0], runs=(1000, 20), baseline_runs=(1000, 20), llm_runs=(100, 6)
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        latency, cap = (LATENCY_S, CALL_CAP) if not args.quick else (0.05, 8)
        emit(
            {
                "benchmark": "batch",
                "rules": bench_rules(tmp, args.runs, args.baseline_runs),
                "llm": bench_llm(tmp, args.llm_runs, latency, cap),
                # the same at a cap one process can feed: the batch's own overhead
                "llm_cap_16": bench_llm(tmp / "cap16", max(6, args.llm_runs // 3), latency, 16),
            }
        )


if __name__ == "__main__":  # the worker processes import this file: play only when run
    main()
