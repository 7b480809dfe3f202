"""Live streams against a real uvicorn while the real CLI plays a run in another
process: SSE resume with Last-Event-ID (no gap, no duplicate), the WebSocket stream,
heartbeats, ``end``, and a seat's filtered stream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from eventstore import EventStore
from tests.engine_helpers import cli, subprocess_cli
from tests.server_helpers import STRAIT, assert_problem, bearer, live, make_world

pytestmark = pytest.mark.slow


def sse(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The SSE frames of a streaming response (comments, i.e. pings, as ``{": ": ...}``)."""
    frame: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if frame:
                yield frame
            frame = {}
        elif line.startswith(":"):
            yield {": ": line[1:].strip()}
        else:
            key, _, value = line.partition(":")
            frame[key] = value.removeprefix(" ")


def positions(db: Path, run_id: str) -> list[int]:
    with EventStore.open(db, create=False) as store:
        return [r.position for r in store.iter_events(run_id)]


def log_lines(db: Path, run_id: str) -> dict[int, dict[str, Any]]:
    result = cli("log", run_id, "--json", "--db", db)
    return {(x := json.loads(line))["position"]: x for line in result.stdout.splitlines()}


def start_cli_run(db: Path, *args: str) -> tuple[Any, str]:
    """The CLI playing a long rule run in another process, and its run id (read from its
    first status line, so clients can subscribe while it plays)."""
    proc = subprocess_cli("run", STRAIT, "--seed", "2", "--db", db, *args, env={})
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("run ") and ":" in line:
            return proc, line.split()[1].rstrip(":")
        assert line or proc.poll() is None, "the run ended before it printed its id"
    raise AssertionError("no run id from the CLI")


def finish(proc: Any, timeout: float = 120) -> int:
    """Wait for a CLI process and close its pipes; its exit code (0 completed, 3 halted
    again, e.g. for a human seat's next turn)."""
    _out, err = proc.communicate(timeout=timeout)
    assert proc.returncode in (0, 3), err
    return int(proc.returncode)


