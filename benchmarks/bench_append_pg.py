"""Append throughput: ``EventStore.append`` on a PostgreSQL log vs on an SQLite file.

The same batches of 10 small events (one played turn), one transaction per batch, go
to both stores, alternating in chunks so that drift of a shared machine hits both. The
ratio is PostgreSQL's rate over SQLite's. PostgreSQL pays a round trip per statement
(the write lock, the inserts, the tip, the NOTIFY, the commit) where SQLite calls into
the process; what that costs depends on the server's disk settings, so the result
names them.

Then server reads: requests/s of ``GET /api/v1/runs/{id}`` from a server on that log
(its own process, on loopback), with its connections pooled (``eventstore/_pgpool.py``)
and, as the baseline, a new connection for every open as before pooling; the two
servers take turns, ``rounds`` times each.

    python benchmarks/bench_append_pg.py [--quick] [--events N] [--requests N]
        [--db postgresql://...]

Without ``--db`` a throwaway cluster is started (``tests/pg_helpers.py``: the server
binaries of Debian's ``postgresql`` package), with ``fsync=off`` as in the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import emit, run_setup, turn_batches

from eventstore import EventStore

BATCH = 10
CHUNK = 500  # batches per timed stretch
ROUNDS = 3  # turns of each server in the read benchmark (1 with --quick)

# the server process: argv = log URL, "pooled" or "direct"; prints its port
_SERVE = """
import socket, sys
import uvicorn
import eventstore._pgpool as pooling
from server import Settings, create_app

if sys.argv[2] == "direct":  # the baseline: every open connects, as before pooling
    pooling.borrow = lambda url: None
app = create_app(Settings(db=sys.argv[1], accounts=False, user_rate_per_min=None))
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
"""


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
    parser.add_argument("--requests", type=int, default=None, help="default 500, 50 quick")
    parser.add_argument("--db", default=None, help="a PostgreSQL log to append to (empty)")
    args = parser.parse_args()
    requests = args.requests or (50 if args.quick else 500)
    n_batches = max(1, (args.events or (2_000 if args.quick else 100_000)) // BATCH)
    with tempfile.TemporaryDirectory(prefix="bench-append-pg-") as tmp, _log(args.db) as pg:
        url, fsync = pg
        stores = {"postgresql": EventStore.open(url), "sqlite": EventStore.open(Path(tmp) / "a.db")}
        seconds = dict.fromkeys(stores, 0.0)
        try:
            runs = {name: s.create_run(events=run_setup()) for name, s in stores.items()}
            seqs = {name: stores[name].last_seq(run) for name, run in runs.items()}
            for batches in turn_batches(n_batches, CHUNK, BATCH):
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
        reads = _server_reads(url, runs["postgresql"], requests, 1 if args.quick else ROUNDS)
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
            "server_reads": reads,
        }
    )


def _server_reads(url: str, run_id: str, requests: int, rounds: int) -> dict[str, Any]:
    """``GET /api/v1/runs/{run_id}`` on a pooled server and a direct one, in turns."""
    rates: dict[str, list[float]] = {"pooled": [], "direct": []}
    for _ in range(rounds):
        for mode, got in rates.items():
            got.append(_requests_per_s(url, mode, run_id, requests))
    pooled, direct = statistics.median(rates["pooled"]), statistics.median(rates["direct"])
    return {
        "requests": requests,
        "rounds": rounds,
        "pooled_requests_per_s": round(pooled, 1),
        "direct_requests_per_s": round(direct, 1),
        "pooled_to_direct_ratio": round(pooled / direct, 3),
    }


def _requests_per_s(url: str, mode: str, run_id: str, requests: int) -> float:
    import httpx

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, url, mode], stdout=subprocess.PIPE, text=True, cwd=root
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        path = f"/api/v1/runs/{run_id}"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:  # until it answers (bounded)
                try:
                    client.get(path).raise_for_status()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for _ in range(10):  # warm: the first open of a log is direct either way
                client.get(path).raise_for_status()
            t0 = time.perf_counter()
            for _ in range(requests):
                client.get(path).raise_for_status()
            return requests / (time.perf_counter() - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
