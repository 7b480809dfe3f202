"""What a run will cost before it is played: calls, tokens and USD by model.

The calls counted are those every run of the scenario makes: per turn, one decision
and (with communication enabled) one talk plan per AI actor, the world update, each
model-extracted metric and each enabled validation check. Replies to private talks and
answers to coalition invitations depend on what the models choose to say: they are
counted apart, as the most a run could add (``max_calls``, ``max_cost_usd``), never as
if every actor always talked (which overcounted by a quarter; ``tests/test_estimate_calls``
holds each bundled scenario's estimate within 10% of a run's calls).

Prompt sizes come from rendering the real turn-1 prompts; later turns add the context
that accumulates (recent decisions, messages, a longer world state), estimated as a
fixed growth per turn. Output sizes are typical answer lengths per call purpose. A model
with no known price has ``cost_usd`` None (unknown, not free); the totals are then the
priced models' and ``unpriced`` names the others.

Prompt caching: every prompt of an actor opens with the same system message and
briefing (``engine.play.prompts.decision_prefix``). The estimate expects that opening to
be read from the provider's cache in every call of the actor from turn 2 on (turn 1's
calls write it), when the price table knows a cache price for the model (the provider
caches) and the opening is at least ``MIN_CACHED_PREFIX`` tokens (OpenAI's minimum;
Anthropic's for Sonnet and Opus, while its Haiku models need 2,048, which is not told
apart here). For Anthropic models a run marks the opening with ``cache_control``
(unless ``run --no-cache-markers``, which the estimate does not know of). Cached tokens
are billed at the cache price; what Anthropic charges extra to write the cache is not
modelled. ``cost_usd`` is the cost with those cache hits,
``cost_without_cache_usd`` the cost if none happened. The judges' prompts (world
update, metrics, checks) open with shorter stable parts and are counted uncached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from engine.llm import PriceTable

OUTPUT_TOKENS = {
    "decision": 450,
    "world_update": 650,
    "metric": 80,
    "validation": 150,
    "communication": 250,
}
GROWTH_PER_TURN = 180  # tokens of context added to each prompt per turn played
OVERHEAD = {"world_update": 500, "metric": 350, "validation": 350}
MIN_CACHED_PREFIX = 1024  # tokens: a shorter stable opening is not cached (OpenAI's rule)


class ModelEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """Expected calls, tokens and cost of one model over a run. ``max_calls``: with
    every reply and coalition answer the talks could ask for. ``priced`` is False when
    the price table does not know the model: its costs are None (unknown).
    ``cached_tokens``: the prompt tokens expected from the provider's cache (of
    ``input_tokens``); ``cost_usd`` counts them at the cache price,
    ``cost_without_cache_usd`` at the full input price."""

    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    priced: bool
    max_calls: int
    max_cost_usd: float | None
    cached_tokens: int = 0
    cost_without_cache_usd: float | None = None


class Estimate(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a run will cost before it is played (the order of ``estimate --json``).
    ``cost_usd`` and ``max_cost_usd`` sum the priced models; ``unpriced`` names the
    models with no known price, whose cost is unknown. ``warnings``: prompts that do or
    will exceed their model's context window, and models with no known price."""

    scenario: str
    turns: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    by_model: tuple[ModelEstimate, ...]
    max_calls: int
    max_cost_usd: float
    unpriced: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    cached_tokens: int = 0  # expected from providers' prompt caches (module docstring)
    cost_without_cache_usd: float = 0.0  # ``cost_usd`` if no prompt were served cached


@dataclass
class _Tally:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    # the talks' replies and coalition answers a run may add (calls, in, out, cached)
    extra: tuple[int, int, int, int] = (0, 0, 0, 0)


def _tokens(calls: int, prompt_tokens: int, purpose: str, turns: int) -> tuple[int, int]:
    # each turn's prompt is the turn-1 prompt plus the growth of the turns before it
    grown = calls * prompt_tokens + GROWTH_PER_TURN * calls * (turns - 1) // 2
    return grown, calls * OUTPUT_TOKENS[purpose]


def unpriced_warning(models: list[str]) -> str:
    """The warning for models with no known price (empty list: no warning)."""
    names = ", ".join(models)
    whose = "its" if len(models) == 1 else "their"
    return (
        f"no price is known for {names}: {whose} calls will be recorded with an unknown "
        "cost, not counted in any total (give one with --price MODEL=IN,OUT, USD per 1M "
        "tokens)"
    )


