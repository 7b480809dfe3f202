"""No secret in any log line: a run against the fake LLM with known fake keys, at the
debug level, in both formats, to stderr and to a file; every line is searched."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenario_lab.observe import (
    REDACTED,
    LogSettings,
    configure_logging,
    secrets_from_env,
)
from tests.engine_helpers import LLM3, SECRET_KEY
from tests.fakellm import FakeLLMServer
from tests.test_logging import scenario_lab

OTHER_KEY = "sk-or-v1-fake-openrouter-0123456789"
PASSWORD = "hunter2-not-a-real-password"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_key_in_any_line_of_a_run(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "run.log"
    with FakeLLMServer() as fake:
        fake.fail_next(2, "500")  # retried: attempts and failures are logged too
        env = {
            "SCENARIO_LAB_LLM_BASE_URL": fake.base_url,
            "SCENARIO_LAB_LLM_API_KEY": SECRET_KEY,
            "OPENROUTER_API_KEY": OTHER_KEY,
            "SCENARIO_LAB_DB_PASSWORD": PASSWORD,
        }
        runs = []
        for where in ([], ["--log-file", str(log)]):
            args = ["--log-level", "debug", "--log-format", fmt, *where]
            runs.append(scenario_lab(*args, "run", LLM3, "--db", tmp_path / "l.db", env=env))
    for out in runs:
        assert out.returncode == 0, out.stderr
    lines = [*runs[0].stderr.splitlines(), *log.read_text().splitlines()]
    # the run was logged in depth: its calls, and httpx's requests at the debug level
    assert sum("model.call" in line for line in lines) >= 2 * 5
    assert any("HTTP Request" in line for line in lines)
    for line in lines:
        for secret in (SECRET_KEY, OTHER_KEY, PASSWORD):
            assert secret not in line, line


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Logging to a JSON file with the fake key as a known secret; undone afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    path = tmp_path / "unit.log"
    configure_logging(
        LogSettings("debug", "json", path, secrets_from_env({"X_API_KEY": SECRET_KEY}))
    )
    try:
        yield path
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


def test_the_redaction_blanks_secret_fields_values_and_bearer_tokens(log_file: Path) -> None:
    log = logging.getLogger("tests.secrets")
    log.info("calling with %s", SECRET_KEY, extra={"api_key": "abc", "input_tokens": 12})
    log.warning("header", extra={"authorization": "Bearer xyz-123456", "password": "pw"})
    log.error("failed: Authorization: Bearer tok-987654321 at https://h/x?api_key=q1w2e3r4")
    try:
        raise RuntimeError(f"key {SECRET_KEY} refused")
    except RuntimeError:
        log.exception("with a traceback")
    text = log_file.read_text()
    for secret in (SECRET_KEY, "xyz-123456", "tok-987654321", "q1w2e3r4", '"pw"', '"abc"'):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == f"calling with {REDACTED}" and lines[0]["api_key"] == REDACTED
    assert lines[0]["input_tokens"] == 12  # "token" in a field name is not enough
    assert lines[1]["authorization"] == REDACTED and lines[1]["password"] == REDACTED
    assert "Bearer [redacted]" in lines[2]["event"] and "api_key=[redacted]" in lines[2]["event"]
    assert "exception" in lines[3] and REDACTED in json.dumps(lines[3])


def test_secrets_from_env_takes_keys_tokens_and_passwords_only() -> None:
    env = {
        "OPENROUTER_API_KEY": OTHER_KEY,
        "GITHUB_TOKEN": "ghp_abcdefgh",
        "PGPASSWORD": PASSWORD,
        "HOME": "/root/home",
        "SHORT_TOKEN": "abc",  # too short to scrub without mangling lines
    }
    assert sorted(secrets_from_env(env)) == sorted([OTHER_KEY, "ghp_abcdefgh", PASSWORD])
