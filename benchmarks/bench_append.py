"""Append throughput: ``EventStore.append`` vs raw ``sqlite3`` inserts of the same rows.

Both sides write batches of 10 small events (one played turn), one transaction per
batch, into files whose schema the store created (so indexes are equal), with the
store's pragmas. The baseline inserts the very rows the store wrote (read back
untimed), so it measures only SQLite; the store's side includes encoding, hashing,
event ids and the idempotency and concurrency checks. Target: ratio >= 0.7.

    python benchmarks/bench_append.py [--quick] [--events N]
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from _common import emit, parse_args, run_setup, turn_batches

from eventstore import EventStore

BATCH = 10
CHUNK = 2_000  # batches per timed stretch; the two sides alternate so drift hits both
TARGET = 0.7
_INSERT = (
    "INSERT INTO events (run_id, seq, turn, type, schema_version, actor, event_id, "
    "recorded_at, payload, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], events=(1_000_000, 5_000))
    n_batches = max(1, args.events // BATCH)
    with tempfile.TemporaryDirectory(prefix="bench-append-") as tmp:
        store = EventStore.open(Path(tmp) / "store.db")
        EventStore.open(Path(tmp) / "raw.db").close()  # same schema, indexes and WAL
        raw = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        raw.execute("PRAGMA synchronous=NORMAL")
        # the store's rows, read back from its file to be inserted again as they are
        stored = sqlite3.connect(Path(tmp) / "store.db")
        try:
            run_id = store.create_run(events=run_setup())
            raw.execute(
                "INSERT INTO runs (run_id, root_run_id, depth, created_at) VALUES (?, ?, 0, ?)",
                (run_id, run_id, "2026-01-01T00:00:00"),
            )
            seq = store.last_seq(run_id)
            store_s = raw_s = 0.0
            for batches in turn_batches(n_batches, CHUNK, BATCH):
                first = seq

                t0 = time.perf_counter()
                for batch in batches:
                    seq = store.append(run_id, batch, expected_seq=seq).last_seq
                store_s += time.perf_counter() - t0

                rows = stored.execute(
                    "SELECT run_id, seq, turn, type, schema_version, actor, event_id, "
                    "recorded_at, payload, hash FROM events WHERE run_id = ? AND seq > ? "
                    "ORDER BY seq",
                    (run_id, first),
                ).fetchall()
                raw_batches = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]

                t0 = time.perf_counter()
                for rb in raw_batches:
                    raw.execute("BEGIN IMMEDIATE")
                    raw.executemany(_INSERT, rb)
                    raw.execute("COMMIT")
                raw_s += time.perf_counter() - t0
            appended = n_batches * BATCH
        finally:
            stored.close()
            raw.close()
            store.close()
    store_rate = appended / store_s
    raw_rate = appended / raw_s
    emit(
        {
            "benchmark": "append",
            "events": appended,
            "batch_size": BATCH,
            "store_events_per_s": round(store_rate),
            "raw_sqlite_events_per_s": round(raw_rate),
            "ratio": round(store_rate / raw_rate, 3),
            "target_ratio": TARGET,
            "meets_target": store_rate / raw_rate >= TARGET,
        }
    )


if __name__ == "__main__":
    main()
