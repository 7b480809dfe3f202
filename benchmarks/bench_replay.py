"""Replay speed: read + decode + fold of a 100k-event run, against reading alone.

Builds one run in a temporary SQLite log through the store, with a realistic mix per
turn for 5 actors (TurnStarted, 5 DecisionRequested, 5 DecisionMade, 6 CostIncurred,
2 MessageSent, WorldUpdated, 3 MetricRecorded, TurnCompleted), then measures:

- baseline: the same payload rows fetched with raw sqlite3 and decoded with a reused
  msgspec Decoder (the floor any replay pays);
- replay: ``engine.replay.replay(store, run_id, use_snapshots=False)``, alternated
  with the baseline ``--repeat`` times, the best of each kept (a slow spell of a shared
  machine then hits both sides alike);
- with snapshots: a cold replay that writes the cache, then a warm one that reads it.

To show where the time goes it also times ``store.read_events`` alone (the store's
read path, part of every replay) and the fold alone over events already in memory.

Prints one JSON object. ``ratio`` is replay speed over baseline speed: the part of the
target that does not depend on the machine.

    python benchmarks/bench_replay.py [--quick] [--events N] [--repeat N]
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from _common import emit, parse_args

from engine.fold.handlers import replay_events
from engine.replay import replay
from eventstore import (
    AnyEvent,
    CostIncurred,
    DecisionMade,
    DecisionRequested,
    Event,
    EventStore,
    MessageSent,
    MetricRecorded,
    ModelCall,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
    WorldUpdated,
)

ACTORS = tuple(f"actor{i}" for i in range(5))
METRICS = ("tension", "trust", "economy")
TARGETS = {"events_per_s": 300_000, "ratio": 0.6}


def setup_events() -> list[Event]:
    scenario = {
        "name": "bench",
        "actors": {a: {"name": a.title()} for a in ACTORS},
        "variables": {},
        "context_window_size": 3,
    }
    return [
        RunStarted(
            scenario_name="bench",
            scenario=scenario,
            scenario_sha256="0" * 64,
            seed=7,
            settings=RunSettings(turns=1_000_000, context_window=3),
            tool_version="bench",
        ),
        TurnCompleted(turn=0),
    ]


def turn_events(turn: int) -> list[Event]:
    """One turn of 23 events, with text sizes like a real LLM run's (kept in blobs)."""
    out: list[Event] = [TurnStarted(turn=turn, simulated_date=f"2030-{turn % 12 + 1:02d}")]
    for actor in ACTORS:
        out.append(
            DecisionRequested(
                turn=turn,
                actor=actor,
                request_id=f"{turn}-{actor}",
                model="openai/gpt-4o-mini",
                prompt_hash="a" * 64,
                temperature=0.7,
                seed=turn * 31,
            )
        )
    for i, actor in enumerate(ACTORS):
        out.append(
            DecisionMade(
                turn=turn,
                actor=actor,
                request_id=f"{turn}-{actor}",
                long_term_goals=("secure the border", "keep the alliance together"),
                short_term_priorities=("answer the ultimatum",),
                reasoning="Given the escalation last turn we should signal resolve. " * 3,
                action=f"{actor} moves two brigades to the frontier and calls for talks.",
                parse_method="json_schema",
                call=ModelCall(
                    model="openai/gpt-4o-mini",
                    prompt_hash="a" * 64,
                    response_hash="b" * 64,
                    temperature=0.7,
                    seed=turn * 31,
                    input_tokens=1800 + i,
                    output_tokens=350,
                    cost_usd=0.00048,
                    latency_ms=1234.5,
                    parse_method="json_schema",
                ),
            )
        )
        out.append(
            CostIncurred(
                turn=turn,
                model="openai/gpt-4o-mini",
                purpose="decision",
                actor=actor,
                input_tokens=1800 + i,
                output_tokens=350,
                cost_usd=0.00048,
                request_id=f"{turn}-{actor}",
            )
        )
    out.append(
        MessageSent(
            turn=turn,
            message_id=f"m{turn}-a",
            sender=ACTORS[0],
            recipients=(ACTORS[1],),
            channel="bilateral",
            visibility="private",
            content="We propose a ceasefire along the current line of contact.",
            thread_id=f"m{turn}-a",
        )
    )
    out.append(
        MessageSent(
            turn=turn,
            message_id=f"m{turn}-b",
            sender=ACTORS[2],
            recipients=ACTORS[:2] + ACTORS[3:],
            channel="public",
            visibility="public",
            kind="statement",
            content="We will defend our interests by all means necessary.",
        )
    )
    out.append(
        WorldUpdated(
            turn=turn,
            narrative="Tensions rose along the frontier as both sides moved troops. " * 4,
            key_changes=("troops massed at the border", "talks proposed"),
            consequences=("markets fell",),
        )
    )
    out.append(
        CostIncurred(
            turn=turn,
            model="openai/gpt-4o",
            purpose="world_update",
            input_tokens=4200,
            output_tokens=600,
            cost_usd=0.0165,
        )
    )
    out += [
        MetricRecorded(turn=turn, name=name, value=float((turn * 7 + j) % 10), method="llm")
        for j, name in enumerate(METRICS)
    ]
    out.append(TurnCompleted(turn=turn))
    return out


