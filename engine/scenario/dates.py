"""Simulated dates: when a turn takes place in the scenario's world.

A turn's date is where the world stands when the turn is played out: ``start_date`` is
the setup (turn 0, the initial world state) and turn N is ``start_date`` plus N times
``turn_duration``. Months and years add calendar months (31 January plus one month is
28 or 29 February); shorter units add exact durations. Without a ``start_date`` the date
is relative ("month 3", "week 6"); without a ``turn_duration`` there is none.

Recorded runs hold these strings (``TurnStarted.simulated_date``) and ``replay --check``
compares them, so the format is part of the log's contract: change it only with care.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from engine.scenario.model import DURATION, Scenario


def parse_duration(text: str) -> tuple[int, str]:
    """``"2 weeks"`` -> (2, "week"). Raises ValueError for anything else."""
    m = DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration like '2 weeks'")
    return int(m.group(1)), m.group(2).lower()


def _add_months(at: datetime, months: int) -> datetime:
    month = at.month - 1 + months
    year = at.year + month // 12
    month = month % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def simulated_date(scenario: Scenario, turn: int) -> str | None:
    """Turn ``turn``'s date: ISO date, or ISO date-time for turns shorter than a day."""
    if not scenario.turn_duration:
        return None
    n, unit = parse_duration(scenario.turn_duration)
    if scenario.start_date is None:
        return f"{unit} {n * turn}"
    start = datetime.fromisoformat(scenario.start_date)
    if unit in ("month", "year"):
        at = _add_months(start, n * turn * (12 if unit == "year" else 1))
    else:
        at = start + timedelta(**{unit + "s": n * turn})
    return at.isoformat() if unit in ("hour", "minute", "second") else at.date().isoformat()
