"""The world update of a turn: the new state of the world after every decision.

With rule variables, the rules adjudicate (each declared action's effects, the
exogenous events, drift and seeded noise) and a world model, if the scenario has one,
writes the narrative around the numbers. Without them, the world model writes the whole
update. One ``WorldUpdated`` either way, appended with the call's cost and the rule
variables' new values, so the update is recorded whole or not at all.
"""

from __future__ import annotations

import msgspec

from engine.errors import LLMUnavailable
from engine.play import rules
from engine.play.calls import CallResult
from engine.play.outputs import WorldOut
from engine.play.phase import Halt, Play, ask_structured, turn_decisions
from engine.play.prompts import world_update_messages
from engine.scenario.load import simulated_date
from eventstore import Event, MetricRecorded, WorldUpdated


async def update_world(p: Play, turn: int) -> None:
    """Record the turn's world update, unless it is recorded already."""
    if p.state.turn_progress.world_updated:
        return
    if p.scenario.variables:
        await _by_rules(p, turn)
        return
    model = p.world_model()
    if model is None:
        raise LLMUnavailable(
            f"scenario {p.scenario.name} has no world_state_model and no rule variables",
            hint="set world_state_model in scenario.yaml or pass --world-model",
        )
    parsed, result = await _by_model(p, turn, model, narrative_hint=None)
    p.append(
        [
            WorldUpdated(
                turn=turn,
                narrative=parsed.narrative,
                key_changes=tuple(parsed.key_changes),
                consequences=tuple(parsed.consequences),
                source="llm",
                call=result.call,
            ),
            result.cost,
        ],
        result.blobs,
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
    cost: list[Event] = []
    blobs: dict[str, bytes] = {}
    call = None
    if model is not None:  # the model tells the story of the numbers
        parsed, call_result = await _by_model(p, turn, model, narrative_hint=narrative)
        narrative = parsed.narrative
        cost.append(call_result.cost)
        blobs.update(call_result.blobs)
        call = call_result.call
    update = WorldUpdated(
        turn=turn,
        narrative=narrative,
        key_changes=result.key_changes,
        consequences=result.consequences,
        variables=result.variables,
        source="rules",
        call=call,
    )
    values = [
        MetricRecorded(turn=turn, name=name, value=value, method="rules")
        for name, value in result.variables.items()
    ]
    p.append([update, *cost, *values], blobs)


async def _by_model(
    p: Play, turn: int, model: str, narrative_hint: str | None
) -> tuple[WorldOut, CallResult]:
    """The world model's update; the run halts if no model answers (a resume asks again)."""
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
    try:
        answer = await ask_structured(
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
    except LLMUnavailable as e:
        raise Halt("llm_unavailable", e.one_line()) from None
    parsed, method, result = answer.parsed, answer.method, answer.result
    if parsed is None:
        # an unstructured answer is still a narrative: keep it whole rather than lose it
        parsed = WorldOut(narrative=result.response.text.strip(), key_changes=[], consequences=[])
        method = "text"
    result.call = msgspec.structs.replace(result.call, parse_method=method)
    return parsed, result
