"""The fake LLM server itself: concurrency, modes, recording, and its process form.
Also the LLM layer's public surface."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

import engine.llm
from engine.llm import (
    ChatRequest,
    DecisionOut,
    LLMCallFailed,
    OpenAICompatibleClient,
    json_schema_for,
)
from tests.fakellm import DEFAULT_DECISION, FakeLLMServer, instance_of

ROOT = Path(__file__).parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def post(base_url: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(
        f"{base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def chat(model: str = "m", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def content(reply: dict[str, Any]) -> str:
    text: str = reply["choices"][0]["message"]["content"]
    return text


def test_serves_64_concurrent_requests_in_parallel() -> None:
    with FakeLLMServer(latency_s=0.2) as srv:
        started = time.perf_counter()
        with ThreadPoolExecutor(64) as pool:
            replies = list(pool.map(lambda _: post(srv.base_url, chat()), range(64)))
        elapsed = time.perf_counter() - started
        assert srv.request_count == 64
    assert len(replies) == 64
    assert elapsed < 1.0


def test_answer_order_script_then_responder_then_schema_then_default() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object"}}}
    with FakeLLMServer() as srv:
        srv.script("for b", model="b")
        srv.script("global 1", "global 2")
        srv.responder = lambda body: "echo " + body["model"] if body["model"] == "r" else None
        assert content(post(srv.base_url, chat("b"))) == "for b"
        assert content(post(srv.base_url, chat("b"))) == "global 1"
        assert content(post(srv.base_url, chat("r"))) == "global 2"
        assert content(post(srv.base_url, chat("r"))) == "echo r"
        assert content(post(srv.base_url, chat("x", response_format=schema))) == "{}"
        assert json.loads(content(post(srv.base_url, chat("x")))) == DEFAULT_DECISION
        srv.schema_mode = False
        reply = content(post(srv.base_url, chat("x", response_format=schema)))
        assert json.loads(reply) == DEFAULT_DECISION


def test_reply_envelope_and_usage() -> None:
    with FakeLLMServer() as srv:
        srv.script({"content": "cut", "finish_reason": "length", "usage": False})
        reply = post(srv.base_url, chat("model-x"))
        assert reply["object"] == "chat.completion"
        assert reply["model"] == "model-x"
        assert reply["choices"][0]["finish_reason"] == "length"
        assert "usage" not in reply
        reply = post(srv.base_url, chat())
        usage = reply["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_records_requests_without_the_key() -> None:
    with FakeLLMServer() as srv:
        post(srv.base_url, chat(), key="sk-SECRET-xyz")
        (record,) = srv.requests
        assert record["method"] == "POST" and record["path"] == "/v1/chat/completions"
        assert record["json"] == chat()
        assert "authorization" not in record["headers"]
        assert "sk-SECRET-xyz" not in json.dumps(record)
        srv.reset()
        assert srv.request_count == 0


def test_api_key_check_and_unknown_routes() -> None:
    with FakeLLMServer(api_key="right") as srv:
        with pytest.raises(urllib.error.HTTPError) as info:
            post(srv.base_url, chat(), key="wrong")
        assert info.value.code == 401
        info.value.close()
        assert content(post(srv.base_url, chat(), key="right"))
    with FakeLLMServer() as srv, pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{srv.base_url}/nowhere", timeout=5)
    assert info.value.code == 404
    info.value.close()


def test_fault_queue_is_consumed_in_order() -> None:
    with FakeLLMServer() as srv:
        srv.fail_next(1, "503")
        srv.fail_next(1, "reject_response_format", message="no response_format here")
        assert srv.pending_faults == 2
        codes = []
        for _ in range(2):
            with pytest.raises(urllib.error.HTTPError) as info:
                post(srv.base_url, chat())
            codes.append((info.value.code, json.loads(info.value.read())["error"]["message"]))
            info.value.close()
        assert codes == [(503, "fake HTTP 503"), (400, "no response_format here")]
        assert content(post(srv.base_url, chat()))
        with pytest.raises(ValueError):
            srv.fail_next(1, "explode")


class Level(BaseModel):
    name: Literal["low", "high"]
    score: int = Field(ge=3, le=9)
    ratio: float = Field(gt=0, lt=1)


class Report(BaseModel):
    summary: str = Field(min_length=20)
    levels: list[Level] = Field(min_length=2)
    flag: bool
    note: str | None = None
    tags: list[str] = Field(max_length=1)


@pytest.mark.parametrize("model", [Report, DecisionOut, Level])
def test_schema_instances_validate(model: type[BaseModel]) -> None:
    for schema in (model.model_json_schema(), json_schema_for(model)):
        value = instance_of(schema)
        model.model_validate(value)
        assert instance_of(schema) == value  # deterministic


def test_schema_instances_read_as_fake_field_names() -> None:
    value = instance_of(json_schema_for(DecisionOut))
    assert value["action"] == "fake action"
    assert value["long_term_goals"] == ["fake long_term_goals"]
    assert value["action_name"] == "fake action_name"


@pytest.mark.anyio
async def test_served_schema_instances_reach_the_client() -> None:
    with FakeLLMServer() as srv:
        async with OpenAICompatibleClient(srv.base_url, None) as client:
            response = await client.complete(
                ChatRequest(
                    model="m",
                    messages=[{"role": "user", "content": "report"}],
                    json_schema=json_schema_for(Report),
                    schema_name="report",
                )
            )
    assert Report.model_validate_json(response.text).flag is True


@pytest.mark.slow
@pytest.mark.anyio
async def test_as_a_process_that_gets_killed(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"replies": ["scripted one"], "faults": [["500", 1]]}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakellm", "--port", "0", "--script", str(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first[0] == "PORT"
        base_url = f"http://127.0.0.1:{int(first[1])}/v1"
        request = ChatRequest(model="m", messages=[{"role": "user", "content": "x"}])
        async with OpenAICompatibleClient(
            base_url, None, max_retries=1, backoff_base_s=0, timeout_s=5
        ) as client:
            response = await client.complete(request)
            assert response.text == "scripted one"
            assert [a.outcome for a in response.attempts] == ["http_500", "ok"]
            proc.kill()
            proc.wait(timeout=10)
            with pytest.raises(LLMCallFailed) as info:
                await client.complete(request)
        assert {a.outcome for a in info.value.attempts} == {"connection"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
def test_process_stops_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakellm", "--port", "0", "--latency", "0.01"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    with proc.stdout:
        port = int(proc.stdout.readline().split()[1])
        assert content(post(f"http://127.0.0.1:{port}/v1", chat()))
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_public_surface() -> None:
    expected = {
        "CallCost",
        "ChatRequest",
        "ChatResponse",
        "DecisionOut",
        "Endpoint",
        "LLMCallFailed",
        "LLMClient",
        "LLMSettings",
        "ModelPrice",
        "OpenAICompatibleClient",
        "ParseError",
        "Price",
        "PriceTable",
        "Router",
        "fetch_openrouter_prices",
        "json_schema_for",
        "parse_decision",
        "parse_structured",
    }
    assert set(engine.llm.__all__) == expected
    assert all(hasattr(engine.llm, name) for name in expected)
