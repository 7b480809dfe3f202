"""What a run will cost before it is played: calls, tokens and USD by model.

Prompt sizes come from rendering the real turn-1 prompts; later turns add the
context that accumulates (recent decisions, messages, a longer world state), estimated
as a fixed growth per turn. Output sizes are typical answer lengths per call purpose.
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


class ModelEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """Expected calls, tokens and cost of one model over a run; ``priced`` is False when
    the price table does not know the model (its cost counts as 0)."""

    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    priced: bool


class Estimate(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a run will cost before it is played (the order of ``estimate --json``).
    ``warnings``: prompts that do or will exceed their model's context window."""

    scenario: str
    turns: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    by_model: tuple[ModelEstimate, ...]
    warnings: tuple[str, ...] = ()


@dataclass
class _Tally:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


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

    n = turns if turns is not None else scenario.turns
    overrides = dict(model_overrides or {})
    world = (
        scenario.world_state_model
        if scenario.world_state_model not in (None, "", "rules")
        else None
    )
    rows: dict[str, _Tally] = {}

    def add(model: str, calls: int, prompt_tokens: int, purpose: str) -> None:
        row = rows.setdefault(model, _Tally())
        row.calls += calls
        # each turn's prompt is the turn-1 prompt plus the growth of the turns before it
        row.input_tokens += calls * prompt_tokens + GROWTH_PER_TURN * calls * (n - 1) // 2
        row.output_tokens += calls * OUTPUT_TOKENS[purpose]

    ctx = DecisionContext(
        turn=1, total_turns=n, simulated_date=None, world_state=scenario.initial_world_state or ""
    )
    for actor_id, actor in scenario.actors.items():
        if actor.control != "ai":
            continue
        model = overrides.get(actor_id) or actor.llm_model or ""
        text = "".join(m["content"] for m in decision_messages(scenario, actor, ctx))
        add(model, n, estimate_tokens(text), "decision")
        # communication: one plan per AI actor per turn, and about one reply to each
        if (
            scenario.enable_bilateral_communication
            or scenario.enable_coalition_formation
            or scenario.enable_public_statements
        ):
            talk_calls = n * (2 if scenario.enable_bilateral_communication else 1)
            add(model, talk_calls, estimate_tokens(text), "communication")
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
    by_model = tuple(
        ModelEstimate(
            model=model,
            calls=row.calls,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=round(prices.cost(model, row.input_tokens, row.output_tokens), 6),
            priced=prices.price(model).known,
        )
        for model, row in sorted(rows.items())
        if model
    )
    return Estimate(
        scenario=scenario.name,
        turns=n,
        calls=sum(r.calls for r in by_model),
        input_tokens=sum(r.input_tokens for r in by_model),
        output_tokens=sum(r.output_tokens for r in by_model),
        cost_usd=round(sum(r.cost_usd for r in by_model), 6),
        by_model=by_model,
    )
