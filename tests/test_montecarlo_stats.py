"""Differences of means (``engine.batch.sample_stats``): worked examples, and properties
tying them to the module's other statistics (``describe``, ``welch``)."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.batch.sample_stats import (
    describe,
    paired_difference,
    t_quantile,
    welch,
    welch_difference,
)

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
sample = st.lists(finite, min_size=2, max_size=30)


def test_welch_difference_worked_example() -> None:
    a, b = [1.0, 2, 3, 4, 5], [2.0, 4, 6, 8, 10]
    d = welch_difference(a, b)
    assert (d.test, d.n_a, d.n_b, d.mean_a, d.mean_b, d.difference) == ("welch", 5, 5, 3, 6, 3)
    # var a = 2.5, var b = 10: se^2 = 0.5 + 2 = 2.5; df = 2.5^2 / (0.5^2/4 + 2^2/4)
    assert d.df == pytest.approx(6.25 / (0.0625 + 1.0))
    half = t_quantile(0.975, d.df) * math.sqrt(2.5)
    assert d.ci95 == pytest.approx((3 - half, 3 + half))
    assert half == pytest.approx(3.8877, abs=1e-3)  # R: t.test(b, a): -0.888 to 6.888
    assert d.effect_size == pytest.approx(3 / 2.5)  # pooled sd sqrt((4*2.5 + 4*10)/8)


def test_paired_difference_worked_example() -> None:
    a, b = [1.0, 2, 3, 4, 5], [2.0, 3, 5, 5, 7]  # differences 1, 1, 2, 1, 2
    d = paired_difference(a, b)
    assert (d.test, d.n_a, d.n_b, d.difference, d.df) == ("paired", 5, 5, 1.4, 4.0)
    sd = statistics.stdev([1.0, 1, 2, 1, 2])
    half = t_quantile(0.975, 4) * sd / math.sqrt(5)
    assert d.ci95 == pytest.approx((1.4 - half, 1.4 + half))
    assert half == pytest.approx(0.6801, abs=1e-3)  # R: t.test(b, a, paired=TRUE)
    assert d.effect_size == pytest.approx(1.4 / sd)


def test_edge_cases_give_no_interval_or_an_exact_one() -> None:
    assert welch_difference([], [1.0]).difference is None
    one = welch_difference([1.0], [2.0, 3.0])
    assert one.difference == 1.5 and one.ci95 is None and one.effect_size is None
    exact = welch_difference([1.0, 1.0], [3.0, 3.0])
    assert exact.ci95 == (2.0, 2.0) and exact.df is None and exact.effect_size is None
    shifted = paired_difference([1.0, 5.0, 2.0], [2.0, 6.0, 3.0])
    assert shifted.ci95 == (1.0, 1.0) and shifted.df is None and shifted.effect_size is None
    none = paired_difference([], [])
    assert none.n_a == 0 and none.difference is None and none.ci95 is None
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1.0], [1.0, 2.0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=30))
def test_the_paired_difference_is_the_summary_of_the_differences(
    pairs: list[tuple[float, float]],
) -> None:
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    d = paired_difference(a, b)
    s = describe([y - x for x, y in pairs])
    assert d.difference == s.mean
    if s.stddev:
        assert d.ci95 == s.ci95


@settings(max_examples=300, deadline=None)
@given(sample, sample)
def test_the_welch_interval_excludes_zero_exactly_when_the_test_rejects(
    a: list[float], b: list[float]
) -> None:
    d, w = welch_difference(a, b), welch(b, a)
    assert w is not None and d.ci95 is not None and d.difference is not None
    low, high = d.ci95
    assert low <= d.difference <= high
    if w.p < 0.049:
        assert low > 0 or high < 0
    elif w.p > 0.051:
        assert low <= 0 <= high


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=3, max_size=30),
    st.floats(-5, 5),
    st.lists(st.floats(-0.5, 0.5), min_size=30, max_size=30),
)
def test_pairing_narrows_the_interval_when_the_pairs_share_their_noise(
    base: list[float], effect: float, noise: list[float]
) -> None:
    """Common random numbers: each b is its a plus the effect and a little noise of its
    own. When the runs' shared spread is larger than that noise, the paired interval is
    the narrower one."""
    b = [x + effect + e for x, e in zip(base, noise, strict=False)]
    if statistics.stdev(base) < 4 * max(statistics.pstdev(noise[: len(base)]), 0.01):
        return
    paired, independent = paired_difference(base, b), welch_difference(base, b)
    assert paired.ci95 is not None and independent.ci95 is not None
    assert paired.ci95[1] - paired.ci95[0] < independent.ci95[1] - independent.ci95[0]
