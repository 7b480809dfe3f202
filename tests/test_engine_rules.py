"""The rule brain (seeded softmax over declared actions) and the rule adjudicator."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.play import rules
from engine.play.rules import adjudicate, choose, render, utilities
from engine.rng import derive_rng, derive_seed, llm_seed

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Var:
    initial: float
    min: float
    max: float
    drift: float = 0.0
    noise: float = 0.0


@dataclass(frozen=True)
class Action:
    name: str
    effects: Mapping[str, float]
    description: str = ""
    narrative: str = ""


@dataclass(frozen=True)
class Actor:
    name: str
    short_name: str
    actions: tuple[Action, ...]
    preferences: Mapping[str, float] = field(default_factory=dict)
    rule_temperature: float = 1.0


VARIABLES = {"tension": Var(5, 0, 10), "trade": Var(50, 0, 100)}
CALM = Action("calm", {"tension": -2}, narrative="{actor} calls for calm.")
ESCALATE = Action("escalate", {"tension": +2}, narrative="{actor_name} escalates.")


def dove(short_name: str = "dove", temperature: float = 1.0) -> Actor:
    return Actor(
        name=f"The {short_name.title()}",
        short_name=short_name,
        actions=(ESCALATE, CALM),
        preferences={"tension": -1.0},
        rule_temperature=temperature,
    )


# -- rng -------------------------------------------------------------------------------


def test_derived_seeds_are_stable_and_separate_purposes() -> None:
    assert derive_seed(7, 3, "noise") == derive_seed(7, 3, "noise")
    seeds = {derive_seed(7, t, p) for t in range(1, 20) for p in ("noise", "rules:a", "rules:b")}
    assert len(seeds) == 57
    assert all(0 <= s < 2**63 for s in seeds)
    assert derive_rng(7, 3, "x").random() == derive_rng(7, 3, "x").random()
    assert derive_rng(7, 3, "x").random() != derive_rng(8, 3, "x").random()


@given(st.integers(0, 2**64), st.integers(0, 10_000), st.text(max_size=20))
def test_llm_seed_fits_31_bits(seed: int, turn: int, purpose: str) -> None:
    s = llm_seed(seed, turn, purpose)
    assert 0 <= s < 2**31
    assert s == derive_seed(seed, turn, purpose) % 2**31


def test_derived_rng_does_not_touch_the_global_rng() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    choose(dove(), VARIABLES, seed=1, turn=1)
    adjudicate({"t": Var(5, 0, 10, noise=1.0)}, {}, [], [], seed=1, turn=1)
    assert random.random() == expected


# -- utilities and choice --------------------------------------------------------------


def test_utilities_weight_effects_by_preference_per_tenth_of_range() -> None:
    actor = Actor(
        "A",
        "a",
        actions=(
            Action("calm", {"tension": -2}),
            Action("trade", {"trade": 10, "tension": 1}),
            Action("noop", {"unknown": 4}),
        ),
        preferences={"tension": -1.0, "trade": 0.5, "unknown": 2.0},
    )
    u = utilities(actor, VARIABLES)
    assert u["calm"] == pytest.approx(2.0)  # -1 * -2 / (10 / 10)
    assert u["trade"] == pytest.approx(0.5 * 10 / 10 - 1.0)  # trade spans 100
    assert u["noop"] == pytest.approx(8.0)  # undeclared variable: span 10 assumed


def test_a_strongly_preferred_action_is_chosen_most_of_the_time() -> None:
    counts = Counter(choose(dove(), VARIABLES, seed=s, turn=1).action_name for s in range(600))
    # utilities +2 / -2 at temperature 1: calm has probability e^2 / (e^2 + e^-2) ~ 0.98
    assert counts["calm"] >= 0.93 * 600
    assert counts["escalate"] > 0  # the softmax leaves the other action possible


def test_a_tiny_temperature_always_picks_the_best_action() -> None:
    actor = dove(temperature=1e-4)
    assert {
        choose(actor, VARIABLES, seed=s, turn=t).action_name for s in range(200) for t in (1, 2)
    } == {"calm"}


def test_a_high_temperature_makes_choices_near_uniform() -> None:
    counts = Counter(
        choose(dove(temperature=1000), VARIABLES, seed=s, turn=1).action_name for s in range(1000)
    )
    assert 400 <= counts["calm"] <= 600


def test_choice_is_deterministic_per_seed_turn_and_actor() -> None:
    first = [choose(dove(temperature=3), VARIABLES, seed=s, turn=4) for s in range(50)]
    again = [choose(dove(temperature=3), VARIABLES, seed=s, turn=4) for s in range(50)]
    assert first == again
    by_turn = [
        choose(dove(temperature=3), VARIABLES, seed=5, turn=t).action_name for t in range(60)
    ]
    assert len(set(by_turn)) == 2  # the turn enters the draw


def test_an_actors_choice_does_not_depend_on_other_actors() -> None:
    a, b = dove("alpha", temperature=3), dove("beta", temperature=3)
    alone = [choose(a, VARIABLES, seed=s, turn=2).action_name for s in range(80)]
    interleaved = []
    for s in range(80):
        choose(b, VARIABLES, seed=s, turn=2)
        interleaved.append(choose(a, VARIABLES, seed=s, turn=2).action_name)
        choose(b, VARIABLES, seed=s, turn=2)
    assert interleaved == alone
    # each actor draws from its own stream: same actions, different short names, other picks
    other = [choose(b, VARIABLES, seed=s, turn=2).action_name for s in range(80)]
    assert other != alone


class _FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999999])
def test_an_action_with_zero_weight_is_never_drawn(
    monkeypatch: pytest.MonkeyPatch, draw: float
) -> None:
    # utility -1000 at temperature 1: exp(-1000) underflows to exactly 0
    hopeless = Action("hopeless", {"tension": 1000})
    actor = Actor("A", "a", actions=(hopeless, CALM), preferences={"tension": -1.0})
    monkeypatch.setattr(rules, "derive_rng", lambda *_: _FixedRandom(draw))
    assert choose(actor, VARIABLES, seed=1, turn=1).action_name == "calm"


def test_rounding_past_the_last_interval_falls_back_to_a_drawable_action(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hopeless = Action("hopeless", {"tension": 1000})
    actor = Actor("A", "a", actions=(CALM, hopeless), preferences={"tension": -1.0})
    monkeypatch.setattr(rules, "derive_rng", lambda *_: _FixedRandom(1.0))
    assert choose(actor, VARIABLES, seed=1, turn=1).action_name == "calm"


def test_choice_narrates_with_the_actor_name_and_explains_utilities() -> None:
    actor = dove(temperature=1e-4)
    c = choose(actor, VARIABLES, seed=1, turn=1)
    assert c.action == "The Dove calls for calm."
    assert "calm +2.00" in c.reasoning and "escalate -2.00" in c.reasoning
    assert c.reasoning.index("calm") < c.reasoning.index("escalate")  # ranked best first
    bare = Actor("B", "b", actions=(Action("wait", {}, description="B waits."),))
    assert choose(bare, VARIABLES, seed=1, turn=1).action == "B waits."
    nameless = Actor("B", "b", actions=(Action("wait", {}),))
    assert choose(nameless, VARIABLES, seed=1, turn=1).action == "wait"
    assert render("{actor} and {actor_name}", actor) == "The Dove and The Dove"


# -- adjudication ----------------------------------------------------------------------


def test_adjudicate_applies_actions_exogenous_effects_and_drift() -> None:
    defs = {"tension": Var(5, 0, 10, drift=0.5), "trade": Var(50, 0, 100)}
    result = adjudicate(
        defs,
        {"tension": 4.0},
        [
            ("A", {"tension": 2, "ghost": 9}, "A pushes."),
            ("B", {"trade": -10}, "B blocks trade."),
        ],
        [("Storm", {"tension": 1, "trade": -5})],
        seed=1,
        turn=1,
    )
    assert result.variables == {"tension": 7.5, "trade": 35.0}  # trade starts at initial
    assert result.key_changes == ("tension: 4 -> 7.5", "trade: 50 -> 35")
    assert result.narrative == "A pushes. B blocks trade. Storm shook the situation."
    assert result.consequences == ()


def test_adjudicate_reports_unchanged_variables_nowhere_and_quiet_turns() -> None:
    defs = {"tension": Var(5, 0, 10), "trade": Var(50, 0, 100)}
    result = adjudicate(defs, {}, [("A", {"trade": 1}, "")], [], seed=1, turn=1)
    assert result.key_changes == ("trade: 50 -> 51",)
    assert result.narrative == "No actor moved; the situation drifted."


def test_adjudicate_names_variables_at_their_bounds() -> None:
    defs = {"tension": Var(5, 0, 10), "trade": Var(50, 0, 100)}
    result = adjudicate(
        defs, {}, [("A", {"tension": 50, "trade": -500}, "A goes all in.")], [], seed=1, turn=1
    )
    assert result.variables == {"tension": 10.0, "trade": 0.0}
    assert result.consequences == ("tension is at its upper bound", "trade is at its lower bound")


def test_noise_is_seeded_and_reproducible() -> None:
    defs = {"tension": Var(50, 0, 100, noise=2.0), "trade": Var(50, 0, 100, noise=2.0)}
    one = adjudicate(defs, {}, [], [], seed=9, turn=3).variables
    assert one == adjudicate(defs, {}, [], [], seed=9, turn=3).variables
    assert one != adjudicate(defs, {}, [], [], seed=9, turn=4).variables
    assert one != adjudicate(defs, {}, [], [], seed=10, turn=3).variables
    assert one["tension"] != one["trade"]  # each variable gets its own draw
    rng = derive_rng(9, 3, "noise")
    assert one["tension"] == pytest.approx(50 + rng.gauss(0, 2.0), abs=1e-6)
    assert one["trade"] == pytest.approx(50 + rng.gauss(0, 2.0), abs=1e-6)


def test_noise_spread_matches_the_declared_deviation() -> None:
    defs = {"x": Var(0, -1000, 1000, noise=3.0)}
    draws = [adjudicate(defs, {}, [], [], seed=s, turn=1).variables["x"] for s in range(2000)]
    mean = sum(draws) / len(draws)
    sd = (sum((d - mean) ** 2 for d in draws) / len(draws)) ** 0.5
    assert abs(mean) < 0.3
    assert 2.7 < sd < 3.3


def test_values_at_a_bound_stay_inside_when_the_bound_has_many_decimals() -> None:
    # rounding to 6 places after clamping used to give 0.666667 > 2/3
    top = 2 / 3
    result = adjudicate({"x": Var(0.5, 0, top)}, {}, [("A", {"x": 5}, "")], [], seed=1, turn=1)
    assert result.variables["x"] <= top
    assert result.consequences == ("x is at its upper bound",)


bounds = st.floats(-1e6, 1e6, allow_nan=False)
deltas = st.floats(-1e7, 1e7, allow_nan=False)


@FAST
@given(
    lo=bounds,
    width=st.floats(1e-6, 1e6),
    start=st.floats(0, 1),
    effects=st.lists(deltas, max_size=4),
    exo=st.lists(deltas, max_size=2),
    drift=st.floats(-100, 100),
    noise=st.floats(0, 1e4),
    seed=st.integers(0, 2**32),
    turn=st.integers(1, 100),
)
def test_adjudicated_values_stay_in_range(
    lo: float,
    width: float,
    start: float,
    effects: list[float],
    exo: list[float],
    drift: float,
    noise: float,
    seed: int,
    turn: int,
) -> None:
    hi = lo + width
    assume(hi > lo)
    var = Var(lo + start * (hi - lo), lo, hi, drift=drift, noise=noise)
    actions: list[tuple[str, Mapping[str, float], str]] = [
        (f"a{i}", {"x": d}, "") for i, d in enumerate(effects)
    ]
    exogenous: list[tuple[str, Mapping[str, float]]] = [
        (f"e{i}", {"x": d}) for i, d in enumerate(exo)
    ]
    result = adjudicate({"x": var}, {}, actions, exogenous, seed=seed, turn=turn)
    assert lo <= result.variables["x"] <= hi
    again = adjudicate({"x": var}, {}, actions, exogenous, seed=seed, turn=turn)
    assert again == result


@FAST
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "z"]), st.integers(-5, 5)))
def test_key_changes_name_exactly_the_changed_variables(effects: dict[str, int]) -> None:
    defs: dict[str, Any] = {n: Var(0, -100, 100) for n in ("a", "b", "c")}
    result = adjudicate(defs, {}, [("A", effects, "A acts.")], [], seed=1, turn=1)
    changed = {n for n, d in effects.items() if d and n in defs}
    assert {c.split(":")[0] for c in result.key_changes} == changed
    assert "A acts." in result.narrative
