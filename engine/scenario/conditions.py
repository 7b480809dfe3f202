"""Conditions in scenario files: ``">= 7"`` against the latest metric values."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence

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
