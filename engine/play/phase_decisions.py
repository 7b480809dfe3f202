"""The decision phase of a turn: every actor decides at once, on the same information.

No actor sees another's decision of the same turn: all prompts are built from the
state before any answer is folded in. Each actor's brain depends on who controls it
now: a fork's counterfactual decision, a script, the rules, a human, or a model. All of
them end in the same events (``DecisionMade``, a human's ``HumanDecisionSubmitted``, or
``DecisionFailed``), so what follows does not care which it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio

from engine.errors import BudgetExceeded
from engine.play import brains, rules
from engine.play.calls import request_blob
from engine.play.phase import Halt, Play, budget_halt, decision_context
from engine.play.prompts import DecisionContext, cache_prefix_chars, decision_messages
from engine.rng import llm_seed
from eventstore import (
    DecisionFailed,
    DecisionRequested,
    HumanDecisionSubmitted,
    HumanInputRequested,
    blob_hash,
)

# Asks a human at this terminal: (actor, what they see, their prompt) -> their answer
# (action, and optionally reasoning, goals, action_name, submitted_by), or None to leave
# the decision for later (the run halts for it).
HumanPrompt = Callable[[str, DecisionContext, list[dict[str, str]]], dict[str, Any] | None]


class Decisions:
    """One turn's decisions, from where the log left them."""

    def __init__(self, p: Play, turn: int, human_prompt: HumanPrompt | None = None):
        self.p = p
        self.turn = turn
        # answers a human at this terminal; without it the run halts for human input
        self.human_prompt = human_prompt
        self.waiting: list[str] = []  # human actors the turn waits for
        self.unanswered: dict[str, str] = {}  # actor -> why no model answered

    async def play(self) -> None:
        """Every actor not yet decided decides; halts if a decision is still missing."""
        progress = self.p.state.turn_progress
        todo = [
            a
            for a in self.p.scenario.actors
            if a not in progress.decided and a not in progress.failed
        ]
        await self.p.in_order(todo, self._decide)
        if self.unanswered:
            # The turn cannot go on without these decisions, nor pretend they were made:
            # the run halts, and a resume asks again (the fold keeps no such failure).
            # Named in actor order, not answer order: the log must not depend on timing.
            silent = [a for a in todo if a in self.unanswered]
            raise Halt(
                "llm_unavailable",
                f"no model answered for {', '.join(silent)} in turn {self.turn}: "
                + self.unanswered[silent[0]],
            )
        if self.waiting:
            humans = [a for a in todo if a in self.waiting]
            raise Halt(
                "human_input",
                f"waiting for {', '.join(humans)} to decide turn {self.turn}",
                humans,
            )

    async def _decide(self, actor_id: str) -> None:
        p, turn = self.p, self.turn
        st = p.state
        actor = p.scenario.actors[actor_id]
        progress = st.turn_progress
        request_id = progress.requested.get(actor_id) or f"d{turn}-{actor_id}"
        forced = (
            st.pending_forced.get(actor_id)
            if st.fork_turn is not None and turn == st.fork_turn + 1
            else None
        )
        control = p.control(actor_id)
        if forced is not None:
            ruled = bool(p.scenario.variables)
            p.append([brains.forced(actor, turn, request_id, forced, rules=ruled)])
            return
        if control == "scripted":
            p.append([brains.scripted(actor, turn, request_id)])
            return
        if control == "rules":
            choice = rules.choose(actor, p.scenario.variables, st.seed, turn, st)
            p.append(
                [
                    brains.DecisionMade(
                        turn=turn,
                        actor=actor_id,
                        request_id=request_id,
                        long_term_goals=tuple(actor.goals or ()),
                        reasoning=choice.reasoning,
                        action=choice.action,
                        action_name=choice.action_name,
                        brain="rules",
                        parse_method="rules",
                    )
                ]
            )
            return
        ctx = decision_context(st, p.scenario, actor_id, turn)
        messages = decision_messages(p.scenario, actor, ctx)
        if control == "human":
            await self._human(actor_id, ctx, messages)
            return
        model = p.model_for(actor_id)
        action_names = [a.name for a in actor.actions] if ctx.actions else []
        request = brains.decision_request(
            model,
            messages,
            temperature=st.settings.temperature,
            seed=llm_seed(st.seed, turn, f"decision:{actor_id}"),
            json_mode=st.settings.json_mode,
            action_names=action_names,
            cache_prefix_chars=cache_prefix_chars(p.scenario, actor, model, st.settings),
        )
        if actor_id not in progress.requested:
            prompt_blob = request_blob(request)
            p.append(
                [
                    DecisionRequested(
                        turn=turn,
                        actor=actor_id,
                        request_id=request_id,
                        model=model,
                        prompt_hash=blob_hash(prompt_blob),
                        temperature=request.temperature,
                        seed=request.seed,
                        json_mode=st.settings.json_mode,
                        brain="ai",
                    )
                ],
                blobs={blob_hash(prompt_blob): prompt_blob},
            )
        try:
            outcome = await brains.ai_decision(
                p.caller(),
                request,
                actor=actor_id,
                turn=turn,
                request_id=request_id,
                action_names=action_names,
            )
        except BudgetExceeded as e:
            raise budget_halt(e) from None
        if outcome.events:
            p.append(outcome.events, outcome.blobs)
        if outcome.refused is not None:
            raise budget_halt(outcome.refused)
        for event in outcome.events:
            if isinstance(event, DecisionFailed) and event.error_kind == "llm_unavailable":
                self.unanswered[actor_id] = event.error

    async def _human(
        self, actor_id: str, ctx: DecisionContext, messages: list[dict[str, str]]
    ) -> None:
        """Ask the human: at this terminal if the caller can, else the run waits for them."""
        p, turn = self.p, self.turn
        request_id = p.state.turn_progress.human_requested.get(actor_id)
        if request_id is None:
            # the prompt as the human is shown it, for the audit trail
            blob = json.dumps({"messages": messages}, ensure_ascii=False, sort_keys=True).encode()
            request_id = f"h{turn}-{actor_id}"
            p.append(
                [
                    HumanInputRequested(
                        turn=turn,
                        actor=actor_id,
                        request_id=request_id,
                        prompt_hash=blob_hash(blob),
                    )
                ],
                blobs={blob_hash(blob): blob},
            )
        if self.human_prompt is not None:
            answer = await anyio.to_thread.run_sync(self.human_prompt, actor_id, ctx, messages)
            if answer is not None:
                p.append(
                    [
                        HumanDecisionSubmitted(
                            turn=turn,
                            actor=actor_id,
                            request_id=request_id,
                            long_term_goals=tuple(answer.get("goals", ())),
                            reasoning=answer.get("reasoning", ""),
                            action=answer["action"],
                            action_name=answer.get("action_name"),
                            submitted_by=answer.get("submitted_by", ""),
                            submitted_via="interactive",
                        )
                    ]
                )
                return
        self.waiting.append(actor_id)
