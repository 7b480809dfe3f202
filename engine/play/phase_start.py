"""The start of a turn: ``TurnStarted`` and the exogenous events due in it.

Both are appended together, so a turn that started has its events: every later phase
of the turn sees the same ones, after a resume too.
"""

from __future__ import annotations

from engine.play.exogenous import due_events
from engine.play.phase import Play
from engine.scenario.load import simulated_date
from eventstore import Event, ExogenousEventTriggered, TurnStarted


def start_turn(p: Play, turn: int) -> None:
    """Record the start of ``turn``: scheduled, random, conditional and trend events, and
    on a fork's first turn the events the fork injected."""
    st = p.state
    scenario = p.scenario
    events: list[Event] = [TurnStarted(turn=turn, simulated_date=simulated_date(scenario, turn))]
    # conditional events test the latest value of each metric and rule variable
    metric_values: dict[str, list[float]] = {}
    for (name, _actor), value in st.metrics.latest.items():
        if value is not None:
            metric_values.setdefault(name, []).append(value)
    for name, value in st.world.variables.items():
        metric_values.setdefault(name, []).append(value)
    for index, ev in due_events(
        scenario.exogenous_events,
        turn=turn,
        seed=st.seed,
        fired_indexes=dict(st.exogenous.fired_counts),
        metric_values=metric_values,
    ):
        events.append(
            ExogenousEventTriggered(
                turn=turn,
                name=ev.name,
                description=ev.description or ev.name,
                kind=ev.type,
                source_index=index,
                effects=dict(ev.effects or {}),
            )
        )
    if st.fork_turn is not None and turn == st.fork_turn + 1:
        for text in st.pending_injections:
            events.append(
                ExogenousEventTriggered(
                    turn=turn, name="Injected event", description=text, kind="injected"
                )
            )
    p.append(events)
