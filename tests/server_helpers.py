"""Helpers of the server tests: a real uvicorn on a loopback port, a log with runs,
and principals of every role."""

from __future__ import annotations

import atexit
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from server import Settings, create_app
from server.accounts import Accounts
from tests.engine_helpers import cli, last_line

ROOT = Path(__file__).resolve().parent.parent
TABLETOP = ROOT / "scenarios" / "tabletop-human"
STRAIT = ROOT / "scenarios" / "strait-crisis"
PASSWORD = "correct horse battery"


class LiveServer:
    """``app`` served by uvicorn in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, app: FastAPI):
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        self._sock.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@contextmanager
def live(settings: Settings, app: FastAPI | None = None) -> Iterator[LiveServer]:
    with LiveServer(app or create_app(settings)) as server:
        yield server


def play(db: Path, scenario: Path, seed: int = 3, *extra: str) -> str:
    """Play a bundled scenario with the real CLI (in-process); returns the run id. A run
    that halts for a human seat exits 3 (halted, resumable)."""
    result = cli("run", scenario, "--seed", str(seed), "--db", db, *extra)
    assert result.exit_code in (0, 3), result.output
    return last_line(result.stdout)


@dataclass(frozen=True)
class World:
    """A log with a completed rule run and a tabletop run waiting for its human seat,
    plus one principal of each kind (secrets as the clients send them)."""

    db: Path
    settings: Settings
    strait: str  # completed, rule-driven
    tabletop: str  # halted, waiting for grid-operator
    keys: dict[str, str]  # role -> API key
    seat: str  # seat token of grid-operator in `tabletop`
    other_seat: str  # seat token of a seat in `strait` (another run)


_TEMPLATE: list[World] = []


def make_world(tmp: Path, **settings: Any) -> World:
    """A fresh copy of the test world in ``tmp`` (built once per test process: playing
    the scenarios and hashing passwords is most of a server test's time)."""
    if not _TEMPLATE:
        folder = tempfile.mkdtemp(prefix="server-world-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _TEMPLATE.append(_build_world(Path(folder)))
    template = _TEMPLATE[0]
    db = tmp / "lab.db"
    for suffix in ("", "-wal"):
        src = template.db.with_name(template.db.name + suffix)
        if src.exists():
            shutil.copyfile(src, db.with_name(db.name + suffix))
    base = replace(template.settings, db=db)
    return replace(template, db=db, settings=replace(base, **settings))


def _build_world(tmp: Path) -> World:
    db = tmp / "lab.db"
    strait = play(db, STRAIT, 1)
    tabletop = play(db, TABLETOP, 3)
    keys: dict[str, str] = {}
    with Accounts.open(db) as accounts:
        accounts.add_user("ada", "admin", PASSWORD)
        accounts.add_user("fay", "facilitator", PASSWORD)
        for role in ("admin", "facilitator", "analyst"):
            keys[role] = accounts.create_key(f"{role}-key", role)[1]
        seat = accounts.create_seat_token(tabletop, "grid-operator", "fay")[1]
        other = accounts.create_seat_token(strait, "eastern-power", "fay")[1]
    settings = Settings(db=db, accounts=True, poll_interval_s=0.02, heartbeat_s=1.0)
    return World(db, settings, strait, tabletop, keys, seat, other)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


def wait_run(
    c: httpx.Client, run_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    """GET the run until ``done(run)`` (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = c.get(f"/api/v1/runs/{run_id}").json()
        if done(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
