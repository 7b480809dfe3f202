"""Models with no known price: warned about first, recorded as unknown cost (never $0),
refused under a credit limit or a budget unless ``--price MODEL=IN,OUT`` gives a price.

The test scenario's models (``test/actor``, ``test/world``) are in no price table, like
a local or new model a user points the lab at. They used to cost $0 with no warning,
and a credit limit let them run unbounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from eventstore import CostIncurred, EventStore, decode, encode
from tests.engine_helpers import LLM3, cli, last_line, llm_env, payloads, runs_json
from tests.fakellm import FakeLLMServer
from tests.test_batch_helpers import BATCHES, bcli

PRICED = ["--price", "test/actor=1,2", "--price", "test/world=3,4"]


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _costs(db: Path, run_id: str) -> list[dict[str, Any]]:
    return [p for _t, kind, p in payloads(db, run_id) if kind == "CostIncurred"]


def _refused(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, lines
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_a_run_of_unpriced_models_warns_first_and_records_unknown_costs(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    done = cli("run", LLM3, "--db", db, env=llm_env(fake.base_url))
    assert done.exit_code == 0, done.output
    run_id = last_line(done.stdout)
    err = done.stderr.splitlines()
    assert err[0].startswith("warning: no price is known for test/actor, test/world")
    assert "--price MODEL=IN,OUT" in err[0]
    costs = _costs(db, run_id)
    assert costs and all(c["cost_usd"] is None for c in costs)  # unknown, not 0
    assert f"and {len(costs)} call(s) of unknown cost" in done.stderr
    # the analytics keep them apart: null in the ledger, counted in every cost view
    query = (
        "SELECT count(*) FILTER (WHERE cost_usd IS NULL) AS unknown, "
        "(SELECT unpriced_calls FROM cost_by_run) AS counted FROM costs"
    )
    sql = cli("sql", query, "--db", db, "-f", "csv")
    assert sql.exit_code == 0, sql.output
    assert sql.stdout.splitlines()[1] == f"{len(costs)},{len(costs)}"
    assert "cost unknown" in cli("log", run_id, "--db", db).stdout
    assert "1 of unknown cost" in cli("audit", run_id, "--db", db).stdout
    described = cli("replay", run_id, "--db", db).stdout
    assert f"{len(costs)} of unknown cost" in described
    report = cli("report", run_id, "--db", db)
    assert report.exit_code == 0, report.output
    costs_part = report.stdout.split("## Costs", 1)[1]
    assert f"unknown ({len(costs)} call(s) with no known price)" in report.stdout
    assert "$0.0000" not in costs_part  # no unknown cost shown as free
    with EventStore.open(db, create=False) as store:
        from engine.replay import replay

        state = replay(store, run_id)
    assert state.costs.unpriced_calls == len(costs) and state.costs.total_usd == 0.0


def test_a_credit_limit_refuses_unpriced_models_before_anything_is_written(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    refused = cli("run", LLM3, "--db", db, "--credit-limit", "1", env=llm_env(fake.base_url))
    _refused(refused, "--credit-limit cannot be kept", "test/actor, test/world", "--price")
    assert not db.exists() and fake.request_count == 0


def test_given_prices_let_a_limited_run_play_and_price_every_call(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    env = llm_env(fake.base_url)
    done = cli("run", LLM3, "--db", db, "--credit-limit", "1", *PRICED, env=env)
    assert done.exit_code == 0, done.output
    assert "warning" not in done.stderr
    rate = {"test/actor": (1.0, 2.0), "test/world": (3.0, 4.0)}
    for c in _costs(db, last_line(done.stdout)):
        per_in, per_out = rate[c["model"]]
        expected = (c["input_tokens"] * per_in + c["output_tokens"] * per_out) / 1e6
        assert c["cost_usd"] == pytest.approx(expected)


def test_a_resume_and_a_played_fork_need_the_price_again(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    db = tmp_path / "log.db"
    env = llm_env(fake.base_url)
    done = cli("run", LLM3, "--db", db, "--turns", "1", "--credit-limit", "1", *PRICED, env=env)
    run_id = last_line(done.stdout)
    more = ["resume", run_id, "--db", db, "--turns", "2"]
    _refused(cli(*more, env=env), "--credit-limit cannot be kept", "--price")
    fork = ["fork", run_id, "--at-turn", "1", "--turns", "2", "--play", "--db", db]
    _refused(cli(*fork, env=env), "--credit-limit cannot be kept")
    assert [r["run_id"] for r in runs_json(db)] == [run_id]  # no branch recorded
    assert cli(*more, *PRICED, env=env).exit_code == 0
    branch = cli(*fork, *PRICED, env=env)
    assert branch.exit_code == 0, branch.output


def test_estimate_marks_unknown_costs_and_takes_prices() -> None:
    unknown = cli("estimate", LLM3, "--json")
    assert unknown.exit_code == 0, unknown.output
    assert "warning: no price is known for test/actor, test/world" in unknown.stderr
    est = json.loads(unknown.stdout)
    assert est["unpriced"] == ["test/actor", "test/world"] and est["cost_usd"] == 0
    assert all(r["cost_usd"] is None and not r["priced"] for r in est["by_model"])
    table = cli("estimate", LLM3)
    assert "(no price known: cost unknown)" in table.stdout
    priced = json.loads(cli("estimate", LLM3, "--json", *PRICED).stdout)
    assert "unpriced" not in priced and priced["cost_usd"] > 0
    assert all(r["priced"] and r["cost_usd"] > 0 for r in priced["by_model"])


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("test/actor", "takes MODEL=IN,OUT"),
        ("test/actor=1", "takes MODEL=IN,OUT"),
        ("test/actor=a,b", "takes MODEL=IN,OUT"),
        ("test/actor=-1,2", "takes MODEL=IN,OUT"),
        ("=1,2", "takes MODEL=IN,OUT"),
    ],
)
def test_a_malformed_price_is_one_line(value: str, why: str) -> None:
    _refused(cli("estimate", LLM3, "--price", value), "--price", why)


def test_a_price_given_twice_is_refused() -> None:
    twice = cli("estimate", LLM3, "--price", "test/actor=1,2", "--price", "test/actor=3,4")
    _refused(twice, "--price names test/actor twice")


def test_a_batch_budget_refuses_unpriced_models(tmp_path: Path, fake: FakeLLMServer) -> None:
    db = tmp_path / "log.db"
    env = llm_env(fake.base_url)
    batch = ["batch", "run", BATCHES / "llm.yaml", "--db", db, "--budget", "5"]
    _refused(bcli(*batch, env=env), "--budget cannot be kept", "test/")
    assert not db.exists()
    prices = [f"test/{m}=1,1" for m in ("small", "large", "actor", "world")]
    done = bcli(*batch, *[a for p in prices for a in ("--price", p)], env=env)
    assert done.exit_code == 0, done.output


def test_a_cost_of_an_older_version_reads_as_the_number_it_holds() -> None:
    unknown = CostIncurred(turn=1, model="m", purpose="decision", cost_usd=None)
    assert decode("CostIncurred", 3, encode(unknown)) == unknown  # null stays unknown
    v2 = msgspec.json.encode({"type": "CostIncurred", "turn": 1, "model": "m", "purpose": "x"})
    assert decode("CostIncurred", 2, v2).cost_usd == 0.0  # type: ignore[attr-defined]
