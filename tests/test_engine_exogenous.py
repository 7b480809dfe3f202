"""Which exogenous events fire in a turn: scheduled, random, conditional and trend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.play.exogenous import due_events
from engine.scenario.conditions import condition_holds, parse_condition


@dataclass(frozen=True)
class Ev:
    type: str
    name: str = "event"
    description: str = ""
    turn: int | None = None
    probability: float | None = None
    conditions: Mapping[str, str | float] | None = None
    frequency: int | None = None
    turn_range: tuple[int, int] | None = None
    once: bool = False
    effects: Mapping[str, float] | None = None


def fired(
    events: Sequence[Any],
    turn: int,
    *,
    seed: int = 1,
    fired_indexes: Mapping[int, int] | None = None,
    metrics: Mapping[str, Sequence[float]] | None = None,
) -> list[int]:
    return [
        i
        for i, _ev in due_events(
            events,
            turn=turn,
            seed=seed,
            fired_indexes=fired_indexes or {},
            metric_values=metrics or {},
        )
    ]


def turns_fired(event: Any, turns: range, **kw: Any) -> list[int]:
    return [t for t in turns if fired([event], t, **kw)]


def test_scheduled_fires_at_its_turn_only() -> None:
    assert turns_fired(Ev("scheduled", turn=4), range(1, 20)) == [4]
    assert turns_fired(Ev("scheduled"), range(1, 20)) == []


def test_due_events_returns_the_events_with_their_indexes() -> None:
    a, b, c = (
        Ev("scheduled", "a", turn=2),
        Ev("scheduled", "b", turn=3),
        Ev("scheduled", "c", turn=2),
    )
    due = due_events([a, b, c], turn=2, seed=0, fired_indexes={}, metric_values={})
    assert due == [(0, a), (2, c)]


def test_random_draws_are_reproducible_and_seeded() -> None:
    ev = Ev("random", probability=0.5)
    run = turns_fired(ev, range(1, 200), seed=3)
    assert run == turns_fired(ev, range(1, 200), seed=3)
    assert run != turns_fired(ev, range(1, 200), seed=4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("p", [0.05, 0.3, 0.8])
def test_random_events_fire_about_as_often_as_their_probability(seed: int, p: float) -> None:
    n = 2000
    count = len(turns_fired(Ev("random", probability=p), range(1, n + 1), seed=seed))
    sd = (n * p * (1 - p)) ** 0.5
    assert abs(count - n * p) < 4.5 * sd


def test_random_probability_zero_and_one() -> None:
    assert turns_fired(Ev("random", probability=0.0), range(1, 300)) == []
    assert turns_fired(Ev("random", probability=1.0), range(1, 300)) == list(range(1, 300))


def test_appending_an_event_does_not_change_the_draws_of_the_others() -> None:
    ev = Ev("random", probability=0.4)
    alone = [t for t in range(1, 300) if 0 in fired([ev], t)]
    with_more = [t for t in range(1, 300) if 0 in fired([ev, Ev("random", probability=0.9)], t)]
    assert with_more == alone


def test_two_random_events_draw_independently() -> None:
    evs = [Ev("random", probability=0.5), Ev("random", probability=0.5)]
    first = [t for t in range(1, 400) if 0 in fired(evs, t)]
    second = [t for t in range(1, 400) if 1 in fired(evs, t)]
    assert first != second


@pytest.mark.parametrize(
    ("condition", "holds_for", "fails_for"),
    [
        (">= 7", [7, 8.5], [6.99]),
        ("<= 3", [3, -1], [3.01]),
        ("> 7", [7.01], [7, 2]),
        ("< 0", [-0.5], [0, 1]),
        ("== 2", [2], [2.5, 1]),
        ("= 2", [2], [3]),
        ("!= 0", [1, -1], [0]),
        ("4", [4], [4.1]),
        (4, [4], [5]),
        (2.5, [2.5], [2]),
        (">=-1.5", [-1.5, 0], [-2]),
        ("  <  .5 ", [0.25], [0.5]),
    ],
)
def test_each_operator(
    condition: str | float, holds_for: list[float], fails_for: list[float]
) -> None:
    for v in holds_for:
        assert condition_holds(condition, [v]), (condition, v)
        ev = Ev("conditional", conditions={"m": condition})
        assert fired([ev], 1, metrics={"m": [v]}) == [0]
    for v in fails_for:
        assert not condition_holds(condition, [v]), (condition, v)
        ev = Ev("conditional", conditions={"m": condition})
        assert fired([ev], 1, metrics={"m": [v]}) == []


def test_a_condition_over_several_values_holds_when_any_does() -> None:
    ev = Ev("conditional", conditions={"trust": "< 3"})
    assert fired([ev], 1, metrics={"trust": [5, 6, 2]}) == [0]  # one actor's trust is low
    assert fired([ev], 1, metrics={"trust": [5, 6, 3]}) == []


def test_every_condition_must_hold() -> None:
    ev = Ev("conditional", conditions={"tension": ">= 7", "trade": "< 40"})
    assert fired([ev], 1, metrics={"tension": [8], "trade": [30]}) == [0]
    assert fired([ev], 1, metrics={"tension": [8], "trade": [50]}) == []
    assert fired([ev], 1, metrics={"tension": [6], "trade": [30]}) == []


def test_a_missing_metric_never_fires_whatever_the_operator() -> None:
    for cond in (">= 0", "<= 0", "!= 0", "== 0", "> -1e9", "< 1e9"):
        ev = Ev("conditional", conditions={"absent": cond})
        assert fired([ev], 1, metrics={"other": [1.0]}) == []
        assert fired([ev], 1, metrics={"absent": []}) == []
        assert not condition_holds(cond, [])


def test_trend_fires_every_frequency_turns_inside_its_range() -> None:
    ev = Ev("trend", frequency=3, turn_range=(4, 15))
    assert turns_fired(ev, range(1, 30)) == [4, 7, 10, 13]


def test_trend_without_range_counts_from_turn_one() -> None:
    assert turns_fired(Ev("trend", frequency=2), range(1, 10)) == [1, 3, 5, 7, 9]
    assert turns_fired(Ev("trend"), range(1, 5)) == [1, 2, 3, 4]  # frequency 1 by default


@pytest.mark.parametrize("kind", ["scheduled", "random", "conditional", "trend"])
def test_turn_range_is_inclusive_and_limits_every_type(kind: str) -> None:
    ev = Ev(
        kind,
        turn=None if kind != "scheduled" else 5,
        probability=1.0,
        conditions={"m": ">= 0"},
        frequency=1,
        turn_range=(3, 6),
    )
    got = turns_fired(ev, range(1, 12), metrics={"m": [1]})
    assert got == ([5] if kind == "scheduled" else [3, 4, 5, 6])
    outside = Ev("scheduled", turn=8, turn_range=(3, 6))
    assert turns_fired(outside, range(1, 12)) == []


def test_once_is_respected_through_fired_indexes() -> None:
    always = Ev("random", probability=1.0, once=True)
    other = Ev("random", probability=1.0, once=True)
    assert fired([always, other], 5, fired_indexes={}) == [0, 1]
    assert fired([always, other], 5, fired_indexes={0: 1}) == [1]
    assert fired([always, other], 5, fired_indexes={0: 0}) == [0, 1]
    repeat = Ev("random", probability=1.0, once=False)
    assert fired([repeat], 5, fired_indexes={0: 4}) == [0]


def test_an_unknown_type_never_fires() -> None:
    assert turns_fired(Ev("meteor", turn=1, probability=1.0), range(1, 5)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (">= 7", (">=", 7.0)),
        ("<=3", ("<=", 3.0)),
        ("!= 0", ("!=", 0.0)),
        ("  > -2.5  ", (">", -2.5)),
        ("12", ("==", 12.0)),
        ("= 1", ("=", 1.0)),
        ("< .5", ("<", 0.5)),
        ("> +3", (">", 3.0)),
        # the scenario loader writes thresholds with :g, which switches to exponents
        (">= 1.23457e+06", (">=", 1234570.0)),
        ("== 1e-05", ("==", 1e-05)),
        (7, ("==", 7.0)),
        (0.25, ("==", 0.25)),
    ],
)
def test_parse_condition(text: str | float, expected: tuple[str, float]) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", ">=", "high", ">> 3", "=> 3", ">= 7 and < 9", "7 >=", "1e", ".", "nan", "inf"],
)
def test_parse_condition_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not like"):
        parse_condition(text)
    with pytest.raises(ValueError):
        due_events(
            [Ev("conditional", conditions={"m": text})],
            turn=1,
            seed=1,
            fired_indexes={},
            metric_values={"m": [1.0]},
        )


@given(st.sampled_from([">=", "<=", ">", "<", "==", "!="]), st.floats(-1e12, 1e12))
def test_normalised_conditions_parse_back(op: str, threshold: float) -> None:
    # the shape the scenario model stores: f"{op} {threshold:g}"
    text = f"{op} {threshold:g}"
    assert parse_condition(text) == (op, float(f"{threshold:g}"))
