"""Helpers of the browser app's tests: the built app, a real headless Chromium driven
by Playwright, a loopback proxy whose connections a test can drop, and screenshots."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
WEBAPP = ROOT / "server" / "webapp"
CHROMIUM = os.environ.get("SCENARIO_LAB_CHROMIUM", "/usr/bin/chromium")
# screenshots of every page the tests visit (README pictures come from here)
SHOTS = Path(os.environ.get("SCENARIO_LAB_SCREENSHOTS", ROOT / "out" / "screenshots"))


def _newest(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def ensure_built() -> None:
    """Build the app from the lockfile when it is missing or older than its sources
    (what `make web` does), so the tests never run against a stale build."""
    index = WEBAPP / "index.html"
    sources = max(_newest(WEB / "src"), *(p.stat().st_mtime for p in WEB.glob("*.json")))
    if index.is_file() and index.stat().st_mtime >= sources:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the browser app is not built and npm is missing: install Node, run `make web`")
    steps = [[npm, "run", "build"]]
    if not (WEB / "node_modules").is_dir():
        steps.insert(0, [npm, "ci", "--no-audit", "--no-fund"])
    for step in steps:
        done = subprocess.run(step, cwd=WEB, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(step[1:])}` in web/ failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright (`make browser` installs it)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no chromium at {CHROMIUM}: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def browser_fixture() -> Any:
    """A module's ``chromium`` fixture (``chromium = browser_fixture()``): one headless
    Chromium per test module, over the current build of the app."""

    @pytest.fixture(scope="module")
    def chromium() -> Iterator[Any]:
        ensure_built()
        with browser() as b:
            yield b

    return chromium


def sign_in(b: Any, url: str, name: str = "fay", **context: Any) -> Any:
    """A browser context signed in as ``name`` through the API (the cookie the login
    form sets), at a laptop's size."""
    from tests.server_helpers import PASSWORD

    ctx = b.new_context(base_url=url, viewport={"width": 1280, "height": 900}, **context)
    r = ctx.request.post("/api/v1/session", data={"name": name, "password": PASSWORD})
    assert r.ok, r.text()
    return ctx


class ConsoleLog:
    """Console errors and uncaught exceptions of a page (the app must have none)."""

    def __init__(self, page: Any):
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


def shot(page: Any, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


class DropProxy:
    """A TCP proxy on 127.0.0.1 in front of the server: ``drop()`` closes every open
    connection and refuses new ones until ``restore()``, as a lost network would."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._down = False
        self._stop = threading.Event()
        self.drops = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> DropProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._close_all()
        self._listener.close()

    def drop(self) -> None:
        self._down = True
        self.drops += 1
        self._close_all()

    def restore(self) -> None:
        self._down = False

    def _close_all(self) -> None:
        with self._lock:
            conns, self._open = list(self._open), set()
        for s in conns:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._down:
                client.close()
                continue
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def load_factor() -> float:
    """How much busier than one runnable task per core the machine is (at least 1): a
    time bound measured on an idle machine is multiplied by it, as the shared 2 cores
    often run 10 tasks at once."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def off_loop(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a thread of its own: Playwright's sync API keeps an event loop
    running in the test's thread, and the CLI (run in-process) starts its own."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn(*args))
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    t.join(120)
    if errors:
        raise errors[0]
    assert out, "timed out"
    return out[0]


def wait_until(check: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it is truthy (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