def build(path: Path, n_events: int) -> tuple[EventStore, str, int]:
    store = EventStore.open(path)
    events = setup_events()
    run_id = store.create_run(events=events)
    seq = len(events)
    batch: list[Event] = []
    turn = 0
    while seq + len(batch) < n_events:
        turn += 1
        batch += turn_events(turn)
        if len(batch) >= 5000:
            seq = store.append(run_id, batch, expected_seq=seq).last_seq
            batch = []
    if batch:
        seq = store.append(run_id, batch, expected_seq=seq).last_seq
    return store, run_id, seq


def best_of(n: int, fn: Callable[[], Any]) -> float:
    """The fastest of ``n`` timed calls: the least disturbed by the rest of the machine."""
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], events=(100_000, 5_000), repeat=(7, 2))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        store, run_id, n = build(path, args.events)
        build_s = time.perf_counter() - t0

        conn = sqlite3.connect(path)
        decoder = msgspec.json.Decoder(AnyEvent)

        def baseline() -> None:
            rows = conn.execute(
                "SELECT payload FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
            events = [decoder.decode(row[0]) for row in rows]
            assert len(events) == n

        def ours() -> None:
            state = replay(store, run_id, use_snapshots=False)
            assert state.last_completed_turn > 0

        # alternated, best of each: a slow spell of the machine hits both sides alike
        base_s = replay_s = float("inf")
        for _ in range(args.repeat):
            base_s = min(base_s, best_of(1, baseline))
            replay_s = min(replay_s, best_of(1, ours))
        read_s = best_of(args.repeat, lambda: store.read_events(run_id))
        in_memory = store.read_events(run_id)
        fold_s = best_of(args.repeat, lambda: replay_events(in_memory))
        in_memory.clear()

        store.drop_snapshots()
        t0 = time.perf_counter()
        cold = replay(store, run_id)  # folds everything, writes the cache
        cold_s = time.perf_counter() - t0
        warm_s = best_of(args.repeat, lambda: replay(store, run_id))
        warm = replay(store, run_id)
        snapshots = conn.execute("SELECT count(*), sum(length(data)) FROM snapshots").fetchone()
        conn.close()
        store.close()

    replay_eps = n / replay_s
    base_eps = n / base_s
    ratio = replay_eps / base_eps
    emit(
        {
            "benchmark": "replay",
            "events": n,
            "turns": cold.last_completed_turn,
            "build_s": round(build_s, 2),
            "baseline_events_per_s": round(base_eps),
            "replay_events_per_s": round(replay_eps),
            "ratio": round(ratio, 3),
            "parts": {
                "store_read_events_per_s": round(n / read_s),
                "fold_us_per_event": round(fold_s / n * 1e6, 2),
            },
            "snapshots": {
                "cold_replay_s": round(cold_s, 3),
                "warm_replay_s": round(warm_s, 4),
                "written": snapshots[0],
                "bytes": snapshots[1],
                "same_state": warm == cold,
            },
            "targets": TARGETS,
            "pass": {
                "events_per_s": replay_eps >= TARGETS["events_per_s"],
                "ratio": ratio >= TARGETS["ratio"],
            },
        }
    )


if __name__ == "__main__":
    main()
