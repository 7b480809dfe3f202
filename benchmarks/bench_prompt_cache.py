"""Prompt tokens per call, and how much of each prompt a provider's prefix cache could serve.

Plays the bundled LLM scenario ``ai-summit`` (3 AI actors, talks, decisions, world
update, a judged metric, two checks) against the loopback fake and looks at every
prompt the engine sent. Tokens are the estimate the ``estimate`` command uses
(``engine.play.calls.estimate_tokens``, 4 characters a token), over the prompt as a
chat template lays it out (each message's role, then its content). For each prompt:

- ``prompt_tokens``: its size;
- ``shared_prefix_tokens``: the longest prefix it shares with any prompt sent before it
  in the run (what a prefix cache keyed on the prompt could serve at best);
- ``previous_turn_prefix_tokens``: the prefix it shares with the same actor's prompt of
  the same purpose in the turn before (the part that is stable across turns);
- ``cacheable_tokens``: ``shared_prefix_tokens`` rounded as OpenAI bills cache hits: 0
  below 1,024 tokens, else down to a multiple of 128; ``cacheable_no_minimum_tokens``
  without the 1,024 minimum (providers with smaller minimums, or longer prompts).

``stable_prefix_tokens_by_actor``: the opening every prompt of an actor shares (its
decisions and talks, all turns). Printed per purpose (``decision``, ``communication``,
...) and for decisions alone:
mean prompt tokens per decision and the cacheable share (cacheable / prompt tokens).
Turn 1 has nothing before it, so the shares are of turns 2 and later too
(``*_after_turn_1``). The fake emulates OpenAI's prompt cache (over the request's JSON,
so its counts differ a little from these): ``recorded_with_fake_cache`` is what the
engine recorded of it (cached tokens, cost, saving at the shipped prices).
``--quick`` plays 2 turns instead of 4.
"""

from __future__ import annotations

import argparse
import json
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
from eventstore import CostIncurred, EventStore
from tests.fakellm import FakeLLMServer, cacheable_tokens, common_prefix_len

ROOT = Path(__file__).resolve().parent.parent
SUMMIT = ROOT / "scenarios" / "ai-summit"

MIN_CACHED = 1024  # OpenAI caches prompts of 1,024 tokens or more...
BLOCK = 128  # ...in steps of 128 tokens


def chat_text(messages: list[dict[str, Any]]) -> str:
    """A prompt as a chat template lays it out: role, then content, message by message."""
    return "".join(f"<|{m.get('role', '')}|>\n{m.get('content') or ''}\n" for m in messages)


def cacheable(tokens: int, minimum: int = MIN_CACHED) -> int:
    """What OpenAI would bill as cached of a ``tokens``-long shared prefix."""
    return cacheable_tokens(tokens, minimum=minimum, block=BLOCK)


Prompt = tuple[str, str | None, int, str]  # (purpose, actor, turn, chat text)


def measure(prompts: list[Prompt]) -> list[dict[str, Any]]:
    """Per prompt: its tokens, what any earlier prompt shares with it, and what the
    same actor's prompt of the same purpose in the previous turn shares with it."""
    seen: list[str] = []
    last: dict[tuple[str, str | None], tuple[int, str]] = {}
    out = []
    for purpose, actor, turn, text in prompts:
        shared = max((common_prefix_len(text, s) for s in seen), default=0)
        seen.append(text)
        before = last.get((purpose, actor))
        across = common_prefix_len(text, before[1]) if before and before[0] == turn - 1 else 0
        if before is None or before[0] < turn:
            last[(purpose, actor)] = (turn, text)
        prefix = estimate_tokens(text[:shared]) if shared else 0
        out.append(
            {
                "purpose": purpose,
                "turn": turn,
                "prompt_tokens": estimate_tokens(text),
                "shared_prefix_tokens": prefix,
                "previous_turn_prefix_tokens": estimate_tokens(text[:across]) if across else 0,
                "cacheable_tokens": cacheable(prefix),
                "cacheable_no_minimum_tokens": cacheable(prefix, 0),
            }
        )
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = sum(r["prompt_tokens"] for r in rows)

    def share(key: str) -> float:
        return round(sum(r[key] for r in rows) / prompt, 3) if prompt else 0.0

    return {
        "calls": len(rows),
        "prompt_tokens_per_call": round(prompt / len(rows), 1) if rows else 0,
        "shared_prefix_share": share("shared_prefix_tokens"),
        "previous_turn_prefix_share": share("previous_turn_prefix_tokens"),
        "cacheable_share": share("cacheable_tokens"),
        "cacheable_no_minimum_share": share("cacheable_no_minimum_tokens"),
    }


