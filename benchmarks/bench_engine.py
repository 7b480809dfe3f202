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
  ``mean_call_ms`` is the time a call took as the engine saw it, ``cpu_ms_per_call``
  this process's CPU per call (engine, HTTP client and log; the fake's is its own).
- ``rules``: a rule-driven 10-actor, 50-turn run: wall time.
- ``turn_rounds``: the bundled 3-actor LLM scenario ``ai-summit`` (talks, decisions,
  world update, a model-judged metric, two validation checks) against the loopback
  fake at 200 ms: how many sequential rounds of model calls a turn makes (requests
  arriving at the fake within half a latency of a round's first one are one round)
  and the wall time per turn. Everything a turn waits on is a round, so the wall time
  per turn is about ``rounds_per_turn`` x the latency.
- ``cli_run``: the same scenario through the real ``scenario-lab run`` process, into a
  new log and then into that log again: from process start to its first model request
  at the fake, and from the last answer the fake sent to the process's exit (the
  waiting a user sees before and after the calls); min/median/max of several runs.
  Targets: < 300 ms and < 100 ms. Baseline, alternating with them: a bare Python
  process importing httpx and sending one request, the floor of any such client.
``--quick`` shrinks every size for a smoke run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
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
from tests.fakellm import FakeLLMServer, fake_process

ROOT = Path(__file__).resolve().parent.parent
# 3 AI actors, public statements, one model-judged metric and two validation checks
SUMMIT = ROOT / "scenarios" / "ai-summit"

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

        cpu0 = time.process_time()
        seconds = anyio.run(main)
        cpu = time.process_time() - cpu0
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
        # this process's CPU per call (engine, HTTP client, log; set-up included)
        "cpu_ms_per_call": round(1000 * cpu / calls, 2) if calls else None,
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


class ArrivalLog:
    """A fake's responder that notes when each chat request arrived, and for what.

    It answers nothing itself (``None``): the fake then answers with an instance of the
    request's schema, as it does for every test.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, str]] = []  # (time.monotonic(), schema name)

    def __call__(self, request: dict[str, Any]) -> None:
        spec = (request.get("response_format") or {}).get("json_schema") or {}
        with self.lock:
            self.arrivals.append((time.monotonic(), str(spec.get("name", "?"))))


def rounds_of(arrivals: list[tuple[float, str]], latency: float) -> list[list[str]]:
    """Requests grouped into rounds: a round is the requests that arrive within half a
    latency of its first one (a round that waits on an answer starts a latency later)."""
    rounds: list[list[str]] = []
    start = -1e9
    for at, what in sorted(arrivals):
        if at - start > latency / 2:
            rounds.append([])
            start = at
        rounds[-1].append(what)
    return rounds


def bench_turn_rounds(tmp: Path, turns: int, latency: float) -> dict[str, Any]:
    loaded = load_scenario(SUMMIT)
    log = ArrivalLog()
    with FakeLLMServer(latency_s=latency, responder=log) as srv:
        settings = LLMSettings.from_env({}, base_url=srv.base_url)

        async def main() -> float:
            async with Router(settings) as router:
                with EventStore.open(tmp / "rounds.db") as store:
                    run_id = start_run(store, loaded, seed=1, turns=turns)
                    player = RunPlayer(store, run_id, client=router, prices=PriceTable.load())
                    t0 = time.perf_counter()
                    await player.play()
                    return time.perf_counter() - t0

        seconds = anyio.run(main)
    rounds = rounds_of(log.arrivals, latency)
    return {
        "scenario": "ai-summit",
        "actors": len(loaded.scenario.actors),
        "turns": turns,
        "latency_ms": round(latency * 1000),
        "calls": len(log.arrivals),
        "rounds_per_turn": round(len(rounds) / turns, 2),
        # what each round of one turn asked for (schema names), to see what overlaps
        "rounds_of_a_turn": [sorted(set(r)) for r in rounds[: len(rounds) // turns]],
        "wall_s_per_turn": round(seconds / turns, 3),
    }


# The floor under the CLI's figures: a bare Python process that imports httpx (the
# HTTP client the engine uses) and sends one chat request, measured the same way.
BASELINE_CLIENT = """
import sys, httpx
body = {"model": "test/actor", "messages": [{"role": "user", "content": "hi"}]}
httpx.post(sys.argv[1] + "/chat/completions", json=body, timeout=30).raise_for_status()
"""


def _timed(
    cmd: list[str], srv: FakeLLMServer, latency: float, env: dict[str, str]
) -> dict[str, float]:
    """Run ``cmd`` against the fake: ms from process start to the first request the
    fake saw, and from the last answer it sent to the process's exit."""
    log = ArrivalLog()
    srv.responder = log
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    ended = time.monotonic()
    first = min(at for at, _ in log.arrivals)
    last_answer = max(at for at, _ in log.arrivals) + latency
    return {
        "calls": len(log.arrivals),
        "start_to_first_call_ms": (first - started) * 1000,
        "last_answer_to_exit_ms": (ended - last_answer) * 1000,
    }


