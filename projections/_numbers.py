"""Numbers rounded for people, the same way in run, comparison and batch reports.

Reports show measurements, not floating-point noise: a metric to three significant
figures (whole numbers from 100 up), a cost to the cent from a dollar up and to four
significant figures below (so a fraction of a cent still reads as something), a share
as a whole percentage. The analytics tables and ``--json`` keep the full values.
"""

from __future__ import annotations

import math
from decimal import Decimal

METRIC_FIGURES = 3
COST_FIGURES = 4


def _significant(x: float, figures: int) -> str:
    """``x`` to ``figures`` significant figures in fixed-point, without trailing zeros."""
    if x == 0:
        return "0"
    digits = figures - 1 - math.floor(math.log10(abs(x)))
    rounded = round(x, digits)
    # Decimal prints the rounded float without exponent or binary noise (0.1 + 0.2)
    text = format(Decimal(repr(rounded)).quantize(Decimal(1).scaleb(-max(digits, 0))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def num(value: float | None) -> str:
    """A metric (or statistic) for people: 3 significant figures, whole numbers from 100,
    thousands separated: ``8.433 -> 8.43``, ``0.15432 -> 0.154``, ``12345.6 -> 12,346``."""
    if value is None:
        return "-"
    x = float(value)
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf" if x < 0 else "nan"
    if abs(x) >= 100:
        text = f"{round(x):,}"
        return "0" if text == "-0" else text
    if 0 < abs(x) < 1e-6:
        return f"{x:.{METRIC_FIGURES}g}"  # 1.23e-09 reads better than nine zeros
    return _significant(x, METRIC_FIGURES)


def signed(value: float | None) -> str:
    """A difference for people, with its sign (``+2.12``, ``-0.068``, ``0``)."""
    if value is None:
        return "-"
    text = num(value)
    return text if text.startswith("-") or text == "0" or not math.isfinite(value) else "+" + text


def usd(value: float | None) -> str:
    """A cost in dollars: cents from $1 up (``$12.35``), four significant figures below
    (``$0.0102``, ``$0.000412``) but never fewer than two decimals (``$0.50``)."""
    x = float(value or 0.0)
    if x == 0:
        return "$0.00"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    text = _significant(x, COST_FIGURES)
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def pct(share: float | None) -> str:
    """A share (0 to 1) as a whole percentage; ``<1%``/``>99%`` rather than a rounded
    0% or 100% that is not quite true."""
    if share is None:
        return "-"
    if 0 < share < 0.005:
        return "<1%"
    if 0.995 < share < 1:
        return ">99%"
    return f"{100 * share:.0f}%"


def cost_text(value: float | None, unpriced: int) -> str:
    """A cost that may include calls of unknown cost (a model with no known price):
    never shown as if they were free."""
    if not unpriced:
        return usd(value)
    if value is None:
        return f"unknown ({unpriced} call(s) with no known price)"
    return f"{usd(value)} + {unpriced} call(s) of unknown cost"