def play(turns: int) -> tuple[list[Prompt], list[CostIncurred]]:
    """(purpose, actor, turn, prompt) of every answered call of one run of ai-summit,
    in log order (each ``CostIncurred`` names its call's turn and purpose and links the
    request as it was sent, a blob), and the costs. The fake emulates OpenAI's prompt
    cache, so the costs hold the cached tokens and savings the engine recorded."""
    loaded = load_scenario(SUMMIT)
    prompts = []
    costs = []
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(prefix_cache=True) as srv:
        settings = LLMSettings.from_env({}, base_url=srv.base_url)

        async def main() -> str:
            async with Router(settings) as router:
                with EventStore.open(Path(tmp) / "cache.db") as store:
                    run_id = start_run(store, loaded, seed=1, turns=turns)
                    player = RunPlayer(store, run_id, client=router, prices=PriceTable.load())
                    await player.play()
                    return run_id

        run_id = anyio.run(main)
        with EventStore.open(Path(tmp) / "cache.db") as store:
            for e in store.read_events(run_id):
                if isinstance(e, CostIncurred) and e.prompt_hash is not None:
                    body = json.loads(store.get_blob(e.prompt_hash))
                    prompts.append((e.purpose, e.actor, e.turn, chat_text(body["messages"])))
                    costs.append(e)
    return prompts, costs


def recorded(costs: list[CostIncurred]) -> dict[str, Any]:
    """What the log says the fake's emulated cache served and saved."""
    prompt = sum(c.input_tokens for c in costs)
    cached = sum(c.cached_prompt_tokens or 0 for c in costs)
    return {
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
        "cached_share": round(cached / prompt, 3) if prompt else 0,
        "cost_usd": round(sum(c.cost_usd or 0.0 for c in costs), 8),
        "cache_saving_usd": round(sum(c.cache_saving_usd or 0.0 for c in costs), 8),
    }


def stable_prefix(prompts: list[Prompt]) -> dict[str, int]:
    """Per actor, the tokens every one of its prompts (decisions and talks, all turns)
    opens with: the part of its prompt that never changes during the run."""
    texts: dict[str, list[str]] = {}
    for purpose, actor, _turn, text in prompts:
        if actor is not None and purpose in ("decision", "communication"):
            texts.setdefault(actor, []).append(text)
    out = {}
    for actor, mine in sorted(texts.items()):
        first, last = min(mine), max(mine)  # the common prefix of all is theirs
        out[actor] = estimate_tokens(first[: common_prefix_len(first, last)])
    return out


def run(turns: int) -> dict[str, Any]:
    prompts, costs = play(turns)
    rows = measure(prompts)
    decisions = [r for r in rows if r["purpose"] == "decision"]
    later = summary([r for r in decisions if r["turn"] > 1])
    purposes = sorted({r["purpose"] for r in rows})
    return {
        "scenario": "ai-summit",
        "turns": turns,
        "tokenizer": "engine.play.calls.estimate_tokens (len(text) // 4)",
        "prompt_tokens_per_decision": summary(decisions)["prompt_tokens_per_call"],
        "stable_prefix_tokens_by_actor": stable_prefix(prompts),
        "decision_previous_turn_prefix_share": later["previous_turn_prefix_share"],
        "decision_cacheable_share_after_turn_1": later["cacheable_share"],
        "decision_cacheable_no_minimum_share_after_turn_1": later["cacheable_no_minimum_share"],
        "all_calls": summary(rows),
        "all_calls_after_turn_1": summary([r for r in rows if r["turn"] > 1]),
        "by_purpose": {p: summary([r for r in rows if r["purpose"] == p]) for p in purposes},
        "recorded_with_fake_cache": recorded(costs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 turns instead of 4")
    args = parser.parse_args()
    emit({"benchmark": "prompt_cache", **run(2 if args.quick else 4)})


if __name__ == "__main__":
    main()
