"""The server under load, each figure beside a baseline measured in the same run.

The server runs in a process of its own (``create_app`` on uvicorn, plus a bare FastAPI
endpoint as the baseline); clients and the event writer run in this process, as a
browser and the CLI would run beside a real server.

- append -> SSE delivery: a writer appends events to one run (another process, like the
  CLI) while N subscribers follow its stream; latency from the append's commit to each
  subscriber's receipt, p50/p99, against the same with one subscriber (ratio).
- ``GET /api/v1/runs`` first page with R runs in the log and ``GET .../events`` pages
  of 1000 events: p95 latency, against ``GET /bare`` (ratio).
- requests/s of ``GET /api/v1/runs/{id}`` against ``GET /bare`` (ratio).

    python benchmarks/bench_server.py [--quick] [--subscribers N] [--runs N] [--events N]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import emit, parse_args, run_setup, turn_events

from eventstore import EventStore

ROOT = Path(__file__).resolve().parent.parent


def serve(db: str) -> None:
    """The server process: the real app with a bare endpoint beside it; prints its port."""
    import socket

    import uvicorn

    from server import Settings, create_app
    from server.deps import allow
    from server.permissions import Rule

    app = create_app(Settings(db=Path(db), accounts=False, user_rate_per_min=None))

    def bare() -> dict[str, str]:
        return {"status": "ok"}

    app.add_api_route("/bare", bare, dependencies=[allow(Rule.PUBLIC)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_log(db: Path, runs: int, events: int) -> tuple[str, str]:
    """``runs`` small runs, one run of ``events`` events; and a played rule run."""
    with EventStore.open(db) as store:
        for _ in range(runs - 2):
            store.create_run(events=run_setup())
        big = store.create_run(events=run_setup())
        seq = store.last_seq(big)
        for start in range(1, events // 10 + 1, 500):
            batch = []
            for t in range(start, min(start + 500, events // 10 + 1)):
                batch += turn_events(t)
            seq = store.append(big, batch, expected_seq=seq).last_seq
    cli = [sys.executable, "-c", "from cli.app import main; main()"]
    played = subprocess.run(
        [*cli, "run", str(ROOT / "scenarios" / "strait-crisis"), "--seed", "1", "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    return big, played


def latencies(client: httpx.Client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return out


def throughput(base: str, path: str, seconds: float, threads: int = 4) -> float:
    """Requests/s of sequential clients in ``threads`` threads for ``seconds``."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        with httpx.Client(base_url=base) as c:
            while time.monotonic() < stop:
                c.get(path).raise_for_status()
                done[i] += 1

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 30)
    return sum(done) / seconds


