"""Which exogenous events fire in a turn.

Deterministic from the scenario, the run's seed, the turn and the folded state, so a
resume or a replay that recomputes the list gets the same one. Random events draw
from ``derive_rng(seed, turn, "exogenous:<index>")``: adding an event to the file does
not change the draws of the others.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .rng import derive_rng

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}
# Numbers as Python writes them too (".5", "1e+06"): the scenario loader normalises
# conditions with ``:g``, which uses exponent notation from a million up.
_COND = re.compile(
    r"^\s*(>=|<=|==|!=|>|<|=)?\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


def parse_condition(text: str | float | int) -> tuple[str, float]:
    """``">= 7"`` -> (">=", 7.0); a bare number means equality."""
    if isinstance(text, int | float):
        return "==", float(text)
    m = _COND.match(str(text))
    if not m:
        raise ValueError(f"condition {text!r} is not like '>= 7'")
    return m.group(1) or "==", float(m.group(2))


def condition_holds(text: str | float | int, values: Sequence[float]) -> bool:
    """True when any of the metric's current values (world or per actor) satisfies it."""
    op, threshold = parse_condition(text)
    return any(_OPS[op](v, threshold) for v in values)


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
