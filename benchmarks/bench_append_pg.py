"""Append throughput: ``EventStore.append`` on a PostgreSQL log vs on an SQLite file.

The same batches of 10 small events (one played turn), one transaction per batch, go
to both stores, alternating in chunks so that drift of a shared machine hits both. The
ratio is PostgreSQL's rate over SQLite's. PostgreSQL pays a round trip per statement
(the write lock, the inserts, the tip, the NOTIFY, the commit) where SQLite calls into
the process; what that costs depends on the server's disk settings, so the result
names them.

    python benchmarks/bench_append_pg.py [--quick] [--events N] [--db postgresql://...]

Without ``--db`` a throwaway cluster is started (``tests/pg_helpers.py``: the server
binaries of Debian's ``postgresql`` package), with ``fsync=off`` as in the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import emit, run_setup, turn_events

from eventstore import EventStore

BATCH = 10
CHUNK = 500  # batches per timed stretch


@contextlib.contextmanager
def _log(url: str | None) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL log: (URL, its server's fsync setting)."""
    if url is not None:
        yield url, _setting(url, "fsync")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.pg_helpers
    from tests.pg_helpers import running_cluster

    with running_cluster() as cluster:
        fresh = cluster.fresh_log()
        yield fresh, _setting(fresh, "fsync")


def _setting(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
    return str(row[0]) if row else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--events", type=int, default=None, help="default 100000, 2000 quick")
    parser.add_argument("--db", default=None, help="a PostgreSQL log to append to (empty)")
    args = parser.parse_args()
    n_batches = max(1, (args.events or (2_000 if args.quick else 100_000)) // BATCH)
    with tempfile.TemporaryDirectory(prefix="bench-append-pg-") as tmp, _log(args.db) as pg:
        url, fsync = pg
        stores = {"postgresql": EventStore.open(url), "sqlite": EventStore.open(Path(tmp) / "a.db")}
        seconds = dict.fromkeys(stores, 0.0)
        try:
            runs = {name: s.create_run(events=run_setup()) for name, s in stores.items()}
            seqs = {name: stores[name].last_seq(run) for name, run in runs.items()}
            turn = 0
            for start in range(0, n_batches, CHUNK):
                batches = []
                for _ in range(min(CHUNK, n_batches - start)):
                    turn += 1
                    batches.append(turn_events(turn)[:BATCH])
                for name, store in stores.items():
                    seq = seqs[name]
                    t0 = time.perf_counter()
                    for batch in batches:
                        seq = store.append(runs[name], batch, expected_seq=seq).last_seq
                    seconds[name] += time.perf_counter() - t0
                    seqs[name] = seq
        finally:
            for store in stores.values():
                store.close()
    appended = n_batches * BATCH
    pg_rate, sqlite_rate = appended / seconds["postgresql"], appended / seconds["sqlite"]
    emit(
        {
            "benchmark": "append_pg",
            "events": appended,
            "batch_size": BATCH,
            "postgresql_events_per_s": round(pg_rate),
            "sqlite_events_per_s": round(sqlite_rate),
            "ratio": round(pg_rate / sqlite_rate, 3),
            "postgresql_fsync": fsync,
        }
    )


if __name__ == "__main__":
    main()
