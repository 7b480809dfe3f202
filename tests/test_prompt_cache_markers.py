"""Anthropic's models cache only prompts marked with ``cache_control``: an actor's calls
to one of them carry the marker at the end of the stable opening (system message and
briefing), the calls to other models are sent exactly as before, ``--no-cache-markers``
turns the marker off, and a run with markers still replays (``replay --check``).

Through the real CLI against the loopback fake LLM server, on the bundled ``ai-summit``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.llm.prompt_cache import CACHE_CONTROL, marked_messages, needs_cache_marker
from engine.play.prompts import decision_prefix
from engine.scenario.load import load_scenario
from eventstore import CostIncurred, EventStore
from tests.engine_helpers import cli, last_line, llm_env
from tests.fakellm import FakeLLMServer

SUMMIT = Path(__file__).resolve().parent.parent / "scenarios" / "ai-summit"
CLAUDE = "anthropic/claude-3.5-haiku"
ACTOR = "regulator"  # the one actor sent to CLAUDE; the others keep openai/gpt-4o-mini


def _play(db: Path, *extra: str) -> tuple[str, list[dict[str, Any]]]:
    """Play two turns with ACTOR on CLAUDE; (run id, the chat requests' bodies)."""
    with FakeLLMServer() as fake:
        result = cli(
            "run", SUMMIT, "--db", db, "--turns", "2", "--seed", "3",
            "--model", f"{ACTOR}={CLAUDE}", *extra, env=llm_env(fake.base_url),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        bodies = [r["json"] for r in fake.requests if r["path"].endswith("/chat/completions")]
    return last_line(result.stdout), bodies


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, list[Any]]]:
    db = tmp_path_factory.mktemp("markers") / "log.db"
    run_id, bodies = _play(db)
    yield db, run_id, bodies


def _recorded_prompts(db: Path, run_id: str) -> list[tuple[str, list[dict[str, str]]]]:
    """(model, messages) of every answered call as the log keeps it."""
    with EventStore.open(db) as store:
        out = []
        for e in store.read_events(run_id):
            if isinstance(e, CostIncurred) and e.prompt_hash is not None:
                out.append((e.model, json.loads(store.get_blob(e.prompt_hash))["messages"]))
        return out


def test_an_anthropic_actors_calls_mark_the_end_of_its_briefing(
    marked: tuple[Path, str, list[Any]],
) -> None:
    _db, _run, bodies = marked
    scenario = load_scenario(SUMMIT).scenario
    opening = decision_prefix(scenario, scenario.actors[ACTOR])
    claude = [b for b in bodies if b["model"] == CLAUDE]
    assert len(claude) >= 4  # a talk plan and a decision in each of two turns
    for body in claude:
        system, user = body["messages"]
        assert isinstance(system["content"], str)  # the marker caches it too: it comes first
        first, rest = user["content"]
        assert first == {"type": "text", "text": opening, "cache_control": CACHE_CONTROL}
        assert rest["type"] == "text" and "cache_control" not in rest
        assert rest["text"].startswith("\n## Current situation: Turn ")


def test_other_models_calls_are_sent_as_before(marked: tuple[Path, str, list[Any]]) -> None:
    db, run_id, bodies = marked
    others = [b for b in bodies if b["model"] != CLAUDE]
    assert others and {b["model"] for b in others} == {"openai/gpt-4o-mini"}
    assert all(isinstance(m["content"], str) for b in others for m in b["messages"])
    assert not any("cache_control" in json.dumps(b) for b in others)
    # what the log keeps of every call is the plain text, marker or not (calls made at
    # once arrive in any order)
    sent = sorted(json.dumps([b["model"], _plain(b["messages"])], sort_keys=True) for b in bodies)
    kept = _recorded_prompts(db, run_id)
    assert sent == sorted(json.dumps([m, p], sort_keys=True) for m, p in kept)


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    def text(content: Any) -> str:
        return content if isinstance(content, str) else "".join(p["text"] for p in content)

    return [{**m, "content": text(m["content"])} for m in messages]


def test_a_run_with_markers_replays(marked: tuple[Path, str, list[Any]]) -> None:
    db, run_id, _ = marked
    checked = cli("replay", run_id, "--check", "--db", db)
    assert checked.exit_code == 0, checked.output


def test_no_cache_markers_sends_none(tmp_path: Path) -> None:
    _run, bodies = _play(tmp_path / "log.db", "--no-cache-markers")
    assert any(b["model"] == CLAUDE for b in bodies)
    assert not any("cache_control" in json.dumps(b) for b in bodies)


def test_which_models_need_a_marker_and_where_it_goes() -> None:
    assert needs_cache_marker("anthropic/claude-3.7-sonnet")
    assert needs_cache_marker("claude-3-5-haiku-latest")  # a bare name on an explicit endpoint
    assert not needs_cache_marker("openai/gpt-4o-mini")
    assert not needs_cache_marker("ollama/llama3.1")
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "abcdef"}]
    assert marked_messages(msgs, 2)[1]["content"] == [
        {"type": "text", "text": "ab", "cache_control": CACHE_CONTROL},
        {"type": "text", "text": "cdef"},
    ]
    # nothing to split off, or nothing before the mark: sent as they are
    assert marked_messages(msgs, 6) == msgs and marked_messages(msgs, 0) == msgs
