"""Statistics of samples of numbers: a summary with the mean's 95% confidence interval,
Student's t distribution, Welch's test, the Holm correction, and differences of means
(paired or Welch) with their confidence intervals and effect sizes.

The one implementation behind both the batch report (``engine.batch.stats``) and the
analytics table ``variation_stats`` (``projections``, which stores ``describe``'s
results at catch-up), so the two never disagree. Pure: the standard library only. The
t distribution comes from the regularized incomplete beta function (Numerical Recipes'
continued fraction); no scipy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from functools import lru_cache

import msgspec

# -- the t distribution ----------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` (real, > 0) degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


# Cached: a catch-up summarises every variation of every batch, and their sizes (the
# degrees of freedom) repeat; each quantile costs a bisection of ~40 beta evaluations.
@lru_cache(maxsize=1024)
def t_quantile(q: float, df: float) -> float:
    """The t with P(T <= t) = q, for 0.5 <= q < 1 (bisection on the two-sided p)."""
    if not 0.5 <= q < 1.0:
        raise ValueError(f"t_quantile needs 0.5 <= q < 1, got {q}")
    target = 2.0 * (1.0 - q)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


# -- summaries and tests ---------------------------------------------------------------


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """A sample's n, mean, sample standard deviation, the mean's 95% confidence interval
    (Student's t), min, median and max; None where undefined (no values; one value has
    no spread and so no interval)."""

    n: int
    mean: float | None
    stddev: float | None
    ci95: tuple[float, float] | None
    min: float | None
    median: float | None
    max: float | None


_EMPTY = Summary(n=0, mean=None, stddev=None, ci95=None, min=None, median=None, max=None)


def describe(values: Sequence[float]) -> Summary:
    """The ``Summary`` of ``values``. Independent of their order: the mean is an exactly
    rounded sum (``fmean``), the deviation is computed exactly (``stdev``)."""
    n = len(values)
    if n == 0:
        return _EMPTY
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if n > 1 else None
    ci = None
    if sd is not None:
        half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
        ci = (mean - half, mean + half)
    return Summary(
        n=n,
        mean=mean,
        stddev=sd,
        ci95=ci,
        min=min(values),
        median=statistics.median(values),
        max=max(values),
    )


class Welch(msgspec.Struct, frozen=True):
    """Welch's t statistic, its degrees of freedom and the two-sided p."""

    t: float
    df: float
    p: float


def welch(a: Sequence[float], b: Sequence[float]) -> Welch | None:
    """Welch's two-sided t-test of equal means; None with fewer than 2 values a side.

    Two samples without spread: equal means give p = 1, different ones p = 0 (the
    difference is exact, t infinite).
    """
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    se2, df = _welch_se2_df(a, b)
    if se2 == 0.0:
        return Welch(0.0, math.inf, 1.0) if ma == mb else Welch(math.inf, math.inf, 0.0)
    t = (ma - mb) / math.sqrt(se2)
    return Welch(t, df, t_two_sided_p(t, df))


def _welch_se2_df(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """The squared standard error of ``mean(a) - mean(b)`` and its Welch-Satterthwaite
    degrees of freedom (inf without spread). The shares of each side's variance keep
    tiny variances from underflowing to a division by zero."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se2 = va + vb
    if se2 == 0.0:
        return 0.0, math.inf
    wa, wb = va / se2, vb / se2
    return se2, 1.0 / (wa * wa / (len(a) - 1) + wb * wb / (len(b) - 1))


def holm(p_values: Sequence[float]) -> dict[float, float]:
    """Holm-Bonferroni adjusted p of each p among ``p_values`` (tested together).

    With m tests in ascending order, the i-th (from 0) is multiplied by m - i, and each
    adjusted p is at least the one before it, capped at 1. Equal p values get equal
    adjusted ones, so a mapping from p serves.
    """
    m = len(p_values)
    out: dict[float, float] = {}
    running = 0.0
    for i, p in enumerate(sorted(p_values)):
        running = max(running, min(1.0, (m - i) * p))
        out.setdefault(p, running)
    return out


# -- differences of means --------------------------------------------------------------


class MeanDifference(msgspec.Struct, frozen=True, kw_only=True):
    """The difference ``mean(b) - mean(a)`` with its 95% confidence interval.

    ``test`` is "paired" (``a[i]`` and ``b[i]`` belong together: Student's t on the
    differences, ``effect_size`` Cohen's d_z = mean difference / sd of the differences)
    or "welch" (independent samples: Welch's t, ``effect_size`` Cohen's d with the
    pooled standard deviation). ``n_a``/``n_b`` are the sample sizes (equal, the number
    of pairs, when paired). ``ci95``, ``df`` and ``effect_size`` are None where
    undefined: too few values, or (``effect_size``) no spread at all. No spread on
    either side gives an exact difference: a zero-width interval and no ``df``.
    """

    test: str
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    ci95: tuple[float, float] | None
    df: float | None
    effect_size: float | None


def paired_difference(a: Sequence[float], b: Sequence[float]) -> MeanDifference:
    """The paired difference of ``b`` over ``a`` (same length, ``a[i]`` with ``b[i]``)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return MeanDifference(
            test="paired", n_a=0, n_b=0, mean_a=None, mean_b=None, difference=None,
            ci95=None, df=None, effect_size=None,
        )  # fmt: skip
    d = describe([y - x for x, y in zip(a, b, strict=True)])
    ci, df, effect = d.ci95, None, None
    if d.stddev is not None:
        df = float(n - 1)
        effect = d.mean / d.stddev if d.stddev > 0 and d.mean is not None else None
        if d.stddev == 0 and d.mean is not None:
            ci, df = (d.mean, d.mean), None
    return MeanDifference(
        test="paired",
        n_a=n,
        n_b=n,
        mean_a=statistics.fmean(a),
        mean_b=statistics.fmean(b),
        difference=d.mean,
        ci95=ci,
        df=df,
        effect_size=effect,
    )


def welch_difference(a: Sequence[float], b: Sequence[float]) -> MeanDifference:
    """The difference of ``b``'s mean over ``a``'s, independent samples (Welch)."""
    ma = statistics.fmean(a) if a else None
    mb = statistics.fmean(b) if b else None
    diff = mb - ma if ma is not None and mb is not None else None
    ci: tuple[float, float] | None = None
    df: float | None = None
    effect: float | None = None
    if diff is not None and len(a) >= 2 and len(b) >= 2:
        se2, welch_df = _welch_se2_df(a, b)
        if se2 == 0.0:
            ci = (diff, diff)
        else:
            df = welch_df
            half = t_quantile(0.975, df) * math.sqrt(se2)
            ci = (diff - half, diff + half)
            va, vb = statistics.variance(a), statistics.variance(b)
            pooled = ((len(a) - 1) * va + (len(b) - 1) * vb) / (len(a) + len(b) - 2)
            effect = diff / math.sqrt(pooled) if pooled > 0 else None
    return MeanDifference(
        test="welch",
        n_a=len(a),
        n_b=len(b),
        mean_a=ma,
        mean_b=mb,
        difference=diff,
        ci95=ci,
        df=df,
        effect_size=effect,
    )
