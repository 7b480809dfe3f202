"""``estimate`` against what runs make: each bundled scenario is played against the
loopback fake model and its calls counted.

The estimate's ``calls`` are the calls every run makes; it used to add a reply per actor
and turn whatever the models said (52 estimated for 40 made, +30%). The talks' replies
depend on the models, so they are an upper bound (``max_calls``) that a run whose actors
open every talk they may reaches and never passes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine_helpers import cli, last_line, llm_env
from tests.fakellm import FakeLLMServer

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
BUNDLED = sorted(p.name for p in SCENARIOS.iterdir() if (p / "scenario.yaml").is_file())


def _estimate(path: Path) -> dict[str, Any]:
    done = cli("estimate", path, "--json")
    assert done.exit_code == 0, done.output
    return dict(json.loads(done.stdout))


def _played_calls(tmp_path: Path, path: Path, fake: FakeLLMServer) -> int:
    """Model calls a run of ``path`` made (to the point where it waits for a human)."""
    done = cli("run", path, "--db", tmp_path / "log.db", env=llm_env(fake.base_url))
    assert done.exit_code in (0, 3), done.output  # 3: halted, waiting for a human seat
    assert last_line(done.stdout)
    return fake.request_count


@pytest.mark.parametrize("name", BUNDLED)
def test_the_estimate_is_within_ten_percent_of_the_calls_a_run_makes(
    tmp_path: Path, name: str
) -> None:
    est = _estimate(SCENARIOS / name)
    with FakeLLMServer() as fake:
        made = _played_calls(tmp_path, SCENARIOS / name, fake)
    assert abs(est["calls"] - made) <= 0.1 * made, (est["calls"], made)
    assert est["calls"] <= made <= est["max_calls"]


def _talk_to_everyone(actors: list[str]) -> Any:
    """A model that opens a private talk with every actor in every talk plan."""

    def reply(request: dict[str, Any]) -> str | None:
        schema = request.get("response_format", {}).get("json_schema", {})
        if schema.get("name") != "talkplan":
            return None  # every other call: the fake's schema instance
        talks = [{"to": a, "content": f"A word with {a}."} for a in actors]
        plan = {
            "messages": talks,
            "coalition_members": [],
            "coalition_purpose": "",
            "public_statement": "",
        }
        return json.dumps(plan)

    return reply


def test_a_run_whose_actors_open_every_talk_reaches_the_upper_bound(tmp_path: Path) -> None:
    path = SCENARIOS / "ai-summit"
    est = _estimate(path)
    actors = sorted(p.stem for p in (path / "actors").glob("*.yaml"))
    with FakeLLMServer(responder=_talk_to_everyone(actors)) as fake:
        made = _played_calls(tmp_path, path, fake)
    assert est["calls"] < made == est["max_calls"], (est["calls"], made, est["max_calls"])
