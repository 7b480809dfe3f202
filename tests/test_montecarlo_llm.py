"""Counterfactual sets of an LLM-driven run against the loopback fake model server: the
forced decision replaces that actor's model call in every branch, the set's budget
stops it before a call would cross it, ``batch resume`` with more budget finishes it,
and a paired baseline pairs with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine_helpers import LLM3, cli, last_line, llm_env, payloads
from tests.fakellm import FakeLLMServer

PRICES = {m: {"input": 10, "output": 20} for m in ("test/actor", "test/world")}
FORCED = "Lobbies for an exemption."


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _calls(db: Path, run_id: str, from_turn: int) -> list[tuple[int, str]]:
    """(turn, actor or purpose) of each model call recorded from ``from_turn`` on."""
    return [
        (turn, p.get("actor") or "")
        for turn, type_, p in payloads(db, run_id)
        if type_ == "DecisionRequested" and turn >= from_turn
    ]


def _shown(db: Path, batch_id: str, env: dict[str, str]) -> dict[str, Any]:
    result = cli("batch", "show", batch_id, "--db", db, "--json", env=env)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_an_llm_counterfactual_set_under_a_budget_then_resumed(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db, prices = tmp_path / "log.db", tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    env = llm_env(fake.base_url)
    common = ["--db", db, "--prices", prices]
    parent = last_line(cli("run", LLM3, *common, "--seed", "5", env=env).stdout)
    fork = ["fork", parent, *common, "--at-turn", "1", "--count", "3", "--play", "--paired"]
    edit = ["--decision", f"techco={FORCED}"]

    # a budget too small for one call: the set stops before any call crosses it
    before = fake.request_count
    stopped = cli(*fork, *edit, "--budget", "0.000001", "--parallel", "1", env=env)
    assert stopped.exit_code == 3, stopped.output  # cut short by its budget: exit 3
    edited = last_line(stopped.stdout)
    assert fake.request_count == before
    shown = _shown(db, edited, env)
    assert shown["budget_spent"] is True and shown["counts"]["completed"] == 0

    # more budget finishes it; every branch's techco decision in turn 2 is the edit,
    # made without a model call
    resumed = cli("batch", "resume", edited, *common, "--budget", "5", env=env)
    assert resumed.exit_code == 0, resumed.output
    shown = _shown(db, edited, env)
    assert shown["counts"]["completed"] == 3, shown["cut_short"]
    parent_calls = _calls(db, parent, 2)
    assert (2, "techco") in parent_calls
    for r in shown["runs"]:
        events = payloads(db, r["run_id"])
        forced = [p for t, ty, p in events if ty == "DecisionMade" and t == 2]
        assert {p["action"] for p in forced if p["actor"] == "techco"} == {FORCED}
        branch_calls = _calls(db, r["run_id"], 2)
        assert sorted(branch_calls) == sorted(c for c in parent_calls if c != (2, "techco"))

    # a paired baseline made afterwards pairs with the edited set
    base = cli(*fork, "--concurrency", "2", env=env)
    assert base.exit_code == 0, base.output
    baseline = last_line(base.stdout)
    compared = cli("compare", "--batch", baseline, "--batch", edited, "--db", db, "--json")
    assert compared.exit_code == 0, compared.output
    found = json.loads(compared.stdout)
    assert found["paired"] is True and found["pairs"] == 3
    assert found["a"]["edit"] == {"decisions": {}, "inject": []}
    assert found["b"]["edit"] == {"decisions": {"techco": FORCED}, "inject": []}
    assert all(m["final"]["n_a"] == 3 for m in found["metrics"])
