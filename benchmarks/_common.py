"""Shared helpers of the benchmark scripts: arguments, timing, a realistic event mix.

Every benchmark prints exactly one JSON object on stdout and compares the code under
test with a baseline measured in the same process and run, so figures from different
machines are comparable as ratios.
"""

from __future__ import annotations

import argparse
import heapq
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from eventstore import (
    CostIncurred,
    DecisionMade,
    DecisionRequested,
    Event,
    MessageSent,
    MetricRecorded,
    ModelCall,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
)


def parse_args(description: str, **sizes: tuple[int, int]) -> argparse.Namespace:
    """Arguments ``--quick`` and one ``--<size>`` per entry of ``sizes`` (default, quick)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run of a few seconds"
    )
    for name, (default, quick) in sizes.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help=f"default {default}, {quick} with --quick",
        )
    args = parser.parse_args()
    for name, (default, quick) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    return args


def emit(result: dict[str, Any]) -> None:
    """Print the one JSON object of a benchmark, with when and where it was measured."""
    result = {
        **result,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls: robust to one slow outlier."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_setup() -> list[Event]:
    """Turn 0 of a run: what ``engine.play.session`` records before the first turn."""
    return [
        RunStarted(
            turn=0,
            scenario_name="bench",
            scenario={"actors": ["north", "south"], "turns": 3},
            scenario_sha256="0" * 64,
            seed=7,
            settings=RunSettings(turns=3),
            tool_version="bench",
        ),
        MetricRecorded(turn=0, name="tension", value=0.5, method="rules"),
        TurnCompleted(turn=0),
    ]


def turn_events(turn: int) -> list[Event]:
    """Ten small events of one played turn, in the order the engine records them."""
    call = ModelCall(model="m", input_tokens=900, output_tokens=150, cost_usd=0.0012)
    return [
        TurnStarted(turn=turn, simulated_date="2031-04-01"),
        MessageSent(
            turn=turn,
            message_id=f"m{turn}",
            sender="north",
            recipients=("south",),
            channel="bilateral",
            visibility="private",
            content="We propose a joint patrol schedule.",
        ),
        DecisionRequested(turn=turn, actor="north", request_id=f"n{turn}", model="m"),
        DecisionRequested(turn=turn, actor="south", request_id=f"s{turn}", model="m"),
        DecisionMade(
            turn=turn,
            actor="north",
            request_id=f"n{turn}",
            reasoning="De-escalate while keeping leverage.",
            action="Hold exercises at current scale.",
            parse_method="json",
            call=call,
        ),
        DecisionMade(
            turn=turn,
            actor="south",
            request_id=f"s{turn}",
            reasoning="Signal resolve.",
            action="Deploy two frigates.",
            parse_method="json",
            call=call,
        ),
        CostIncurred(turn=turn, model="m", purpose="decision", actor="north", cost_usd=0.0012),
        CostIncurred(turn=turn, model="m", purpose="decision", actor="south", cost_usd=0.0012),
        MetricRecorded(turn=turn, name="tension", value=0.5 + turn % 7 / 10, method="rules"),
        TurnCompleted(turn=turn),
    ]


def phase_bound(runs: int, turns: int, actors: int, cap: int) -> float:
    """The best ratio to ``cap / latency`` any engine could reach with this run shape.

    Each turn of a run is its actors' decisions in parallel, then one world update that
    waits for all of them; calls take one time unit and queue first-come first-served
    behind ``cap``. While runs start and finish, and while a run waits on its world
    update, the cap is not full however fast the engine is: this is the ceiling a
    measured ratio should be read against (no engine, client or server overhead in it).
    """
    now = 0.0
    seq = 0
    queue: list[int] = []
    in_flight: list[tuple[float, int, int]] = []  # (finish time, order, run)
    left = {r: turns for r in range(runs)}
    open_calls = dict.fromkeys(range(runs), actors)
    deciding = dict.fromkeys(range(runs), True)
    for r in range(runs):
        queue += [r] * actors
    calls = 0
    while queue or in_flight:
        while queue and len(in_flight) < cap:
            seq += 1
            heapq.heappush(in_flight, (now + 1.0, seq, queue.pop(0)))
            calls += 1
        now, _, r = heapq.heappop(in_flight)
        open_calls[r] -= 1
        if open_calls[r]:
            continue
        if deciding[r]:  # all decisions in: the world update
            deciding[r], open_calls[r] = False, 1
            queue.append(r)
        else:
            left[r] -= 1
            if left[r]:
                deciding[r], open_calls[r] = True, actors
                queue += [r] * actors
    return calls / cap / now


def turn_batches(n_batches: int, chunk: int, size: int) -> Iterator[list[list[Event]]]:
    """``n_batches`` append batches (the first ``size`` events of turns 1, 2, ...), in
    stretches of ``chunk`` batches: what one timed stretch of an append benchmark writes."""
    turn = 0
    for start in range(0, n_batches, chunk):
        stretch = []
        for _ in range(min(chunk, n_batches - start)):
            turn += 1
            stretch.append(turn_events(turn)[:size])
        yield stretch
