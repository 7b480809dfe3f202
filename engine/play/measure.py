"""Metric extraction: keyword, pattern and model-judged metrics of a turn.

A failed extraction (no match, an unparsable model answer) is recorded as a
``MetricRecorded`` with ``error`` set and no value: a missing number never crashes a run.
"""

from __future__ import annotations

import math
import re
from typing import Any

from eventstore import MetricRecorded

_WORD = re.compile(r"\w+")


def keyword_value(extraction: Any, text: str) -> float:
    """count: total occurrences; presence: 1 if any; density: occurrences per 100 words.

    A keyword matches as a whole word, case-insensitively. The edges are "no word character
    next to it" rather than ``\b``, so keywords that start or end with punctuation
    ("U.S.", "C++") match too.
    """
    lowered = text.lower()
    count = 0
    for keyword in extraction.keywords or ():
        word = str(keyword).strip().lower()
        if not word:
            continue  # an empty keyword would match between every two characters
        count += len(re.findall(r"(?<!\w)" + re.escape(word) + r"(?!\w)", lowered))
    scoring = (extraction.scoring or "count").lower()
    if scoring == "presence":
        return 1.0 if count else 0.0
    if scoring == "density":
        words = len(_WORD.findall(text))
        return round(100.0 * count / words, 6) if words else 0.0
    return float(count)


def pattern_value(extraction: Any, text: str) -> tuple[float | None, str | None]:
    """The number captured by the pattern's group (default: the first group, or the match)."""
    match = re.search(extraction.pattern, text, flags=re.IGNORECASE | re.MULTILINE)
    if match is None:
        return None, f"pattern {extraction.pattern!r} found nothing"
    group = getattr(extraction, "group", None)
    if group is None:
        group = 1 if match.re.groups else 0
    try:
        raw = match.group(group)
    except IndexError:
        return None, f"pattern {extraction.pattern!r} has no group {group!r}"
    if raw is None:
        return None, f"pattern {extraction.pattern!r} matched without group {group!r}"
    try:
        value = float(str(raw).replace(",", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # "nan" and "inf" parse as floats but are no measurement
        return None, f"pattern matched {raw!r}, which is not a number"
    return value, None


def clamp(metric: Any, value: float) -> float:
    """``value`` limited to the metric's range; ValueError for NaN or infinity."""
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    rng = getattr(metric, "range", None)
    if rng:
        return min(float(rng[1]), max(float(rng[0]), value))
    return value


def local_metric(metric: Any, text: str, *, turn: int, actor: str | None) -> MetricRecorded:
    """A keyword or pattern metric over ``text``."""
    extraction = metric.extraction
    if extraction.type == "keyword":
        return MetricRecorded(
            turn=turn,
            name=metric.name,
            value=clamp(metric, keyword_value(extraction, text)),
            actor=actor,
            method="keyword",
        )
    value, error = pattern_value(extraction, text)
    return MetricRecorded(
        turn=turn,
        name=metric.name,
        value=clamp(metric, value) if value is not None else None,
        actor=actor,
        method="pattern",
        error=error,
    )
