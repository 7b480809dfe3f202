"""Simulated dates: start_date plus turn × turn_duration, calendar-aware for months."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.scenario.dates import parse_duration, simulated_date
from engine.scenario.model import Scenario


def _scenario(**fields: Any) -> Scenario:
    base: dict[str, Any] = {
        "name": "Dates",
        "turns": 3,
        "variables": {"x": {"initial": 0, "min": 0, "max": 1}},
        "actors": {"a": {"name": "A", "short_name": "a", "control": "human"}},
    }
    return Scenario.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("duration", "start", "turn", "expected"),
    [
        ("1 month", "2030-01-31", 1, "2030-02-28"),  # clamped to the month's last day
        ("1 month", "2030-01-31", 2, "2030-03-31"),
        ("1 month", "2031-12-31", 2, "2032-02-29"),  # a leap year
        ("3 months", "2030-11-15", 1, "2031-02-15"),
        ("1 year", "2028-02-29", 1, "2029-02-28"),
        ("2 years", "2030-06-01", 3, "2036-06-01"),
        ("2 weeks", "2031-09-01", 2, "2031-09-29"),
        ("1 day", "2031-12-31", 1, "2032-01-01"),
        ("6 hours", "2031-01-14", 5, "2031-01-15T06:00:00"),
        ("30 minutes", "2031-01-14T09:00", 3, "2031-01-14T10:30:00"),
        ("1 second", "2031-01-14", 90, "2031-01-14T00:01:30"),
    ],
)
def test_dates_from_start_date(duration: str, start: str, turn: int, expected: str) -> None:
    assert simulated_date(_scenario(turn_duration=duration, start_date=start), turn) == expected


def test_turn_zero_is_the_start_date() -> None:
    scenario = _scenario(turn_duration="1 month", start_date="2031-03-01")
    assert simulated_date(scenario, 0) == "2031-03-01"


def test_relative_dates_without_start_date() -> None:
    assert simulated_date(_scenario(turn_duration="1 month"), 3) == "month 3"
    assert simulated_date(_scenario(turn_duration="2 weeks"), 3) == "week 6"


def test_no_date_without_turn_duration() -> None:
    assert simulated_date(_scenario(), 2) is None
    assert simulated_date(_scenario(start_date="2031-03-01"), 2) is None


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1 month", "1 month"),
        ("1 months", "1 month"),
        ("2 Weeks", "2 weeks"),
        (" 3 day ", "3 days"),
    ],
)
def test_turn_duration_singular_or_plural(text: str, canonical: str) -> None:
    assert _scenario(turn_duration=text).turn_duration == canonical


def test_parse_duration() -> None:
    assert parse_duration("2 weeks") == (2, "week")
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration("fortnightly")


def test_yaml_dates_become_iso_text() -> None:
    assert _scenario(start_date=date(2031, 3, 1)).start_date == "2031-03-01"


@given(
    start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    n=st.integers(min_value=1, max_value=30),
    unit=st.sampled_from(["day", "week"]),
    turn=st.integers(min_value=0, max_value=200),
)
def test_days_and_weeks_add_exact_durations(start: date, n: int, unit: str, turn: int) -> None:
    scenario = _scenario(turn_duration=f"{n} {unit}", start_date=start.isoformat())
    days = n * turn * (7 if unit == "week" else 1)
    assert simulated_date(scenario, turn) == (start + timedelta(days=days)).isoformat()


@given(
    start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    months=st.integers(min_value=1, max_value=24),
    turn=st.integers(min_value=0, max_value=60),
)
def test_months_land_on_the_right_calendar_month(start: date, months: int, turn: int) -> None:
    scenario = _scenario(turn_duration=f"{months} months", start_date=start.isoformat())
    at = date.fromisoformat(simulated_date(scenario, turn) or "")
    assert (at.year * 12 + at.month) - (start.year * 12 + start.month) == months * turn
    assert at.day == start.day or (at.day < start.day and (at + timedelta(days=1)).day == 1)
