"""Verify throughput over one run vs plain sha256 over the same payloads.

``verify`` reads every row of the run and recomputes its chain link (sha256 over the
row's columns and payload). Baselines, over the identical payloads: sha256 of each
payload held in memory (the hashing floor), and the same after reading the payloads
from SQLite (what any verification must at least do).

    python benchmarks/bench_verify.py [--quick] [--events N] [--repeat N]
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from hashlib import sha256
from pathlib import Path

from _common import emit, median_seconds, parse_args, run_setup, turn_events

from eventstore import Event, EventStore


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], events=(200_000, 10_000), repeat=(3, 2))
    with (
        tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp,
        EventStore.open(Path(tmp) / "log.db") as store,
    ):
        run = store.create_run(events=run_setup())
        seq = store.last_seq(run)
        for start in range(1, args.events // 10 + 1, 1_000):
            batch: list[Event] = []
            for t in range(start, min(start + 1_000, args.events // 10 + 1)):
                batch += turn_events(t)
            seq = store.append(run, batch, expected_seq=seq).last_seq

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
    n = len(payloads)
    emit(
        {
            "benchmark": "verify",
            "events": n,
            "repeat": args.repeat,
            "verify_events_per_s": round(n / verify_s),
            "sha256_events_per_s": round(n / hash_s),
            "read_sha256_events_per_s": round(n / read_hash_s),
            "ratio": round(hash_s / verify_s, 3),
            "ratio_vs_read_sha256": round(read_hash_s / verify_s, 3),
        }
    )


if __name__ == "__main__":
    main()
