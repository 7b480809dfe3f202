"""``run --interactive`` at a real terminal (a pty): while a human seat is asked, the
progress line is not redrawn over the prompt; it goes on once the answer is in."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLETOP = ROOT / "scenarios" / "tabletop-human"

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")


class Terminal:
    """The CLI on the slave side of a pty; this side reads what it draws."""

    def __init__(self, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "LINES": "40"}
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from cli.app import main; main()", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.seen = b""

    def read(self, seconds: float) -> bytes:
        """What the CLI drew in the next ``seconds``."""
        got = b""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the CLI exited and closed the pty
                break
            if not chunk:
                break
            got += chunk
        self.seen += got
        return got

    def plain(self) -> bytes:
        """What was drawn, without colours and cursor moves."""
        return ANSI.sub(b"", self.seen)

    def wait_for(self, text: bytes, seconds: float = 60.0) -> None:
        end = time.monotonic() + seconds
        while text not in self.plain() and time.monotonic() < end:
            self.read(0.2)
        assert text in self.plain(), self.plain()[-2000:]

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def close(self) -> int:
        try:
            code = self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)
        return code


def test_the_progress_line_waits_while_a_human_types(tmp_path: Path) -> None:
    term = Terminal("run", str(TABLETOP), "--db", str(tmp_path / "log.db"), "--interactive")
    try:
        term.wait_for(b"Action name (")
        # the progress line is redrawn 4 times a second while the run plays: in a
        # second and a half of waiting for the human, nothing may be drawn
        quiet = term.read(1.5)
        assert quiet == b"", quiet
        term.type(b"manual_restoration\r")
        term.wait_for(b"Action [")
        term.type(b"\r")
        term.wait_for(b"Reasoning")
        term.type(b"hospitals first\r")
        term.wait_for(b"Goals")
        answered = len(term.plain())
        term.type(b"\r")
        # turn 2 asks again; the progress line was drawn again in between
        term.wait_for(b"your decision for turn 2")
        between = term.plain()[answered:]
        assert re.search(rb"turn [12] of 5 \| \d+ model calls", between), between
        term.wait_for(b"Action name (manual_restoration", 60)
        assert term.read(1.0) == b""
        term.type(b"\x04")  # Ctrl-D: defer; the run halts waiting for the seat
        term.wait_for(b"halted (human_input)")
        assert term.close() == 3
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
