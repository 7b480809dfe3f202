"""Which exogenous events fire in a turn.

Deterministic from the scenario, the run's seed, the turn and the folded state, so a
resume or a replay that recomputes the list gets the same one. Random events draw
from ``derive_rng(seed, turn, "exogenous:<index>")``: adding an event to the file does
not change the draws of the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.rng import derive_rng
from engine.scenario.conditions import condition_holds


def due_events(
    events: Sequence[Any],
    *,
    turn: int,
    seed: int,
    fired_indexes: Mapping[int, int],
    metric_values: Mapping[str, Sequence[float]],
) -> list[tuple[int, Any]]:
    """(index, event) for each event that fires in ``turn``.

    ``fired_indexes`` maps an event's index to how often it fired before; ``metric_values``
    maps a metric (or rule variable) name to its latest values.
    """
    due: list[tuple[int, Any]] = []
    for index, ev in enumerate(events):
        if ev.turn_range is not None:
            start, end = ev.turn_range
            if turn < start or turn > end:
                continue
        if ev.once and fired_indexes.get(index, 0) > 0:
            continue
        kind = ev.type
        if kind == "scheduled":
            fires = ev.turn == turn
        elif kind == "random":
            fires = derive_rng(seed, turn, f"exogenous:{index}").random() < float(ev.probability)
        elif kind == "conditional":
            fires = all(
                condition_holds(cond, metric_values.get(name, ()))
                for name, cond in (ev.conditions or {}).items()
            )
        elif kind == "trend":
            start = ev.turn_range[0] if ev.turn_range is not None else 1
            fires = (turn - start) % max(1, int(ev.frequency or 1)) == 0
        else:
            fires = False
        if fires:
            due.append((index, ev))
    return due