def test_sse_resumes_with_last_event_id_while_the_cli_plays(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        proc, run_id = start_cli_run(w.db, "--turns", "120")
        try:
            got: list[dict[str, str]] = []
            with c.stream("GET", f"/api/v1/runs/{run_id}/stream") as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                for frame in sse(r):
                    if "id" in frame:
                        got.append(frame)
                    if len(got) == 40:
                        break
            still_playing = proc.poll() is None
            resume = {"Last-Event-ID": got[-1]["id"]}
            with c.stream("GET", f"/api/v1/runs/{run_id}/stream", headers=resume) as r:
                for frame in sse(r):
                    if frame.get("event") == "end":
                        break
                    if "id" in frame:
                        got.append(frame)
            finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        assert still_playing, "the first connection should have been cut while the run played"
        ids = [int(f["id"]) for f in got]
        assert ids == positions(w.db, run_id)  # no gap, no duplicate, in order
        lines = log_lines(w.db, run_id)
        for f in got:
            assert json.loads(f["data"]) == lines[int(f["id"])]
            assert f["event"] == lines[int(f["id"])]["type"]


def test_a_finished_run_streams_its_backlog_then_end(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    expected = positions(w.db, w.strait)
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        with c.stream("GET", f"/api/v1/runs/{w.strait}/stream", params={"after": expected[9]}) as r:
            frames = list(sse(r))
        assert [int(f["id"]) for f in frames if "id" in f] == expected[10:]
        assert frames[-1] == {"event": "end", "data": ""}
        assert_problem(
            c.get(f"/api/v1/runs/{w.strait}/stream", headers={"Last-Event-ID": "x"}), 400
        )
        assert_problem(c.get("/api/v1/runs/nope/stream"), 404)


def test_websocket_streams_live_events_of_a_seat_only(tmp_path: Path) -> None:
    """The grid operator's seat follows its halted run over a WebSocket; the CLI decides
    (the server plays the run on); the seat sees the next turn arrive, filtered."""
    w = make_world(tmp_path)
    with live(w.settings) as srv:
        url = srv.url.replace("http", "ws", 1) + f"/api/v1/runs/{w.tabletop}/ws"
        received: list[dict[str, Any]] = []
        with connect(url, additional_headers=bearer(w.seat), open_timeout=10) as ws:
            # the backlog, then a heartbeat: the run waits for this seat
            while True:
                msg = json.loads(ws.recv(timeout=10))
                if msg["event"] == "heartbeat":
                    break
                received.append(msg)
            decide = cli(
                "decide", w.tabletop, "--actor", "grid-operator", "--action-name",
                "public_briefing", "--action", "We brief the public", "--db", w.db,
            )  # fmt: skip
            assert decide.exit_code == 0, decide.output
            # the server watches its log: the answer lets it play the run on by itself
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv(timeout=10))
                if msg["event"] == "heartbeat":
                    if any(
                        m["event"] == "TurnStarted" and m["data"]["turn"] == 2 for m in received
                    ):
                        break
                    continue
                received.append(msg)
    types = [m["event"] for m in received]
    assert "HumanDecisionSubmitted" in types and "WorldUpdated" in types
    assert "CostIncurred" not in types and "DecisionMade" not in types  # others' decisions
    own = [m for m in received if m["data"].get("actor") not in (None, "grid-operator")]
    assert not [m for m in own if m["event"] != "MessageSent"], own
    ids = [m["id"] for m in received]
    assert ids == sorted(set(ids))
    assert set(ids) <= set(positions(w.db, w.tabletop))


def test_websocket_refuses_another_runs_seat_and_bad_credentials(tmp_path: Path) -> None:
    from websockets.exceptions import InvalidStatus

    w = make_world(tmp_path)
    with live(w.settings) as srv:
        url = srv.url.replace("http", "ws", 1) + f"/api/v1/runs/{w.tabletop}/ws"
        for headers, status in ((bearer(w.other_seat), 403), ({}, 401), (bearer("st_x_y"), 401)):
            with pytest.raises(InvalidStatus) as e:
                connect(url, additional_headers=headers, open_timeout=10)
            assert e.value.response.status_code == status
        # a browser passes its bearer value as a query parameter
        with connect(f"{url}?access_token={w.keys['analyst']}&after=0", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["event"] == "RunStarted"


def test_many_subscribers_share_one_tail(tmp_path: Path) -> None:
    """Twenty WebSocket subscribers of one playing run all get every event, from one
    poller whose ticks query the log once each, whatever the number of subscribers."""
    w = make_world(tmp_path)
    from server import create_app

    app = create_app(w.settings)
    hub = app.state.services.hub
    with live(w.settings, app) as srv:
        proc, run_id = start_cli_run(w.db, "--turns", "60")
        url = srv.url.replace("http", "ws", 1) + f"/api/v1/runs/{run_id}/ws"
        results: list[list[int]] = []
        lock = threading.Lock()

        def follow() -> None:
            ids: list[int] = []
            with connect(url, additional_headers=bearer(w.keys["analyst"]), open_timeout=20) as ws:
                while True:
                    msg = json.loads(ws.recv(timeout=60))
                    if msg["event"] == "end":
                        break
                    if "id" in msg:
                        ids.append(msg["id"])
            with lock:
                results.append(ids)

        threads = [threading.Thread(target=follow) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        finish(proc, 60)
    expected = positions(w.db, run_id)
    assert len(results) == 20
    assert all(ids == expected for ids in results)
    assert hub.polls <= len(expected)  # a poll that finds new events: at most one per event


def test_an_idle_sse_stream_sends_heartbeats(tmp_path: Path) -> None:
    w = make_world(tmp_path)  # heartbeat_s=1.0; the tabletop run waits for its human
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        last = positions(w.db, w.tabletop)[-1]
        with c.stream("GET", f"/api/v1/runs/{w.tabletop}/stream", params={"after": last}) as r:
            start = time.monotonic()
            frame = next(sse(r))
        assert ": " in frame and time.monotonic() - start < 10


def test_a_cookie_websocket_must_come_from_the_servers_own_origin(tmp_path: Path) -> None:
    from websockets.exceptions import InvalidStatus

    from tests.server_helpers import PASSWORD

    w = make_world(tmp_path)
    with live(w.settings) as srv, srv.client() as c:
        c.post("/api/v1/session", json={"name": "ada", "password": PASSWORD})
        cookie = {"Cookie": f"scenario_lab_session={c.cookies['scenario_lab_session']}"}
        url = srv.url.replace("http", "ws", 1) + f"/api/v1/runs/{w.strait}/ws"
        with pytest.raises(InvalidStatus) as e:
            connect(url, additional_headers=cookie, origin="http://evil.example", open_timeout=10)  # type: ignore[arg-type]
        assert e.value.response.status_code == 403
        with connect(url, additional_headers=cookie, origin=srv.url, open_timeout=10) as ws:  # type: ignore[arg-type]
            assert json.loads(ws.recv(timeout=10))["event"] == "RunStarted"