async def _subscribe(
    port: int, run: str, after: int, got: dict[int, float], ready: asyncio.Event
) -> None:
    """A lean SSE reader on a raw socket: what is measured is the server's delivery,
    not an HTTP client library's parsing (200 httpx streams in one process cost more
    than the server does)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/v1/runs/{run}/stream?after={after} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    try:
        while line := await reader.readline():
            # chunked transfer encoding: each SSE message arrives whole in one chunk
            if line.startswith(b"id: "):
                got[int(line[4:])] = time.time()
                # the run's setup arrived from the backlog: the stream is subscribed
                ready.set()
    finally:
        writer.close()


def delivery(
    base: str, db: Path, subscribers: int, appends: int, interval: float
) -> dict[str, float]:
    """Append ``appends`` events one by one to a fresh run; ms from commit to receipt."""
    with EventStore.open(db) as store:
        start_pos = store.max_position()  # streams start with the run's setup events
        run = store.create_run(events=run_setup())
    committed: dict[int, float] = {}
    received: list[dict[int, float]] = [{} for _ in range(subscribers)]

    def writer(ready: threading.Event) -> None:
        ready.wait(120)
        time.sleep(0.5)  # every stream is open and idle
        with EventStore.open(db) as store:
            seq = store.last_seq(run)
            for t in range(1, appends + 1):
                ev = turn_events(t)[0]
                res = store.append(run, [ev], expected_seq=seq)
                committed[res.last_position] = time.time()
                seq = res.last_seq
                time.sleep(interval)

    async def main() -> None:
        readies = [asyncio.Event() for _ in range(subscribers)]
        port = int(base.rsplit(":", 1)[1])
        tasks = [
            asyncio.create_task(_subscribe(port, run, start_pos, received[i], readies[i]))
            for i in range(subscribers)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 120)
        all_ready.set()
        deadline = time.monotonic() + 60 + appends * 0.1
        while time.monotonic() < deadline and (
            len(committed) < appends or any(p not in g for g in received for p in committed)
        ):
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    all_ready = threading.Event()
    w = threading.Thread(target=writer, args=(all_ready,))
    w.start()
    asyncio.run(main())
    w.join(60)
    lat = [(g[p] - committed[p]) * 1000 for g in received for p in committed if p in g]
    missing = sum(1 for g in received for p in committed if p not in g)
    return {
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(pct(lat, 0.99), 2),
        "missing": missing,
    }


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        subscribers=(200, 20),
        runs=(10_000, 500),
        events=(20_000, 3_000),
        appends=(100, 20),
        interval_ms=(100, 100),
        requests=(200, 30),
    )
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        db = Path(tmp) / "log.db"
        big, played = build_log(db, args.runs, args.events)
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(db)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert proc.stdout is not None
            base = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
            with httpx.Client(base_url=base, timeout=60) as c:
                for _ in range(100):
                    try:
                        c.get("/bare")
                        break
                    except httpx.ConnectError:
                        time.sleep(0.1)
                bare = latencies(c, "/bare", args.requests)
                runs_page = latencies(c, "/api/v1/runs?limit=50", args.requests)
                middle = c.get(f"/api/v1/runs/{big}/events", params={"limit": 1}).json()
                after = middle["next_after"] + args.events // 3
                events_page = latencies(
                    c, f"/api/v1/runs/{big}/events?after={after}&limit=1000", args.requests
                )
                assert (
                    len(c.get(f"/api/v1/runs/{big}/events?after={after}").json()["events"]) == 1000
                )
            every = args.interval_ms / 1000
            one = delivery(base, db, 1, args.appends, every)
            many = delivery(base, db, args.subscribers, args.appends, every)
            run_rps = throughput(base, f"/api/v1/runs/{played}", 3.0 if args.quick else 10.0)
            bare_rps = throughput(base, "/bare", 3.0 if args.quick else 10.0)
        finally:
            proc.terminate()
            proc.wait(30)
    bare_p95 = pct(bare, 0.95)
    load = os.getloadavg()
    result: dict[str, Any] = {
        "benchmark": "server",
        "subscribers": args.subscribers,
        "runs_in_log": args.runs,
        "events_in_run": args.events,
        "append_interval_ms": args.interval_ms,
        "sse_p50_ms": many["p50_ms"],
        "sse_p99_ms": many["p99_ms"],
        "sse_missing": many["missing"],
        "sse_one_subscriber_p99_ms": one["p99_ms"],
        "sse_p99_ratio": round(many["p99_ms"] / max(one["p99_ms"], 0.01), 2),
        "bare_p95_ms": round(bare_p95, 2),
        "runs_page_p50_ms": round(pct(runs_page, 0.5), 2),
        "runs_page_p95_ms": round(pct(runs_page, 0.95), 2),
        "runs_page_ratio": round(pct(runs_page, 0.95) / bare_p95, 2),
        "events_page_p50_ms": round(pct(events_page, 0.5), 2),
        "events_page_p95_ms": round(pct(events_page, 0.95), 2),
        "events_page_ratio": round(pct(events_page, 0.95) / bare_p95, 2),
        "run_get_per_s": round(run_rps, 1),
        "bare_get_per_s": round(bare_rps, 1),
        "run_get_ratio": round(run_rps / bare_rps, 3),
        # the machine's load average (1, 5, 15 min) when done: shared machines skew p95
        "load_average": [round(x, 2) for x in load],
        "target_ms": 50,
        "meets_target": many["p99_ms"] < 50
        and pct(runs_page, 0.95) < 50
        and pct(events_page, 0.95) < 50,
    }
    emit(result)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        main()
