"""The world update of a turn: the new state of the world after every decision.

With rule variables, the rules adjudicate (each declared action's effects, the
exogenous events, drift and seeded noise) and a world model, if the scenario has one,
writes the narrative around the numbers. Without them, the world model writes the whole
update. One ``WorldUpdated`` either way, appended with the calls' costs and the rule
variables' new values, so the update is recorded whole or not at all.

An answer that cannot be used (no model answered, or it stayed unreadable or cut off
after a re-ask) is never taken as the narrative: it is a ``CallFailed``; the rules'
own narrative stands in a rule-driven world, and otherwise the run halts
(``llm_unavailable``) and a resume asks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.errors import LLMUnavailable
from engine.play import rules
from engine.play.answers import with_method
from engine.play.outputs import WorldOut
from engine.play.phase import Answer, Halt, Play, ask_structured, turn_decisions
from engine.play.prompts import world_update_messages
from engine.scenario.load import simulated_date
from eventstore import (
    Event,
    MetricRecorded,
    ModelCall,
    WorldUpdated,
    WorldUpdateProposed,
)


async def update_world(p: Play, turn: int) -> None:
    """Record the turn's world update, unless it is recorded already. In white-cell mode
    the update is recorded as proposed and the run halts until a facilitator reviewed
    it; the reviewed version then applies (see ``review``)."""
    if p.state.turn_progress.world_updated:
        return
    if p.state.settings.white_cell:
        await _white_cell(p, turn)
        return
    await _adjudicate(p, turn)


async def _white_cell(p: Play, turn: int) -> None:
    st = p.state
    proposal = st.world_proposal if st.world_proposal and st.world_proposal.turn == turn else None
    if proposal is None:
        await _adjudicate(_Proposing(p), turn)
        raise Halt("white_cell", f"the world update of turn {turn} waits for a facilitator")
    review = st.world_review if st.world_review and st.world_review.turn == turn else None
    if review is None:
        raise Halt("white_cell", f"the world update of turn {turn} waits for a facilitator")
    update = WorldUpdated(
        turn=turn,
        narrative=review.narrative,
        key_changes=review.key_changes,
        consequences=review.consequences,
        variables=review.variables,
        source=proposal.source if not review.edited else "white_cell",
    )
    values = [
        MetricRecorded(turn=turn, name=name, value=value, method="rules")
        for name, value in review.variables.items()
    ]
    p.append([update, *values])


class _Proposing:
    """The phase's ``Play`` with its world update recorded as a proposal: the update
    becomes ``WorldUpdateProposed``, and the rule variables' metrics wait for the
    reviewed version."""

    def __init__(self, p: Play):
        self._p = p

    def __getattr__(self, name: str) -> Any:
        return getattr(self._p, name)

    def append(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        out: list[Event] = []
        for e in events:
            if isinstance(e, WorldUpdated):
                out.append(
                    WorldUpdateProposed(
                        turn=e.turn,
                        narrative=e.narrative,
                        key_changes=e.key_changes,
                        consequences=e.consequences,
                        variables=e.variables,
                        source=e.source,
                        call=e.call,
                    )
                )
            elif not (isinstance(e, MetricRecorded) and e.method == "rules"):
                out.append(e)
        self._p.append(out, blobs)


async def _adjudicate(p: Play, turn: int) -> None:
    if p.scenario.variables:
        await _by_rules(p, turn)
        return
    model = p.world_model()
    if model is None:
        raise LLMUnavailable(
            f"scenario {p.scenario.name} has no world_state_model and no rule variables",
            hint="set world_state_model in scenario.yaml or pass --world-model",
        )
    answer = await _by_model(p, turn, model, narrative_hint=None)
    if answer.parsed is None:
        # Without an update the turn cannot go on, and an unreadable or cut-off answer
        # is no narrative: the run halts, and a resume asks again.
        assert answer.failure is not None
        answer.record_failure(p)
        raise Halt(
            "llm_unavailable",
            f"the world model gave no usable answer in turn {turn}: {answer.failure.error}",
        )
    parsed = answer.parsed
    answer.record(
        p,
        [
            WorldUpdated(
                turn=turn,
                narrative=parsed.narrative,
                key_changes=tuple(parsed.key_changes),
                consequences=tuple(parsed.consequences),
                source="llm",
                call=_read_as(answer),
            )
        ],
    )


async def _by_rules(p: Play, turn: int) -> None:
    st, scenario = p.state, p.scenario
    acts = []
    for actor_id, actor in scenario.actors.items():
        d = st.turn_progress.decisions.get(actor_id)
        if d is None:
            continue
        effects: dict[str, float] = {}
        if d.action_name:
            for a in actor.actions:
                if a.name == d.action_name:
                    effects = dict(a.effects)
        acts.append((actor.name, effects, d.action))
    exo = [e for e in st.exogenous.this_turn if e.turn == turn]
    result = rules.adjudicate(
        scenario.variables,
        st.world.variables,
        acts,
        [(e.name, e.effects) for e in exo],
        st.seed,
        turn,
    )
    narrative = result.narrative
    model = p.world_model()
    answer: Answer[WorldOut] = Answer()
    failure: list[Event] = []
    if model is not None:  # the model tells the story of the numbers
        answer = await _by_model(p, turn, model, narrative_hint=narrative)
        if answer.parsed is not None:
            narrative = answer.parsed.narrative
        elif answer.failure is not None:
            failure.append(answer.failure)  # the rules' own narrative stands, and it shows
    update = WorldUpdated(
        turn=turn,
        narrative=narrative,
        key_changes=result.key_changes,
        consequences=result.consequences,
        variables=result.variables,
        source="rules",
        call=_read_as(answer) if answer.parsed is not None else None,
    )
    values = [
        MetricRecorded(turn=turn, name=name, value=value, method="rules")
        for name, value in result.variables.items()
    ]
    answer.record(p, [*failure, update, *values])


def _read_as(answer: Answer[WorldOut]) -> ModelCall | None:
    """The update's call, saying how its answer was read."""
    return with_method(answer.call, answer.method) if answer.call is not None else None


async def _by_model(p: Play, turn: int, model: str, narrative_hint: str | None) -> Answer[WorldOut]:
    """The world model's update, or the failure to record in its place."""
    st, scenario = p.state, p.scenario
    exo = [(e.name, e.description) for e in st.exogenous.this_turn if e.turn == turn]
    if narrative_hint:
        exo = [*exo, ("Quantified outcome", narrative_hint)]
    messages = world_update_messages(
        scenario,
        turn=turn,
        total_turns=st.settings.turns,
        simulated_date=simulated_date(scenario, turn),
        previous=st.world.narrative,
        decisions=turn_decisions(st, scenario),
        exogenous=exo,
        public_messages=[
            m.content for m in st.messages.recent if m.turn == turn and m.channel == "public"
        ],
    )
    return await ask_structured(
        p,
        WorldOut,
        model,
        messages,
        purpose="world_update",
        turn=turn,
        actor=None,
        request_id=f"w{turn}",
        seed_key="world",
        max_tokens=1500,
    )
