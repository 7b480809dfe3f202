"""Forking cost does not grow with the parent: a 1k-event parent vs a 1M-event one.

For each parent (each in its own log file), fork at turn 3 and time the fork, then
play the branch's first turn (untimed) and time replaying it: ``read_events`` of the
branch, i.e. the inherited turns 0..3 plus the branch's turn 4, read and decoded.
Measurements alternate between the two parents; medians are reported.
Target: the large case within 2x of the small one.

    python benchmarks/bench_fork.py [--quick] [--small N] [--large N] [--repeat N]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import emit, parse_args, run_setup, turn_events

from eventstore import Event, EventStore

FORK_TURN = 3
TARGET = 2.0
BUILD_TURNS_PER_APPEND = 1_000  # 10k events per transaction: building is not measured


def build_parent(path: Path, events: int) -> tuple[EventStore, str]:
    store = EventStore.open(path)
    run = store.create_run(events=run_setup())
    seq = store.last_seq(run)
    turns = max(FORK_TURN + 1, events // 10)
    for start in range(1, turns + 1, BUILD_TURNS_PER_APPEND):
        batch: list[Event] = []
        for t in range(start, min(start + BUILD_TURNS_PER_APPEND, turns + 1)):
            batch += turn_events(t)
        seq = store.append(run, batch, expected_seq=seq).last_seq
    return store, run


def fork_and_replay(store: EventStore, parent: str) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    branch = store.fork(parent, FORK_TURN)
    fork_s = time.perf_counter() - t0
    store.append(branch, turn_events(FORK_TURN + 1), expected_seq=store.last_seq(branch))
    t0 = time.perf_counter()
    events = store.read_events(branch)
    replay_s = time.perf_counter() - t0
    return fork_s, replay_s, len(events)


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        small=(1_000, 1_000),
        large=(1_000_000, 20_000),
        repeat=(15, 5),
    )
    with tempfile.TemporaryDirectory(prefix="bench-fork-") as tmp:
        sizes = {"small": args.small, "large": args.large}
        parents = {name: build_parent(Path(tmp) / f"{name}.db", n) for name, n in sizes.items()}
        try:
            times: dict[str, dict[str, list[float]]] = {
                name: {"fork": [], "replay": []} for name in parents
            }
            replayed = {}
            for _ in range(args.repeat):
                for name, (store, run) in parents.items():
                    fork_s, replay_s, replayed[name] = fork_and_replay(store, run)
                    times[name]["fork"].append(fork_s)
                    times[name]["replay"].append(replay_s)
            parent_events = {name: store.last_seq(run) for name, (store, run) in parents.items()}
        finally:
            for store, _run in parents.values():
                store.close()

    def ms(name: str, what: str) -> float:
        return statistics.median(times[name][what]) * 1000

    fork_ratio = ms("large", "fork") / ms("small", "fork")
    replay_ratio = ms("large", "replay") / ms("small", "replay")
    emit(
        {
            "benchmark": "fork",
            "fork_turn": FORK_TURN,
            "small_parent_events": parent_events["small"],
            "large_parent_events": parent_events["large"],
            "replayed_events": replayed["large"],
            "repeat": args.repeat,
            "small_fork_ms": round(ms("small", "fork"), 3),
            "large_fork_ms": round(ms("large", "fork"), 3),
            "fork_ratio": round(fork_ratio, 3),
            "small_replay_ms": round(ms("small", "replay"), 3),
            "large_replay_ms": round(ms("large", "replay"), 3),
            "replay_ratio": round(replay_ratio, 3),
            "target_ratio": TARGET,
            "meets_target": fork_ratio <= TARGET and replay_ratio <= TARGET,
        }
    )


if __name__ == "__main__":
    main()
