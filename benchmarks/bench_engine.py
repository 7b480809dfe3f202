"""Engine speed: overhead per decision, concurrency against a slow model, a big rule run.

Prints one JSON object:
- ``overhead``: decisions per second with an in-process instant LLM (events appended
  included) and engine milliseconds per decision (target < 2 ms); baseline: the same
  number of bare ``store.append`` calls of the decision events, so the ratio shows what
  the engine adds on top of writing its log.
- ``concurrency``: 20 runs in one process against the loopback fake at 200 ms latency
  with one cap of 32 concurrent calls: achieved calls/s vs the ideal 32 / 0.2 = 160
  (target >= 0.9 of ideal). The fake runs as its own process (``python -m
  tests.fakellm``): in this one its threads' CPU and GIL time would be charged to the
  engine under measurement. Each turn's world update waits for all six decisions, and
  while runs start and end the cap cannot be full, so even an engine with no overhead
  stays below the ideal: ``phase_bound`` is that ceiling for the run shape (0.92 for
  runs of 4 turns, 0.95 for 10). The runs play 10 turns so that the measure is the
  engine keeping the cap full, not the start and the tail of very short runs;
  ``mean_call_ms`` is the time a call took as the engine saw it.
- ``rules``: a rule-driven 10-actor, 50-turn run: wall time.
``--quick`` shrinks every size for a smoke run.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit, phase_bound
from _scenarios import llm_scenario, rules_scenario

from engine.llm import ChatRequest, ChatResponse, LLMSettings, PriceTable, Router
from engine.play.player import RunPlayer
from engine.play.session import start_run
from engine.scenario.load import load_scenario
from eventstore import DecisionMade, EventStore
from tests.fakellm import fake_process

# Turns each run of the concurrency case plays (see the docstring).
CONCURRENCY_TURNS = 10

DECISION = json.dumps(
    {
        "long_term_goals": ["win"],
        "short_term_priorities": ["now"],
        "reasoning": "because",
        "action": "act",
        "action_name": None,
    }
)
WORLD = json.dumps({"narrative": "the world moves", "key_changes": ["x"], "consequences": ["y"]})


class InstantLLM:
    """Answers at once, so only the engine's own time is measured."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        text = WORLD if request.purpose == "world_update" else DECISION
        return ChatResponse(
            text=text,
            model=request.model,
            input_tokens=100,
            output_tokens=20,
            latency_ms=0.0,
            attempts=(),
            finish_reason="stop",
            schema_enforced=True,
        )

    async def aclose(self) -> None:
        return None


def play_one(
    db: Path, scenario: Path, client: Any, limiter: anyio.CapacityLimiter | None = None
) -> tuple[str, float]:
    loaded = load_scenario(scenario)

    async def main() -> float:
        with EventStore.open(db) as store:
            run_id = start_run(store, loaded, seed=1)
            player = RunPlayer(
                store, run_id, client=client, prices=PriceTable.load(), limiter=limiter
            )
            t0 = time.perf_counter()
            await player.play()
            return time.perf_counter() - t0

    return "", anyio.run(main)


def bench_overhead(tmp: Path, actors: int, turns: int) -> dict[str, Any]:
    scenario = llm_scenario(tmp / "llm", actors, turns)
    _id, seconds = play_one(tmp / "overhead.db", scenario, InstantLLM())
    decisions = actors * turns
    # baseline: append the same decision events one call each, nothing else
    with EventStore.open(tmp / "baseline.db") as store:
        run = store.create_run()
        seq = 0
        t0 = time.perf_counter()
        for t in range(decisions):
            seq = store.append(
                run,
                [DecisionMade(turn=t, actor="a", request_id=str(t), action="act")],
                expected_seq=seq,
            ).last_seq
        base = time.perf_counter() - t0
    ms = seconds / decisions * 1000
    return {
        "decisions": decisions,
        "decisions_per_s": round(decisions / seconds, 1),
        "engine_ms_per_decision": round(ms, 3),
        "baseline_append_ms_per_decision": round(base / decisions * 1000, 3),
        "target_ms": 2.0,
        "pass": ms < 2.0,
    }


def bench_concurrency(tmp: Path, runs: int, turns: int, latency: float, cap: int) -> dict[str, Any]:
    scenario = llm_scenario(tmp / "conc", 6, turns)
    loaded = load_scenario(scenario)
    with fake_process(latency) as base_url:
        settings = LLMSettings.from_env({}, base_url=base_url)

        async def main() -> float:
            limiter = anyio.CapacityLimiter(cap)
            prices = PriceTable.load()  # one table for all runs, as a batch shares one
            async with Router(settings) as router:
                with EventStore.open(tmp / "conc.db") as store:
                    ids = [start_run(store, loaded, seed=i) for i in range(runs)]
                stores = [EventStore.open(tmp / "conc.db") for _ in ids]
                # the set-up's garbage is collected before the clock starts, not in it
                gc.collect()
                try:
                    t0 = time.perf_counter()
                    async with anyio.create_task_group() as tg:
                        for store, run_id in zip(stores, ids, strict=True):
                            player = RunPlayer(
                                store,
                                run_id,
                                client=router,
                                prices=prices,
                                limiter=limiter,
                            )
                            tg.start_soon(player.play)
                    return time.perf_counter() - t0
                finally:
                    for s in stores:
                        s.close()

        seconds = anyio.run(main)
    with EventStore.open(tmp / "conc.db") as store:
        calls = sum(r.type == "CostIncurred" for r in store.iter_after(0))
        # each call's time as the engine saw it (request sent to reply read): what the
        # client, the fake and a busy event loop add to the 200 ms
        call_ms = [
            e.call.latency_ms
            for run in store.list_runs()
            for e in store.read_events(run.run_id)
            if getattr(e, "call", None) is not None
        ]
    ideal = cap / latency
    achieved = calls / seconds
    return {
        "runs": runs,
        "turns": turns,
        "calls": calls,
        "seconds": round(seconds, 3),
        "calls_per_s": round(achieved, 1),
        "ideal_calls_per_s": ideal,
        "ratio": round(achieved / ideal, 3),
        "phase_bound": round(phase_bound(runs, turns, 6, cap), 3),
        "mean_call_ms": round(statistics.mean(call_ms), 1) if call_ms else None,
        "target_ratio": 0.9,
        "pass": achieved / ideal >= 0.9,
    }


def bench_rules(tmp: Path, actors: int, turns: int) -> dict[str, Any]:
    scenario = rules_scenario(tmp / "rules", actors, turns)
    _id, seconds = play_one(tmp / "rules.db", scenario, None)
    with EventStore.open(tmp / "rules.db") as store:
        events = store.max_position()
    return {
        "actors": actors,
        "turns": turns,
        "events": events,
        "wall_s": round(seconds, 3),
        "events_per_s": round(events / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.quick:
            result = {
                "overhead": bench_overhead(tmp, 3, 3),
                "concurrency": bench_concurrency(tmp, 3, 1, 0.05, 4),
                "rules": bench_rules(tmp, 4, 5),
            }
        else:
            result = {
                "overhead": bench_overhead(tmp, 10, 50),
                # 20 runs of 6 actors keep more than 32 calls wanted most of the time
                "concurrency": bench_concurrency(tmp, 20, CONCURRENCY_TURNS, 0.2, 32),
                "rules": bench_rules(tmp, 10, 50),
            }
    emit({"benchmark": "engine", **result})


if __name__ == "__main__":
    main()
