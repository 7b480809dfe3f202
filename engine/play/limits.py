"""Will each prompt of a run fit its model's context window? Checked before the run.

Found by a user: a 50 MB scenario description went out as a 13M-token prompt, and was
paid for, with no warning. Here the first turn's prompts are rendered with the real
prompt builders (decision, world update, metric, validation) and their size, with the
answer each call asks room for, is compared with the model's context window:

* the window is the actor's ``context_window_tokens`` when it plays its own model,
  else the model's published window (``KNOWN_CONTEXT_WINDOWS``), else
  ``DEFAULT_CONTEXT_WINDOW``, small on purpose: an unknown model may be a local one
  that truncates long prompts without a word;
* a first-turn prompt past the window is certain to be too long: ``run`` refuses unless
  told to go on (``allow``); later decision prompts grow (a digest line of up to
  ``DIGEST_CHARS`` for each turn older than the recent window: full with a real model's
  narratives, ``DIGEST_TOKENS_PER_TURN``), so a prompt that will likely outgrow the
  window in a later turn is a warning.

Token counts are estimates (4 characters a token), as in ``estimate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ScenarioInvalid
from engine.fold.parts import DIGEST_CHARS
from engine.play.calls import estimate_tokens
from engine.play.prompts import (
    DecisionContext,
    decision_messages,
    metric_messages,
    validation_messages,
    world_update_messages,
)

DEFAULT_CONTEXT_WINDOW = 8_192

# Published context windows (tokens), early 2025, by the start of a model's name without
# its provider prefix or ":variant" suffix; the longest matching start wins. (Prefixes,
# not fnmatch patterns: compiling ~25 patterns took 2-3 ms of every run's start.)
KNOWN_CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4-turbo": 128_000,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "claude-": 200_000,
    "gemini-1.5-pro": 2_000_000,
    "gemini-pro-1.5": 2_000_000,
    "gemini-1.5-flash": 1_000_000,
    "gemini-flash-1.5": 1_000_000,
    "gemini-2": 1_048_576,
    "llama-3.1-": 131_072,
    "llama-3.2-": 131_072,
    "llama-3.3-": 131_072,
    "mistral-large": 128_000,
    "mistral-nemo": 128_000,
    "mistral-small": 32_768,
    "mixtral-8x7b": 32_768,
    "deepseek-chat": 64_000,
    "deepseek-r1": 64_000,
    "qwen-2.5-": 32_768,
}

# The most each call asks the model to answer (its max_tokens in the player): the
# provider counts it against the window too.
ANSWER_TOKENS = {"decision": 1200, "world update": 1500, "metric": 300, "validation": 500}
DIGEST_TOKENS_PER_TURN = estimate_tokens("- turn 10: " + "x" * DIGEST_CHARS + "\n")


def context_window(model: str, declared: int | None = None) -> tuple[int, str]:
    """(tokens, where that number comes from) for ``model``."""
    if declared is not None:
        return declared, "context_window_tokens in the actor's file"
    name = model.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    matches = [p for p in KNOWN_CONTEXT_WINDOWS if name.startswith(p)]
    if matches:
        return KNOWN_CONTEXT_WINDOWS[max(matches, key=len)], "published for the model"
    return DEFAULT_CONTEXT_WINDOW, "the default for a model not known here"


@dataclass(frozen=True)
class PromptFit:
    """One kind of call of a run and whether its prompt fits its model's window."""

    what: str  # "actor regulator's decision", "the world update", ...
    purpose: str  # a key of ANSWER_TOKENS
    model: str
    first_tokens: int  # the first turn's prompt, rendered
    last_tokens: int  # about this much by the last turn
    last_turn: int
    window: int
    window_from: str
    actor: str | None = None
    grows_from_turn: int = 1  # the first turn whose prompt is longer than the first's

    @property
    def answer_tokens(self) -> int:
        return ANSWER_TOKENS[self.purpose]

    @property
    def too_long(self) -> bool:
        """The first turn's prompt and answer already exceed the window."""
        return self.first_tokens + self.answer_tokens > self.window

    @property
    def outgrows(self) -> bool:
        """It fits at first but will not by the last turn."""
        return not self.too_long and self.last_tokens + self.answer_tokens > self.window

    def describe(self) -> str:
        """One line: what is too long, by how much, against which window, and the fix."""
        window = f"{self.window:,}-token context window of {self.model} ({self.window_from})"
        fix = "shorten the scenario's texts"
        if self.actor is not None:
            fix += f", set context_window_tokens in {self.actor}'s file if {self.model} takes more"
        if self.too_long:
            return (
                f"{self.what} prompt is about {self.first_tokens:,} tokens; with "
                f"{self.answer_tokens:,} for the answer it exceeds the {window}: {fix}, "
                "or pass --allow-long-prompts to send it anyway"
            )
        room = self.window - self.answer_tokens - self.first_tokens
        turn = self.grows_from_turn - 1 + math.ceil((room + 1) / DIGEST_TOKENS_PER_TURN)
        return (
            f"{self.what} prompt grows from about {self.first_tokens:,} tokens to about "
            f"{self.last_tokens:,} by turn {self.last_turn}, past the {window} around turn "
            f"{turn}: {fix}, or play fewer turns"
        )