def estimate_run(
    scenario: Any,
    prices: PriceTable,
    *,
    turns: int | None = None,
    model_overrides: Mapping[str, str] | None = None,
) -> Estimate:
    """Expected model calls, tokens and USD of a run of ``scenario``, by model."""
    # the prompts bring the LLM layer: loaded when estimating, not with these types
    from engine.play.calls import estimate_tokens
    from engine.play.prompts import DecisionContext, decision_messages
    from engine.play.talks import channels

    n = turns if turns is not None else scenario.turns
    overrides = dict(model_overrides or {})
    world = (
        scenario.world_state_model
        if scenario.world_state_model not in (None, "", "rules")
        else None
    )
    rows: dict[str, _Tally] = {}

    def add(model: str, calls: int, prompt_tokens: int, purpose: str, cached: int = 0) -> None:
        """``calls`` calls in all (the same number each turn); ``cached``: the tokens of
        each call's opening served from the cache from turn 2 on."""
        row = rows.setdefault(model, _Tally())
        tokens_in, tokens_out = _tokens(calls, prompt_tokens, purpose, n)
        row.calls += calls
        row.input_tokens += tokens_in
        row.output_tokens += tokens_out
        row.cached_tokens += cached * (calls - calls // n)

    def may_add(model: str, calls: int, prompt_tokens: int, cached: int) -> None:
        row = rows.setdefault(model, _Tally())
        tokens_in, tokens_out = _tokens(calls, prompt_tokens, "communication", n)
        c, i, o, k = row.extra
        row.extra = (c + calls, i + tokens_in, o + tokens_out, k + cached * (calls - calls // n))

    ctx = DecisionContext(
        turn=1, total_turns=n, simulated_date=None, world_state=scenario.initial_world_state or ""
    )
    ch = channels(scenario)
    ai = [a for a, actor in scenario.actors.items() if actor.control == "ai"]
    for actor_id in ai:
        actor = scenario.actors[actor_id]
        model = overrides.get(actor_id) or actor.llm_model or ""
        messages = decision_messages(scenario, actor, ctx)
        prompt = estimate_tokens("".join(m["content"] for m in messages))
        cached = _cached_opening(scenario, actor, messages, model, prices)
        add(model, n, prompt, "decision", cached)
        if not ch.any:
            continue
        add(model, n, prompt, "communication", cached)  # the talk plan, every turn
        # at most: a reply to each talk the other AI actors may open with it (each sends
        # up to the cap), and an answer to each of their coalition invitations
        others = len(ai) - 1
        replies = min(ch.cap, others) if ch.bilateral else 0
        invitations = others if ch.coalition else 0
        may_add(model, n * (replies + invitations), prompt, cached)
    state_tokens = estimate_tokens(scenario.initial_world_state or "")
    if world:
        add(world, n, OVERHEAD["world_update"] + 2 * state_tokens, "world_update")
    for metric in scenario.metrics:
        if metric.extraction.type == "llm":
            model = metric.extraction.model or world or ""
            per_turn = len(scenario.actors) if metric.actor_specific else 1
            add(model, n * per_turn, OVERHEAD["metric"] + state_tokens, "metric")
    if scenario.validation is not None and scenario.validation.run_after_each_turn:
        model = scenario.validation.validation_model or world or ""
        checks = sum(1 for c in scenario.validation.checks.values() if c.enabled)
        if checks:
            add(model, n * checks, OVERHEAD["validation"] + state_tokens, "validation")
    by_model = tuple(_by_model(model, row, prices) for model, row in sorted(rows.items()) if model)
    unpriced = tuple(r.model for r in by_model if not r.priced)
    return Estimate(
        scenario=scenario.name,
        turns=n,
        calls=sum(r.calls for r in by_model),
        input_tokens=sum(r.input_tokens for r in by_model),
        output_tokens=sum(r.output_tokens for r in by_model),
        cost_usd=round(sum(r.cost_usd or 0.0 for r in by_model), 6),
        by_model=by_model,
        max_calls=sum(r.max_calls for r in by_model),
        max_cost_usd=round(sum(r.max_cost_usd or 0.0 for r in by_model), 6),
        unpriced=unpriced,
        warnings=(unpriced_warning(list(unpriced)),) if unpriced else (),
        cached_tokens=sum(r.cached_tokens for r in by_model),
        cost_without_cache_usd=round(sum(r.cost_without_cache_usd or 0.0 for r in by_model), 6),
    )


def _cached_opening(
    scenario: Any, actor: Any, messages: list[dict[str, str]], model: str, prices: PriceTable
) -> int:
    """Tokens of the actor's stable opening (system message and briefing) a provider's
    cache is expected to serve in each call after the first turn: none when the model
    has no known cache price or the opening is shorter than ``MIN_CACHED_PREFIX``."""
    from engine.play.calls import estimate_tokens
    from engine.play.prompts import decision_prefix, declared_actions

    if prices.price(model).cached_per_m is None:
        return 0
    opening = decision_prefix(scenario, actor, declared_actions(scenario, actor))
    tokens = estimate_tokens(messages[0]["content"] + opening)
    return tokens if tokens >= MIN_CACHED_PREFIX else 0


def _by_model(model: str, row: _Tally, prices: PriceTable) -> ModelEstimate:
    extra_calls, extra_in, extra_out, extra_cached = row.extra
    cost = prices.cost(model, row.input_tokens, row.output_tokens, row.cached_tokens)
    uncached = prices.cost(model, row.input_tokens, row.output_tokens)
    most = prices.cost(
        model,
        row.input_tokens + extra_in,
        row.output_tokens + extra_out,
        row.cached_tokens + extra_cached,
    )
    return ModelEstimate(
        model=model,
        calls=row.calls,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=None if cost is None else round(cost, 6),
        priced=cost is not None,
        max_calls=row.calls + extra_calls,
        max_cost_usd=None if most is None else round(most, 6),
        cached_tokens=row.cached_tokens,
        cost_without_cache_usd=None if uncached is None else round(uncached, 6),
    )
