"""Prompt tokens per call, and how much of each prompt a provider's prefix cache could serve.

Plays the bundled LLM scenario ``ai-summit`` (3 AI actors, talks, decisions, world
update, a judged metric, two checks) against the loopback fake and looks at every
prompt the engine sent. Tokens are the estimate the ``estimate`` command uses
(``engine.play.calls.estimate_tokens``, 4 characters a token), over the prompt as a
chat template lays it out (each message's role, then its content). For each prompt:

- ``prompt_tokens``: its size;
- ``shared_prefix_tokens``: the longest prefix it shares with any prompt sent before it
  in the run (what a prefix cache keyed on the prompt could serve at best);
- ``cacheable_tokens``: the same rounded as OpenAI bills cache hits: 0 below 1,024
  tokens, else down to a multiple of 128.

Printed per purpose (``decision``, ``communication``, ...) and for decisions alone:
mean prompt tokens per decision and the cacheable share (cacheable / prompt tokens).
Turn 1 has nothing before it, so the shares are of turns 2 and later too
(``*_after_turn_1``). ``--quick`` plays 2 turns instead of 4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import emit

from engine.llm import LLMSettings, PriceTable, Router
from engine.play.calls import estimate_tokens
from engine.play.player import RunPlayer
from engine.play.session import start_run
from engine.scenario.load import load_scenario
from eventstore import EventStore
from tests.fakellm import FakeLLMServer

ROOT = Path(__file__).resolve().parent.parent
SUMMIT = ROOT / "scenarios" / "ai-summit"

MIN_CACHED = 1024  # OpenAI caches prompts of 1,024 tokens or more...
BLOCK = 128  # ...in steps of 128 tokens


def chat_text(messages: list[dict[str, Any]]) -> str:
    """A prompt as a chat template lays it out: role, then content, message by message."""
    return "".join(f"<|{m.get('role', '')}|>\n{m.get('content') or ''}\n" for m in messages)


def common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def cacheable(tokens: int) -> int:
    """What OpenAI would bill as cached of a ``tokens``-long shared prefix."""
    return 0 if tokens < MIN_CACHED else tokens - tokens % BLOCK


def measure(prompts: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """Per prompt (purpose, turn, text): its tokens and what an earlier prompt shares."""
    seen: list[str] = []
    out = []
    for purpose, turn, text in prompts:
        shared = max((common_prefix(text, s) for s in seen), default=0)
        seen.append(text)
        prefix = estimate_tokens(text[:shared]) if shared else 0
        out.append(
            {
                "purpose": purpose,
                "turn": turn,
                "prompt_tokens": estimate_tokens(text),
                "shared_prefix_tokens": prefix,
                "cacheable_tokens": cacheable(prefix),
            }
        )
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = sum(r["prompt_tokens"] for r in rows)
    shared = sum(r["shared_prefix_tokens"] for r in rows)
    cached = sum(r["cacheable_tokens"] for r in rows)
    return {
        "calls": len(rows),
        "prompt_tokens_per_call": round(prompt / len(rows), 1) if rows else 0,
        "shared_prefix_share": round(shared / prompt, 3) if prompt else 0,
        "cacheable_share": round(cached / prompt, 3) if prompt else 0,
    }


def play(turns: int) -> list[tuple[str, int, str]]:
    """The prompts of one run of ai-summit, in the order the fake received them."""
    loaded = load_scenario(SUMMIT)
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer() as srv:
        settings = LLMSettings.from_env({}, base_url=srv.base_url)

        async def main() -> None:
            async with Router(settings) as router:
                with EventStore.open(Path(tmp) / "cache.db") as store:
                    run_id = start_run(store, loaded, seed=1, turns=turns)
                    player = RunPlayer(store, run_id, client=router, prices=PriceTable.load())
                    await player.play()

        anyio.run(main)
        requests = [r["json"] for r in srv.requests if r["path"].endswith("/chat/completions")]
    prompts = []
    for body in requests:
        spec = (body.get("response_format") or {}).get("json_schema") or {}
        purpose = str(spec.get("name", "?"))
        text = chat_text(body["messages"])
        turn = _turn_of(text)
        prompts.append((purpose, turn, text))
    return prompts


def _turn_of(text: str) -> int:
    # every prompt names its turn ("Turn 3 of 4" / "turn 3 of 4" / "Turn 3 world ...")
    low = text.lower()
    at = low.find("turn ")
    while at >= 0:
        digits = ""
        for ch in low[at + 5 :]:
            if not ch.isdigit():
                break
            digits += ch
        if digits:
            return int(digits)
        at = low.find("turn ", at + 5)
    return 0


def run(turns: int) -> dict[str, Any]:
    rows = measure(play(turns))
    decisions = [r for r in rows if r["purpose"] == "decision"]
    purposes = sorted({r["purpose"] for r in rows})
    return {
        "scenario": "ai-summit",
        "turns": turns,
        "tokenizer": "engine.play.calls.estimate_tokens (len(text) // 4)",
        "prompt_tokens_per_decision": summary(decisions)["prompt_tokens_per_call"],
        "decision_cacheable_share": summary(decisions)["cacheable_share"],
        "decision_cacheable_share_after_turn_1": summary(
            [r for r in decisions if r["turn"] > 1]
        )["cacheable_share"],
        "all_calls": summary(rows),
        "all_calls_after_turn_1": summary([r for r in rows if r["turn"] > 1]),
        "by_purpose": {p: summary([r for r in rows if r["purpose"] == p]) for p in purposes},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 turns instead of 4")
    args = parser.parse_args()
    emit({"benchmark": "prompt_cache", **run(2 if args.quick else 4)})


if __name__ == "__main__":
    main()
