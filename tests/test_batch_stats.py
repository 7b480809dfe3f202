"""The statistics behind batch reports: Student's t, Welch's test, Holm, summaries.

Checked against printed t tables and against the t density integrated numerically, an
independent route to the same numbers."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.batch.sample_stats import (
    Summary,
    betainc,
    describe,
    holm,
    t_quantile,
    t_two_sided_p,
    welch,
)

# two-sided 95% critical values of Student's t (any printed table)
T_975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 9: 2.2622, 10: 2.2281,
         20: 2.0860, 30: 2.0423, 120: 1.9799}  # fmt: skip


def _t_pdf(x: float, df: float) -> float:
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    return c * (1 + x * x / df) ** (-(df + 1) / 2)


def _p_by_simpson(t: float, df: float, steps: int = 20_000) -> float:
    """P(|T| >= |t|) = 1 - 2 * integral of the density from 0 to |t|."""
    t = abs(t)
    h = t / steps
    area = _t_pdf(0, df) + _t_pdf(t, df)
    area += sum((4 if i % 2 else 2) * _t_pdf(i * h, df) for i in range(1, steps))
    return 1 - 2 * area * h / 3


@pytest.mark.parametrize(("df", "expected"), sorted(T_975.items()))
def test_t_quantile_matches_the_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-5)


def test_t_quantile_tends_to_the_normal() -> None:
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.5, 4) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        t_quantile(0.2, 3)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 8.0), st.floats(1.0, 60.0))
def test_two_sided_p_matches_the_integrated_density(t: float, df: float) -> None:
    assert t_two_sided_p(t, df) == pytest.approx(_p_by_simpson(t, df), abs=1e-7)


def test_incomplete_beta_edges_and_symmetry() -> None:
    assert betainc(2, 3, 0) == 0 and betainc(2, 3, 1) == 1
    assert betainc(2.5, 2.5, 0.5) == pytest.approx(0.5)
    assert betainc(2, 3, 0.3) == pytest.approx(1 - betainc(3, 2, 0.7))
    assert betainc(1, 1, 0.37) == pytest.approx(0.37)  # uniform


def test_welch_by_hand() -> None:
    a, b = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0], [28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3, 20.4, 23.9, 13.3]  # fmt: skip
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    t = (statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    result = welch(a, b)
    assert result is not None
    assert result.t == pytest.approx(t) and result.df == pytest.approx(df)
    assert result.p == pytest.approx(_p_by_simpson(t, df), abs=1e-7)


def test_welch_matches_r_on_the_sleep_data() -> None:
    # R: t.test(extra ~ group, data = sleep) -> t = -1.8608, df = 17.776, p-value = 0.07939
    one = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    two = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    result = welch(one, two)
    assert result is not None
    assert (round(result.t, 4), round(result.df, 3), round(result.p, 5)) == (
        -1.8608,
        17.776,
        0.07939,
    )


def test_welch_degenerate_samples() -> None:
    assert welch([1.0], [2.0, 3.0]) is None
    same = welch([2.0, 2.0], [2.0, 2.0])
    assert same is not None and same.p == 1.0
    apart = welch([1.0, 1.0], [3.0, 3.0])
    assert apart is not None and apart.p == 0.0


def test_describe() -> None:
    values = [2.0, 4.0, 4.0, 5.0, 10.0]
    d = describe(values)
    sd = statistics.stdev(values)
    half = T_975[4] * sd / math.sqrt(5)
    assert d.n == 5 and d.mean == 5.0 and d.median == 4.0
    assert d.min == 2.0 and d.max == 10.0 and d.stddev == pytest.approx(sd)
    assert d.ci95 == pytest.approx((5.0 - half, 5.0 + half), abs=1e-3)
    one = describe([3.0])
    assert one == Summary(n=1, mean=3.0, stddev=None, ci95=None, min=3.0, median=3.0, max=3.0)
    assert describe([]) == Summary(
        n=0, mean=None, stddev=None, ci95=None, min=None, median=None, max=None
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9), min_size=0, max_size=30), st.randoms())
def test_describe_does_not_depend_on_the_order_of_the_values(
    values: list[float], rnd: random.Random
) -> None:
    # the analytics table and the report gather a variation's values in different
    # orders; the same set must give the very same numbers
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert describe(shuffled) == describe(values)


def test_holm_adjusts_each_p_by_its_rank_and_keeps_the_order() -> None:
    # ascending 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx(
        {0.005: 0.02, 0.01: 0.03, 0.03: 0.06, 0.04: 0.06}
    )
    assert holm([0.5, 0.6]) == {0.5: 1.0, 0.6: 1.0}  # capped at 1
    assert holm([0.02, 0.02, 0.5]) == pytest.approx({0.02: 0.06, 0.5: 0.5})  # ties alike
    assert holm([]) == {}
