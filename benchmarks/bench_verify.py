"""Verify: a full pass over one run vs plain sha256 over the same payloads, and the
incremental check every read makes first vs the full pass it replaces.

``verify`` reads every row of the run, recomputes its chain link (sha256 over the row's
columns and payload) and checks each blob an event names (present, content hash). The
run here names two blobs per turn (a ~3 KB prompt and a ~0.4 KB answer per decision),
as a model-played run does. Baselines, over the identical payloads: sha256 of each
payload held in memory (the hashing floor), and the same after reading the payloads
from SQLite (what any verification must at least do).

The incremental check (``verify(run, incremental=True)``) starts after the last event
verified; measured with nothing new, and after one new turn. ``verify_changed`` is the
check of commands over the whole log (``sql``, ``project``), over many runs.

    python benchmarks/bench_verify.py [--quick] [--events N] [--runs N] [--repeat N]
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from contextlib import closing
from hashlib import sha256
from pathlib import Path

from _common import emit, median_seconds, parse_args, run_setup, turn_events

from eventstore import DecisionMade, Event, EventStore, ModelCall, blob_hash


def _turn(turn: int) -> tuple[list[Event], dict[str, bytes]]:
    """One turn of ``turn_events`` whose decisions name their prompt and answer blobs."""
    events: list[Event] = []
    blobs: dict[str, bytes] = {}
    for ev in turn_events(turn):
        if isinstance(ev, DecisionMade) and ev.call is not None:
            prompt = f"turn {turn} {ev.actor}: ".encode() + b"context " * 400
            answer = f'{{"action": "{ev.action}", "turn": {turn}}}'.encode() + b" " * 360
            p, a = blob_hash(prompt), blob_hash(answer)
            blobs |= {p: prompt, a: answer}
            call = ModelCall(model="m", prompt_hash=p, response_hash=a)
            ev = DecisionMade(
                turn=turn, actor=ev.actor, request_id=ev.request_id, action=ev.action, call=call
            )
        events.append(ev)
    return events, blobs


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0], events=(200_000, 10_000), runs=(500, 50), repeat=(3, 2)
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp,
        EventStore.open(Path(tmp) / "log.db") as store,
    ):
        run = store.create_run(events=run_setup())
        seq = store.last_seq(run)
        turns = args.events // 10
        for start in range(1, turns + 1, 1_000):
            batch: list[Event] = []
            blobs: dict[str, bytes] = {}
            for t in range(start, min(start + 1_000, turns + 1)):
                events, named = _turn(t)
                batch += events
                blobs |= named
            seq = store.append(run, batch, expected_seq=seq, blobs=blobs).last_seq

        def read_payloads() -> list[bytes]:
            with closing(sqlite3.connect(store.path)) as conn:
                return [
                    r[0]
                    for r in conn.execute(
                        "SELECT payload FROM events WHERE run_id = ? ORDER BY seq", (run,)
                    )
                ]

        payloads = read_payloads()

        def hash_only() -> None:
            for p in payloads:
                sha256(p).hexdigest()

        def read_and_hash() -> None:
            for p in read_payloads():
                sha256(p).hexdigest()

        result = store.verify(run)
        assert result.ok and result.checked == len(payloads), result
        verify_s = median_seconds(lambda: store.verify(run), args.repeat)
        hash_s = median_seconds(hash_only, args.repeat)
        read_hash_s = median_seconds(read_and_hash, args.repeat)

        # the check before a read: nothing new, then one new turn each time
        idle_s = median_seconds(lambda: store.verify(run, incremental=True), args.repeat * 5)
        turn_times = []
        for t in range(turns + 1, turns + 1 + args.repeat * 5):
            events, named = _turn(t)
            seq = store.append(run, events, expected_seq=seq, blobs=named).last_seq
            turn_times.append(_timed(lambda: store.verify(run, incremental=True)))
        one_turn_s = sorted(turn_times)[len(turn_times) // 2]

        # the check of a command over the whole log, with many small runs
        for _ in range(args.runs):
            other = store.create_run(events=run_setup())
            events, named = _turn(1)
            store.append(other, events, expected_seq=3, blobs=named)
        store.verify_changed()  # the first check verifies every run once
        changed_s = median_seconds(store.verify_changed, args.repeat * 5)
        blob_count = store._conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
    n = len(payloads)
    emit(
        {
            "benchmark": "verify",
            "events": n,
            "blobs": blob_count,
            "repeat": args.repeat,
            "verify_events_per_s": round(n / verify_s),
            "sha256_events_per_s": round(n / hash_s),
            "read_sha256_events_per_s": round(n / read_hash_s),
            "ratio": round(hash_s / verify_s, 3),
            "ratio_vs_read_sha256": round(read_hash_s / verify_s, 3),
            "full_ms": round(verify_s * 1000, 1),
            "incremental_nothing_new_ms": round(idle_s * 1000, 3),
            "incremental_one_turn_ms": round(one_turn_s * 1000, 3),
            "full_vs_incremental": round(verify_s / idle_s),
            "runs": args.runs + 1,
            "verify_changed_nothing_new_ms": round(changed_s * 1000, 3),
        }
    )


if __name__ == "__main__":
    main()
