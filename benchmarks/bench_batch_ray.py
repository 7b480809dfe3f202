"""Batches on Ray (``--executor ray``) against the process pool, measured in one run.

- rules: ``runs`` rule-driven runs of a 5-actor, 20-turn scenario on a local Ray of
  this machine's CPUs (one task per run), and the same batch on the process pool with
  as many workers: events/s of each and their ratio (target >= 0.8). The Ray cluster is
  started before the clock starts (a cluster outlives its batches; ``ray_start_s`` says
  what starting one costs; each part gets its own, as each CLI batch does); the pool's
  start-up is inside its time, as a batch pays it.
- llm: ``llm_runs`` runs of a 4-actor, 3-turn scenario on Ray run hosts against the
  loopback fake (its own process) at 200 ms a call, all runs in flight, one cap of 64
  calls across the cluster: achieved calls/s vs the ideal 64 / 0.2 = 320 (target
  >= 0.9), over the whole batch (``ratio``: starting the run hosts included, which a
  short batch feels) and from the first answer recorded to the last
  (``steady_ratio``); ``phase_bound`` is the ceiling any engine has for this run shape.
  The same batch with the process executor (one event loop) is the baseline:
  ``ray_to_process_ratio``.

    python benchmarks/bench_batch_ray.py [--quick] [--runs N] [--llm-runs N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import emit, parse_args, phase_bound
from _scenarios import llm_scenario, rules_scenario
from bench_batch import CALL_CAP, LATENCY_S, LLM_ACTORS, LLM_TURNS, batch_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.batch.config import load_batch
from engine.batch.plan import record_batch
from engine.batch.play import run_batch
from engine.batch.ray_executor import RayOptions, connect
from engine.llm import LLMSettings, PriceTable, Router
from eventstore import EventStore
from tests.fakellm import fake_process


def play(db: Path, file: Path, **options: Any) -> tuple[float, int]:
    """Seconds to play the batch of ``file`` into ``db``, and the events it wrote."""
    with EventStore.open(db) as store:
        batch_id = record_batch(store, load_batch(file))
    t0 = time.perf_counter()
    result = run_batch(db, batch_id, **options)
    seconds = time.perf_counter() - t0
    failed = [o for o in result.outcomes if o.status != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} runs did not complete: {failed[0]}")
    with EventStore.open(db) as store:
        return seconds, store.max_position()


def bench_rules(tmp: Path, runs: int, cpus: int) -> dict[str, Any]:
    scenario = rules_scenario(tmp / "rules", 5, 20, "bench-batch-ray-rules")
    variations = [
        {
            "type": "actor_parameter",
            "parameter": "actors.r0.preferences.trade",
            "values": [0.5, 1.0],
        }
    ]
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    file_a = batch_file(tmp / "a", scenario, runs // 2, variations)
    file_b = batch_file(tmp / "b", scenario, runs // 2, variations)
    ray_s, ray_events = play(tmp / "ray.db", file_a, ray=RayOptions(), parallel=cpus)
    pool_s, pool_events = play(tmp / "pool.db", file_b, parallel=cpus)
    ratio = (ray_events / ray_s) / (pool_events / pool_s)
    return {
        "runs": runs,
        "events": ray_events,
        "cpus": cpus,
        "wall_s_ray": round(ray_s, 2),
        "events_per_s_ray": round(ray_events / ray_s, 1),
        "wall_s_pool": round(pool_s, 2),
        "events_per_s_pool": round(pool_events / pool_s, 1),
        "ratio": round(ratio, 3),
        "target_ratio": 0.8,
        "pass": ratio >= 0.8,
    }


def bench_llm(tmp: Path, runs: int, latency: float, cap: int) -> dict[str, Any]:
    scenario = llm_scenario(tmp / "llm", LLM_ACTORS, LLM_TURNS, "bench-batch-ray-llm")
    ideal = cap / latency
    out: dict[str, Any] = {"runs": runs, "ideal_calls_per_s": round(ideal, 1)}
    with fake_process(latency) as base_url:
        for name, executor in (("ray", RayOptions()), ("process", None)):
            folder = tmp / f"llm-{name}"
            folder.mkdir(parents=True)
            db = folder / "llm.db"
            router = Router(LLMSettings.from_env({}, base_url=base_url))
            t0 = time.time()
            seconds, _events = play(
                db,
                batch_file(folder, scenario, runs, []),
                ray=executor,
                client=router,
                prices=PriceTable.load(),
                parallel=runs,
                call_limit=cap,
            )
            with EventStore.open(db) as store:
                stamps = [
                    datetime.fromisoformat(r.recorded_at).timestamp()
                    for r in store.iter_after(0)
                    if r.type == "CostIncurred"
                ]
            calls, span = len(stamps), max(stamps) - min(stamps)
            out[f"calls_{name}"] = calls
            out[f"seconds_{name}"] = round(seconds, 3)
            out[f"calls_per_s_{name}"] = round(calls / seconds, 1)
            # until the first answer is recorded: Ray starts its run hosts, the pool nothing
            out[f"first_call_s_{name}"] = round(min(stamps) - t0, 2)
            # from the first answer recorded to the last: the pace once the runs play
            out[f"steady_calls_per_s_{name}"] = round((calls - 1) / span, 1)
    steady = out["steady_calls_per_s_ray"] / ideal
    return {
        **out,
        "ratio": round(out["calls_per_s_ray"] / ideal, 3),
        "steady_ratio": round(steady, 3),
        "ray_to_process_ratio": round(out["calls_per_s_ray"] / out["calls_per_s_process"], 3),
        "phase_bound": round(phase_bound(runs, LLM_TURNS, LLM_ACTORS, cap), 3),
        "target_ratio": 0.9,
        "pass": steady >= 0.9,
    }


def on_fresh_ray(part: Any, *args: Any) -> tuple[dict[str, Any], float]:
    """``part(*args)`` on a local Ray started for it, as each `batch run --executor ray`
    without ``--address`` starts its own: the LLM part's run hosts then start on Ray's
    prestarted workers, not on new processes behind workers the rule part kept busy.
    Returns the part's figures and the seconds Ray took to start (outside the clock)."""
    t0 = time.perf_counter()
    ray, _started = connect(RayOptions())
    started = time.perf_counter() - t0
    try:
        return part(*args), started
    finally:
        ray.shutdown()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], runs=(1000, 20), llm_runs=(100, 6))
    cpus = os.cpu_count() or 1
    latency, cap = (LATENCY_S, CALL_CAP) if not args.quick else (0.05, 8)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rules, rules_start = on_fresh_ray(bench_rules, tmp, args.runs, cpus)
        llm, llm_start = on_fresh_ray(bench_llm, tmp, args.llm_runs, latency, cap)
    emit(
        {
            "benchmark": "batch_ray",
            "ray_start_s": [round(rules_start, 2), round(llm_start, 2)],
            "rules": rules,
            "llm": llm,
            "load_avg": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()