def prompt_fits(
    scenario: Any,
    *,
    turns: int | None = None,
    model_overrides: Mapping[str, str] | None = None,
    world_model: str | None = None,
) -> list[PromptFit]:
    """Every kind of model call a run of ``scenario`` makes, with its prompt's size."""
    n = turns if turns is not None else scenario.turns
    overrides = dict(model_overrides or {})
    first_actor = next(iter(scenario.actors), None)
    world = world_model or scenario.world_state_model
    world = None if world in (None, "", "rules") else world
    fallback = world or (
        (overrides.get(first_actor) or scenario.actors[first_actor].llm_model or "")
        if first_actor
        else ""
    )
    initial = scenario.initial_world_state or ""
    acting = [(a.name, "") for a in scenario.actors.values()]  # answers not known yet
    out: list[PromptFit] = []

    def add(what: str, purpose: str, model: str, messages: Any, **kw: Any) -> None:
        tokens = estimate_tokens("".join(m["content"] for m in messages))
        window, source = context_window(model, kw.pop("declared", None))
        grows = kw.pop("grows", 0)
        fit = PromptFit(what, purpose, model, tokens, tokens + grows, n, window, source, **kw)
        out.append(fit)

    ctx = DecisionContext(turn=1, total_turns=n, simulated_date=None, world_state=initial)
    # turns beyond the recent window each add a digest line to every decision prompt
    digest = DIGEST_TOKENS_PER_TURN * max(0, n - 1 - scenario.context_window_size)
    digest_from = scenario.context_window_size + 2
    for actor_id, actor in scenario.actors.items():
        if actor.control != "ai":
            continue
        model = overrides.get(actor_id) or actor.llm_model or ""
        declared = actor.context_window_tokens if model == actor.llm_model else None
        messages = decision_messages(scenario, actor, ctx)
        what = f"actor {actor_id}'s decision"
        add(
            what,
            "decision",
            model,
            messages,
            declared=declared,
            grows=digest,
            actor=actor_id,
            grows_from_turn=digest_from,
        )
    if world:
        messages = world_update_messages(
            scenario,
            turn=1,
            total_turns=n,
            simulated_date=None,
            previous=initial,
            decisions=acting,
            exogenous=[],
        )
        add("the world update", "world update", world, messages)
    for metric in scenario.metrics:
        if metric.extraction.type == "llm":
            messages = metric_messages(
                metric,
                prompt=metric.extraction.prompt or metric.description or metric.name,
                turn=1,
                world=initial,
                decisions=acting,
                actor=None,
            )
            add(f"metric {metric.name!r}", "metric", metric.extraction.model or fallback, messages)
    validation = scenario.validation
    if validation is not None and validation.run_after_each_turn:
        for name, check in validation.checks.items():
            if check.enabled:
                messages = validation_messages(name, check, turn=1, world=initial, decisions=acting)
                model = validation.validation_model or fallback
                add(f"validation check {name!r}", "validation", model, messages)
    return [fit for fit in out if fit.model]


def check_prompt_sizes(
    scenario: Any,
    *,
    turns: int | None = None,
    model_overrides: Mapping[str, str] | None = None,
    world_model: str | None = None,
    allow: bool = False,
) -> list[str]:
    """Warnings (one line each) about prompts that do or will exceed their window.

    Raises ``ScenarioInvalid`` (every too-long prompt, the first as its message) when a
    first-turn prompt is already too long, unless ``allow``: then that is a warning too.
    """
    fits = prompt_fits(
        scenario, turns=turns, model_overrides=model_overrides, world_model=world_model
    )
    too_long = [f.describe() for f in fits if f.too_long]
    if too_long and not allow:
        more = len(too_long) - 1
        raise ScenarioInvalid(
            too_long[0],
            problems=too_long,
            hint=f"and {more} more prompt(s) too long" if more else None,
        )
    return too_long + [f.describe() for f in fits if f.outgrows]
