"""Fog of war on every route a player reaches, end to end: a run started over HTTP with
one human seat beside AI actors (the loopback fake LLM answers them with secret-marked
reasoning). Nothing the player receives (its page, events, stream, answer responses)
holds another actor's private information, reasoning, goals, prompts or costs, while
the facilitator sees all of it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from scenario_lab.app import LLMSettings
from tests.engine_helpers import DATA, llm_env
from tests.fakellm import FakeLLMServer
from tests.server_helpers import bearer, live, make_world

OTHERS = ("regulator", "techco")


def _decision(request: dict[str, Any]) -> dict[str, Any] | None:
    """AI decisions whose reasoning names who made it, so a leak shows whose it is."""
    if "decision" not in json.dumps(request.get("response_format", {})):
        return None  # world updates, metrics: the fake's defaults
    text = json.dumps(request.get("messages", []))
    for actor in OTHERS:
        if f"SECRET-{actor}-PRIVATE" in text:  # only its own prompt holds its secret
            body = {
                "long_term_goals": [f"SECRET-{actor}-GOAL"],
                "short_term_priorities": ["p"],
                "reasoning": f"SECRET-{actor}-REASONING",
                "action": f"The {actor} acts.",
            }
            return {"content": json.dumps(body)}
    return None


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        server.responder = _decision
        yield server


def _leaks(text: str) -> list[str]:
    markers = [f"SECRET-{a}-PRIVATE" for a in OTHERS] + ["prompt_sha256", "CostIncurred"]
    markers += [f"favour of {a}" for a in OTHERS]  # the others' goals
    return [m for m in markers if m in text]


def _stream_until(c: httpx.Client, url: str, marker: str, timeout: float = 30) -> str:
    """The SSE text of ``url`` up to the first frame holding ``marker`` (bounded)."""
    out: list[str] = []
    deadline = time.monotonic() + timeout
    with c.stream("GET", url) as s:
        for line in s.iter_lines():
            out.append(line)
            if marker in line or time.monotonic() > deadline:
                break
    return "\n".join(out)


def test_a_player_receives_nothing_private_of_the_others(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    w = make_world(tmp_path)
    llm = LLMSettings.from_env(llm_env(fake.base_url))
    settings = replace(w.settings, scenario_dirs=(DATA,), llm=llm, user_rate_per_min=None)
    with live(settings) as srv, srv.client(headers=bearer(w.keys["facilitator"])) as c:
        body = {"scenario": "llm3", "turns": 2, "humans": ["ngo"]}
        run_id = c.post("/api/v1/runs", json=body).json()["run_id"]
        deadline = time.monotonic() + 60
        while c.get(f"/api/v1/runs/{run_id}").json()["status"] != "halted":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        token = c.post(f"/api/v1/runs/{run_id}/seats", json={"actor": "ngo"}).json()["token"]
        staff_events = c.get(f"/api/v1/runs/{run_id}/events").text
        # the facilitator sees what the player must not: the test can tell a leak
        assert "SECRET-regulator-PRIVATE" in staff_events
        assert "SECRET-techco-REASONING" in staff_events
    received: list[str] = []
    with live(settings) as srv, srv.client(headers=bearer(token)) as p:
        for _turn in (1, 2):
            view = p.get(f"/api/v1/runs/{run_id}/seat")
            received.append(view.text)
            [question] = view.json()["pending"]
            answer = p.post(
                f"/api/v1/runs/{run_id}/seat/decision",
                json={"action": "The ngo campaigns.", "request_id": question["request_id"]},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["run_continues"] is True, answer.text
            received.append(answer.text)
            marker = "RunCompleted" if _turn == 2 else '"turn": 2'
            received.append(_stream_until(p, f"/api/v1/runs/{run_id}/stream", marker))
            deadline = time.monotonic() + 60
            while True:
                view = p.get(f"/api/v1/runs/{run_id}/seat").json()
                if view["status"] == "completed" or any(q["turn"] > _turn for q in view["pending"]):
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(p.get(f"/api/v1/runs/{run_id}/events").text[-3000:])
                time.sleep(0.05)
        received.append(p.get(f"/api/v1/runs/{run_id}/events").text)
        received.append(p.get(f"/api/v1/runs/{run_id}/seat").text)
    everything = "\n".join(received)
    assert "SECRET-ngo-PRIVATE" in everything  # its own briefing
    assert "RunCompleted" in everything
    assert _leaks(everything) == []
    for actor in OTHERS:
        assert f"SECRET-{actor}-REASONING" not in everything
        assert f"SECRET-{actor}-GOAL" not in everything
