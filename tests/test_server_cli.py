"""The server's commands: ``users``, ``keys`` and ``serve`` (a real process on a free
loopback port); every bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from server.accounts import Accounts
from tests.engine_helpers import cli

SERVE = [sys.executable, "-c", "from cli.app import main; main()", "serve"]


def one_line_error(result: object, code: int) -> str:
    assert result.exit_code == code, result.output  # type: ignore[attr-defined]
    err = result.stderr.strip()  # type: ignore[attr-defined]
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return err


def test_users_add_list_remove(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    r = cli(
        "users",
        "add",
        "ada",
        "--role",
        "admin",
        "--password-stdin",
        "--db",
        db,
        input="s3cret-pass\n",
    )
    assert r.exit_code == 0, r.output
    listed = cli("users", "list", "--json", "--db", db)
    assert [u["name"] for u in json.loads(listed.stdout)] == ["ada"]
    assert "s3cret" not in listed.stdout
    with Accounts.open(db) as accounts:
        assert accounts.authenticate("ada", "s3cret-pass") is not None
    assert cli("users", "remove", "ada", "--db", db).exit_code == 0
    assert json.loads(cli("users", "list", "--json", "--db", db).stdout) == []


@pytest.mark.parametrize(
    ("args", "stdin", "code", "words"),
    [
        (
            ["users", "add", "ada", "--role", "king", "--password-stdin"],
            "longenough\n",
            2,
            "unknown role 'king'",
        ),
        (
            ["users", "add", "a d", "--role", "admin", "--password-stdin"],
            "longenough\n",
            2,
            "user name 'a d'",
        ),
        (
            ["users", "add", "ada", "--role", "admin", "--password-stdin"],
            "short\n",
            2,
            "shorter than 8",
        ),
        (
            ["users", "add", "ada", "--role", "admin", "--password-stdin"],
            "",
            2,
            "no password on stdin",
        ),
        (["users", "add", "ada", "--role", "admin"], "", 2, "--password-stdin"),
        (["users", "remove", "nobody"], None, 2, "no user 'nobody'"),
        (["keys", "create", "k", "--role", "analyst", "--rate-limit", "fast"], None, 2, "N/min"),
        (["keys", "create", "k", "--role", "analyst", "--rate-limit", "0/min"], None, 2, "N/min"),
        (["keys", "revoke", "nothing"], None, 2, "no active key 'nothing'"),
    ],
)
def test_bad_account_input_is_one_line(
    tmp_path: Path, args: list[str], stdin: str | None, code: int, words: str
) -> None:
    err = one_line_error(cli(*args, "--db", tmp_path / "lab.db", input=stdin), code)
    assert words in err


def test_a_second_user_of_the_same_name_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    for expected in (0, 2):
        r = cli(
            "users",
            "add",
            "ada",
            "--role",
            "analyst",
            "--password-stdin",
            "--db",
            db,
            input="longenough\n",
        )
        assert r.exit_code == expected
    assert "already exists" in r.stderr


def test_accounts_refuse_a_file_that_is_not_a_log(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, not sqlite " * 100)
    err = one_line_error(cli("users", "list", "--db", bad), 1)
    assert "not a scenario-lab log" in err


def test_keys_are_printed_once_and_stored_hashed(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    r = cli("keys", "create", "ci", "--role", "analyst", "--rate-limit", "60/min", "--db", db)
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert secret.startswith("sl_") and len(secret) > 40
    listed = cli("keys", "list", "--db", db)
    assert "ci" in listed.stdout and "60/min" in listed.stdout and secret not in listed.stdout
    assert secret.encode() not in db.read_bytes()
    with Accounts.open(db) as accounts:
        assert accounts.check_key(secret) is not None
    assert cli("keys", "revoke", "ci", "--db", db).exit_code == 0
    assert "revoked" in cli("keys", "list", "--db", db).stdout
    one_line_error(cli("keys", "create", "x", "--role", "player", "--db", db), 2)
    # -o writes what would be printed, as every data command does
    for what in ("keys", "users"):
        out = tmp_path / f"{what}.json"
        written = cli(what, "list", "--json", "-o", out, "--db", db)
        assert written.exit_code == 0 and written.stdout == "", written.output
        assert json.loads(out.read_text()) == json.loads(
            cli(what, "list", "--json", "--db", db).stdout
        )
    text = tmp_path / "keys.txt"
    assert cli("keys", "list", "-o", text, "--db", db).exit_code == 0
    assert "ci" in text.read_text() and "revoked" in text.read_text()


def _serve(*args: str, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SERVE, "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )


@pytest.mark.slow
def test_serve_on_port_0_prints_the_real_url_and_serves(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    proc = _serve("--port", "0", db=db)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(url + "healthz", timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json() == {"status": "ok"}
        # no users or keys: open on loopback, and it says so
        assert httpx.get(url + "api/v1/me", timeout=5).json()["open"] is True
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert "serving open on loopback only" in err


@pytest.mark.slow
def test_serve_refuses_a_public_address_without_users(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    proc = _serve("--host", "0.0.0.0", "--port", "0", db=db)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "refusing to serve on 0.0.0.0 without users or keys" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--scenarios", "/nonexistent-folder"], "no such folder"),
        (["--port", "70000"], "less than or equal to 65535"),
        (["--host", "no-such-host.invalid"], "cannot listen on"),
    ],
)
def test_serve_bad_input_is_refused(tmp_path: Path, args: list[str], words: str) -> None:
    db = tmp_path / "lab.db"
    with Accounts.open(db) as accounts:  # a user: the host's reachability is not the issue
        accounts.add_user("ada", "admin", "longenough")
    r = cli("serve", "--db", db, *args)
    assert r.exit_code == 2, r.output
    assert words in r.stderr and "Traceback" not in r.output


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        err = one_line_error(cli("serve", "--db", tmp_path / "lab.db", "--port", str(port)), 1)
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "(choose another --port, or --port 0 for a free one)" in err


def _on_a_terminal(args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its terminal, typing ``answers`` at each
    password prompt; its exit code and everything it printed."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the pty
        os.execv(sys.executable, [sys.executable, "-c", "from cli.app import main; main()", *args])
    import select

    out = b""
    pending = list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 1)[0]:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        asked = out.count(b"Password")  # answer each prompt once, after it is shown
        if pending and asked > len(answers) - len(pending) and out.rstrip().endswith(b":"):
            os.write(fd, pending.pop(0).encode() + b"\n")
    os.close(fd)
    if time.monotonic() >= deadline:
        os.kill(pid, 9)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.slow
def test_users_add_asks_the_password_twice_on_a_terminal(tmp_path: Path) -> None:
    db = str(tmp_path / "lab.db")
    code, out = _on_a_terminal(
        ["users", "add", "ada", "--role", "admin", "--db", db], ["first-pass", "other-pass"]
    )
    assert code == 2 and "error: the two passwords differ" in out, out
    assert "first-pass" not in out  # no echo
    code, out = _on_a_terminal(
        ["users", "add", "ada", "--role", "admin", "--db", db], ["same-pass1", "same-pass1"]
    )
    assert code == 0, out
    with Accounts.open(Path(db)) as accounts:
        assert accounts.authenticate("ada", "same-pass1") is not None
