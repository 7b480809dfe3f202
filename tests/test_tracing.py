"""Trace spans of a run against the loopback fake LLM, caught by the SDK's in-memory
exporter: run > turn > phase > model call, with the GenAI semantic conventions; and
exported over OTLP/HTTP to a loopback collector when the endpoint is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from engine.observe import tracer, use_tracer
from eventstore import EventStore
from scenario_lab.app import StartRun
from scenario_lab.observe import configure_tracing
from tests.app_helpers import make_lab, play
from tests.engine_helpers import LLM3, RULES3
from tests.fakellm import FakeLLMServer
from tests.test_logging import ROOT, scenario_lab

PHASES = ["start", "talks", "decisions", "world_update", "measure"]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    before = tracer()
    assert configure_tracing({}, exporter=exporter)
    try:
        yield exporter
    finally:
        use_tracer(before)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def test_a_run_is_a_tree_of_turns_phases_and_model_calls(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    with FakeLLMServer() as fake:
        outcome = play(make_lab(tmp_path, fake.base_url), StartRun(scenario=str(LLM3), turns=2))
    assert outcome.status == "completed"
    finished = list(spans.get_finished_spans())
    (run,) = [s for s in finished if s.name == "run"]
    assert run.parent is None and run.attributes == {"scenario_lab.run_id": outcome.run_id}
    assert {s.context.trace_id for s in finished} == {run.context.trace_id}
    turns = _children(finished, run)
    assert [(t.name, t.attributes["scenario_lab.turn"]) for t in turns] == [
        ("turn", 1),
        ("turn", 2),
    ]
    chats = []
    for turn in turns:
        phases = _children(finished, turn)
        assert [p.name for p in phases] == [f"phase {p}" for p in PHASES]
        for phase in phases:
            assert phase.attributes == {"scenario_lab.phase": phase.name.split()[1]}
            assert phase.start_time >= turn.start_time and phase.end_time <= turn.end_time
            chats += [(phase, c) for c in _children(finished, phase)]
    assert len(chats) == fake.request_count
    assert len([s for s in finished if s.name.startswith("chat ")]) == len(chats)

    decisions = [c for p, c in chats if p.name == "phase decisions"]
    assert sorted(c.attributes["scenario_lab.actor"] for c in decisions) == sorted(
        ["ngo", "regulator", "techco"] * 2
    )
    with EventStore.open(tmp_path / "log.db", create=False) as store:
        costs = [r.event for r in store.read(outcome.run_id) if r.type == "CostIncurred"]
    for _phase, chat in chats:
        a = chat.attributes
        assert chat.kind == SpanKind.CLIENT and chat.status.status_code == StatusCode.UNSET
        assert chat.name == f"chat {a['gen_ai.request.model']}"
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai"
        assert a["gen_ai.request.model"] in ("test/actor", "test/world")
        assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert a["scenario_lab.run_id"] == outcome.run_id and a["scenario_lab.attempts"] == 1
        assert chat.end_time > chat.start_time
    # the span's token counts are the ones the log's cost ledger recorded
    usage = sorted((c.attributes["gen_ai.usage.input_tokens"], c.attributes["gen_ai.usage.output_tokens"]) for _p, c in chats)  # fmt: skip
    assert usage == sorted((c.input_tokens, c.output_tokens) for c in costs)


def test_a_failed_call_is_an_error_span(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    with FakeLLMServer() as fake:
        fake.fail_next(50, "401")
        play(make_lab(tmp_path, fake.base_url), StartRun(scenario=str(LLM3), turns=1))
    failed = [s for s in spans.get_finished_spans() if s.name.startswith("chat ")]
    assert failed and all(s.status.status_code == StatusCode.ERROR for s in failed)
    assert {s.attributes["error.type"] for s in failed} == {"LLMCallFailed"}
    assert all(s.attributes["gen_ai.request.model"].startswith("test/") for s in failed)


def test_no_tracer_no_spans(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    assert configure_tracing({}) is False  # no endpoint: the tracer is left as it was
    assert tracer() is not None
    play(make_lab(tmp_path), StartRun(scenario=str(RULES3), turns=1))
    assert len(spans.get_finished_spans()) == 1 + 1 + len(PHASES)  # run, turn, phases
    spans.clear()
    use_tracer(None)
    play(make_lab(tmp_path), StartRun(scenario=str(RULES3), turns=1))
    assert spans.get_finished_spans() == ()


def _run_loaded(
    tmp_path: Path, *args: str, env: dict[str, str], block_otel: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """A rule run of the CLI in a fresh interpreter, and which of structlog and
    opentelemetry it loaded. ``block_otel``: as if the otel extra were not installed."""
    block = "sys.modules['opentelemetry'] = None\n" if block_otel else ""
    code = (
        f"import json, sys\n{block}from cli.app import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m, v in sys.modules.items() if v} "
        "& {'structlog', 'opentelemetry'})))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SCENARIO_LAB_", "OTEL_"))}
    out = subprocess.run(
        [sys.executable, "-c", code, *args, "run", str(RULES3), "--db", str(tmp_path / "l.db")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **env},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return out, loaded


def test_a_run_that_writes_no_line_loads_neither_structlog_nor_opentelemetry(
    tmp_path: Path,
) -> None:
    assert _run_loaded(tmp_path, env={})[1] == []
    # a line written: structlog formats it; still no OpenTelemetry without an endpoint
    assert _run_loaded(tmp_path, "--log-level", "info", env={})[1] == ["structlog"]


def test_without_the_otel_extra_an_endpoint_gives_a_warning_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    out, loaded = _run_loaded(tmp_path, env=env, block_otel=True)
    assert "tracing.unavailable" in out.stderr and "scenario-lab[otel]" in out.stderr
    assert "opentelemetry" not in loaded
    assert "completed" in out.stderr


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver on loopback: keeps each request's path and body."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_spans_are_exported_over_otlp_when_the_endpoint_is_set(tmp_path: Path) -> None:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        out = scenario_lab(
            "run", RULES3, "--db", tmp_path / "l.db", "--turns", "1",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "lab-test"},
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    assert _Collector.received, "no span reached the collector"
    assert {path for path, _ in _Collector.received} == {"/v1/traces"}
    body = b"".join(b for _, b in _Collector.received)
    for expected in (b"lab-test", b"phase decisions", b"scenario_lab.run_id", run_id.encode()):
        assert expected in body
