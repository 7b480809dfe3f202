"""What only a PostgreSQL log has: the dialect seam, its errors, LISTEN/NOTIFY, many
processes on one shared log, and the same results as an SQLite log from the same runs.

The store's behaviour on both backends is tested by the ``backends`` modules (see
``tests/conftest.py``); this module covers what is PostgreSQL's own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from eventstore import EventStore, MetricRecorded, StoreError
from eventstore._pg import redacted, translate
from eventstore._schema import SCHEMA_VERSION
from server import Settings
from tests.engine_helpers import RULES3, cli, last_line, payloads, runs_json
from tests.pg_helpers import Cluster
from tests.server_helpers import live
from tests.store_helpers import build_run

ROOT = Path(__file__).parent.parent
STRAIT = ROOT / "scenarios" / "strait-crisis"


def _cli(*args: object, pre: str = "") -> subprocess.CompletedProcess[str]:
    code = pre + "from cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120
    )


# -- the dialect (no server needed) -----------------------------------------------------


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT a FROM t WHERE b = ? AND c LIKE ? ESCAPE '\\'", "SELECT a FROM t WHERE b = %s AND c LIKE %s ESCAPE '\\'"),
        ("SELECT '?', 'it''s ?' FROM t WHERE x = ?", "SELECT '?', 'it''s ?' FROM t WHERE x = %s"),
        ("SELECT 5 % 2 FROM t", "SELECT 5 %% 2 FROM t"),
        ("SELECT ?1, ?2, ?1", "SELECT %(p1)s, %(p2)s, %(p1)s"),
        ("INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?, ?)", "INSERT INTO blobs (sha256, data) VALUES (%s, %s) ON CONFLICT DO NOTHING"),
        (
            "INSERT OR REPLACE INTO snapshots (run_id, kind, turn, seq, data) VALUES (?, ?, ?, ?, ?)",
            "INSERT INTO snapshots (run_id, kind, turn, seq, data) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id, kind, turn) DO UPDATE SET seq = excluded.seq, data = excluded.data",
        ),
        ("SELECT last_insert_rowid()", "SELECT lastval()"),
        ("SELECT run_id FROM runs ORDER BY created_at DESC, rowid DESC", "SELECT run_id FROM runs ORDER BY created_at DESC, ctid DESC"),
        ("SELECT json_extract(CAST(e.payload AS TEXT), '$.x') FROM events e", "SELECT json_extract(convert_from(e.payload, 'UTF8'), '$.x') FROM events e"),
    ],
)  # fmt: skip
def test_the_sqlite_dialect_is_mapped(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


def test_a_password_never_shows_in_a_message() -> None:
    assert redacted("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redacted("postgresql://u@h/db") == "postgresql://u@h/db"


def test_without_psycopg_a_postgresql_log_is_one_line_naming_the_extra() -> None:
    out = _cli(
        "runs",
        "--db",
        "postgresql://u@127.0.0.1:1/db",
        pre="import sys; sys.modules['psycopg'] = None; ",
    )
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "psycopg" in lines[0], out.stderr
    assert "pip install 'scenario-lab[postgres]'" in lines[0]


def test_an_unreachable_server_is_one_line_and_hides_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    out = _cli("runs", "--db", f"postgresql://u:s3cret@127.0.0.1:{port}/db")
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the PostgreSQL log" in lines[0], out.stderr
    assert "s3cret" not in out.stderr and "u:***@" in out.stderr


# -- opening ---------------------------------------------------------------------------

pg = pytest.mark.postgres


@pg
def test_an_empty_schema_is_no_log_without_create(pg_cluster: Cluster) -> None:
    url = pg_cluster.fresh_log()
    with pytest.raises(StoreError, match="no log at postgresql://"):
        EventStore.open(url, create=False)
    out = cli("runs", "--db", url)
    assert out.exit_code == 1 and "no log at" in out.stderr


@pg
def test_a_newer_schema_and_foreign_tables_are_refused(pg_cluster: Cluster) -> None:
    import psycopg

    url = pg_cluster.fresh_log()
    EventStore.open(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="written by a newer scenario-lab"):
        EventStore.open(url)
    other = pg_cluster.fresh_log()
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id integer)")
    with pytest.raises(StoreError, match="not a scenario-lab log"):
        EventStore.open(other)


@pg
def test_concurrent_first_opens_create_the_tables_once(pg_cluster: Cluster) -> None:
    url = pg_cluster.fresh_log()
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            EventStore.open(url).close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with EventStore.open(url, create=False) as store:
        build_run(store, 1)


# -- LISTEN/NOTIFY ----------------------------------------------------------------------


def test_an_sqlite_log_cannot_notify(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "log.db") as store:
        assert store.wait_for_appends(0.01) is None


@pg
def test_an_append_wakes_a_waiting_reader(pg_cluster: Cluster) -> None:
    url = pg_cluster.fresh_log()
    with EventStore.open(url) as reader, EventStore.open(url) as writer:
        run = build_run(writer, 1)
        assert reader.wait_for_appends(0.05) is False  # listening now; nothing new
        timer = threading.Timer(
            0.2,
            lambda: writer.append(
                run, [MetricRecorded(turn=1, name="m", value=1.0)], expected_seq=8
            ),
        )
        started = time.monotonic()
        timer.start()
        try:
            assert reader.wait_for_appends(20) is True
        finally:
            timer.join()
        assert time.monotonic() - started < 10
        assert reader.last_seq(run) == 9


@pg
def test_the_live_stream_follows_notifications_not_the_poll(pg_cluster: Cluster) -> None:
    # the poll interval is far longer than the run: only NOTIFY can deliver its events
    url = pg_cluster.fresh_log()
    EventStore.open(url).close()
    settings = Settings(db=url, accounts=False, poll_interval_s=60.0, heartbeat_s=60.0)
    with live(settings) as srv, srv.client() as c:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from cli.app import main; main()", "run", STRAIT,
             "--seed", "2", "--turns", "30", "--db", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            run_id = _first_run(url)
            got: list[int] = []
            started = time.monotonic()
            with c.stream("GET", f"/api/v1/runs/{run_id}/stream") as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    if line.startswith("id:"):
                        got.append(int(line[3:]))
                    if line.startswith("event: end"):
                        break
            assert time.monotonic() - started < 50  # well before a second poll
            proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    with EventStore.open(url, create=False) as store:
        assert got == [r.position for r in store.iter_events(run_id)]


def _first_run(url: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with EventStore.open(url, create=False) as store:
            runs = store.list_runs()
            if runs and store.last_seq(runs[0].run_id) > 0:
                return runs[0].run_id
        time.sleep(0.05)
    raise AssertionError("the run never started")


# -- many processes, one log --------------------------------------------------------------


@pg
def test_many_processes_on_different_runs_lose_and_duplicate_nothing(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    url = pg_cluster.fresh_log()
    EventStore.open(url).close()
    seeds = range(1, 7)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from cli.app import main; main()",
                "run",
                RULES3,
                "--db",
                url,
                "--seed",
                str(seed),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in seeds
    ]
    run_of_seed = {}
    for seed, proc in zip(seeds, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        run_of_seed[seed] = last_line(out)
    with EventStore.open(url, create=False) as store:
        rows = store._conn.execute("SELECT position, run_id, seq FROM events").fetchall()
        positions = sorted(r[0] for r in rows)
        assert positions == list(range(positions[0], positions[0] + len(rows)))  # no gap
        for run in run_of_seed.values():
            seqs = sorted(r[2] for r in rows if r[1] == run)
            assert seqs == list(range(1, len(seqs) + 1))  # none lost, none twice
            assert store.verify(run).ok
    assert {r["status"] for r in runs_json(url)} == {"completed"}
    # the same runs on SQLite: the same events (the fold does not see the backend)
    for seed in (1, 4):
        db = tmp_path / f"{seed}.db"
        alone = last_line(cli("run", RULES3, "--db", db, "--seed", str(seed)).stdout)
        assert _without_ids(payloads(db, alone)) == _without_ids(payloads(url, run_of_seed[seed]))


def _without_ids(rows: list[tuple[int, str, object]]) -> str:
    # run ids differ between the two logs; everything else must not
    return json.dumps([(t, ty, p) for t, ty, p in rows], sort_keys=True, default=str)


@pg
def test_projections_sql_and_reports_read_a_postgresql_log(
    pg_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default analytics file lands here
    url = pg_cluster.fresh_log()
    sqlite_db = tmp_path / "same.db"
    for db in (url, sqlite_db):
        assert cli("run", RULES3, "--db", db, "--seed", "3").exit_code == 0
    query = "SELECT turn, name, round(value, 4) AS v FROM metrics ORDER BY turn, name"
    on_pg = cli("sql", query, "--db", url, "--json")
    assert on_pg.exit_code == 0, on_pg.output
    assert on_pg.stdout == cli("sql", query, "--db", sqlite_db, "--json").stdout
    assert len(json.loads(on_pg.stdout)) > 4
    run = runs_json(url)[0]["run_id"]
    report = cli("report", run, "--db", url, "-o", tmp_path / "r.md")
    assert report.exit_code == 0, report.output
    assert "Rules" in (tmp_path / "r.md").read_text() or (tmp_path / "r.md").stat().st_size > 200
    assert list(tmp_path.glob("postgres-t_*.duckdb"))  # named for the database and schema


@pg
def test_users_and_keys_live_in_the_postgresql_log(pg_cluster: Cluster) -> None:
    url = pg_cluster.fresh_log()
    added = _cli("keys", "create", "ci", "--role", "analyst", "--db", url)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip().splitlines()[-1]
    settings = Settings(db=url, accounts=True)
    with live(settings) as srv:
        ok = httpx.get(f"{srv.url}/api/v1/runs", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200, ok.text
        assert httpx.get(f"{srv.url}/api/v1/runs").status_code == 401


@pg
def test_a_batch_in_worker_processes_writes_every_planned_run_once(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    url = pg_cluster.fresh_log()
    batch = ROOT / "tests" / "data" / "batches" / "rules.yaml"
    out = _cli("batch", "run", batch, "--db", url, "--parallel", "3")
    assert out.returncode == 0, out.stderr
    batch_id = out.stdout.strip().splitlines()[-1]
    rows = runs_json(url)
    assert len(rows) == 16 and {r["status"] for r in rows} == {"completed"}
    with EventStore.open(url, create=False) as store:
        assert all(store.verify(r["run_id"]).ok for r in rows)
        assert {r.run_id for r in store.list_runs(batch_id=batch_id)} == {r["run_id"] for r in rows}
    # resumed: nothing left to play, nothing written twice
    again = _cli("batch", "resume", batch_id, "--db", url)
    assert again.returncode == 0, again.stderr
    assert len(runs_json(url)) == 16


@pg
def test_the_append_benchmark_compares_both_backends(pg_cluster: Cluster) -> None:
    bench = ROOT / "benchmarks" / "bench_append_pg.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--quick", "--db", pg_cluster.fresh_log()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["benchmark"] == "append_pg" and result["events"] == 2000
    assert result["postgresql_events_per_s"] > 0 and result["sqlite_events_per_s"] > 0
    assert result["ratio"] > 0 and result["postgresql_fsync"] == "off"
    assert result["server_reads"]["pooled_to_direct_ratio"] > 0


@pytest.mark.parametrize(("ci", "outcome"), [("1", "1 error"), ("", "1 skipped")])
def test_without_a_server_the_postgresql_tests_skip_and_fail_under_ci(
    ci: str, outcome: str
) -> None:
    # as if Debian's postgresql were not installed: find_bin finds nothing
    test = "tests/test_store_blobs.py::test_blob_round_trip_by_content_hash[postgresql]"
    code = (
        "import sys, pytest, tests.pg_helpers as h; h.find_bin = lambda: None; "
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-rs', {test!r}]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert outcome in out.stdout, out.stdout
    assert (out.returncode != 0) == bool(ci)  # a setup error fails the session
    assert "PostgreSQL server binaries (initdb, pg_ctl) not found" in out.stdout