def _ranges(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": samples[0]["calls"]}
    for key in ("start_to_first_call_ms", "last_answer_to_exit_ms"):
        values = sorted(x[key] for x in samples)
        out[key] = {
            "min": round(values[0], 1),
            "median": round(statistics.median(values), 1),
            "max": round(values[-1], 1),
        }
    return out


def compile_tree(tree: Path) -> None:
    """Write the bytecode of a source tree's packages, as an installed package has it:
    with ``PYTHONDONTWRITEBYTECODE`` set (these sessions' environment sets it), every
    module edited since its bytecode was last written would be compiled from source at
    each start (~60 ms for 30 modules), which no user's run pays."""
    packages = ["cli", "engine", "eventstore", "scenario_lab"]
    cmd = [sys.executable, "-m", "compileall", "-q", *packages]
    subprocess.run(cmd, cwd=tree, check=True, capture_output=True)


def bench_cli_run(tmp: Path, turns: int, latency: float, repeat: int = 3) -> dict[str, Any]:
    """``scenario-lab run`` into a new log and into the log it left (the usual case; the
    first pays for creating the log), ``repeat`` times each, alternating with the
    baseline (``BASELINE_CLIENT``) so that all three see the same load. Targets: start
    to first call < 300 ms, last answer to exit < 100 ms."""
    script = Path(sys.executable).parent / "scenario-lab"
    env = {**os.environ, "SCENARIO_LAB_LLM_API_KEY": "bench"}
    compile_tree(Path(__file__).resolve().parent.parent)
    samples: dict[str, list[dict[str, float]]] = {"baseline": [], "new_log": [], "existing_log": []}
    with FakeLLMServer(latency_s=latency) as srv:
        for i in range(repeat):
            db = tmp / f"cli-{i}.db"
            cmd = [str(script), "run", str(SUMMIT), "--db", str(db), "--turns", str(turns)]
            cmd += ["--seed", "1", "--llm-base-url", srv.base_url]
            samples["baseline"].append(
                _timed([sys.executable, "-c", BASELINE_CLIENT, srv.base_url], srv, latency, env)
            )
            samples["new_log"].append(_timed(cmd, srv, latency, env))
            samples["existing_log"].append(_timed(cmd, srv, latency, env))
    return {"turns": turns, "repeat": repeat, "load_avg_1m": os.getloadavg()[0]} | {
        case: _ranges(found) for case, found in samples.items()
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
                "turn_rounds": bench_turn_rounds(tmp, 1, 0.05),
                "cli_run": bench_cli_run(tmp, 1, 0.05, repeat=1),
            }
        else:
            result = {
                "overhead": bench_overhead(tmp, 10, 50),
                # 20 runs of 6 actors keep more than 32 calls wanted most of the time
                "concurrency": bench_concurrency(tmp, 20, CONCURRENCY_TURNS, 0.2, 32),
                "rules": bench_rules(tmp, 10, 50),
                "turn_rounds": bench_turn_rounds(tmp, 4, 0.2),
                "cli_run": bench_cli_run(tmp, 2, 0.2, repeat=5),
            }
    emit({"benchmark": "engine", **result})


if __name__ == "__main__":
    main()
