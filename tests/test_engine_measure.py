"""Keyword and pattern metrics: counting, extraction, errors and clamping."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.play.measure import clamp, keyword_value, local_metric, pattern_value


@dataclass(frozen=True)
class Extraction:
    type: str = "keyword"
    keywords: list[str] = field(default_factory=list)
    scoring: str | None = "count"
    pattern: str = ""
    group: int | str | None = None
    prompt: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    extraction: Extraction
    description: str = ""
    range: tuple[float, float] | None = None


def kw(*keywords: str, scoring: str | None = "count") -> Extraction:
    return Extraction(keywords=list(keywords), scoring=scoring)


def pat(pattern: str, group: int | str | None = None) -> Extraction:
    return Extraction(type="pattern", pattern=pattern, group=group)


TEXT = "Sanctions were announced. The sanctions hit hard; SANCTIONS everywhere, but sanctioned firms adapted."


def test_keyword_count_is_case_insensitive_and_whole_word() -> None:
    assert keyword_value(kw("sanctions"), TEXT) == 3.0  # "sanctioned" is another word
    assert keyword_value(kw("Sanction"), TEXT) == 0.0
    assert keyword_value(kw("sanctions", "firms"), TEXT) == 4.0
    assert keyword_value(kw("hit hard"), TEXT) == 1.0  # phrases work
    assert keyword_value(kw("war"), "warships and a war, WAR! postwar") == 2.0


def test_keywords_with_punctuation_at_their_edges_match() -> None:
    text = "The U.S. and the E.U. met. Talks about C++ and the U.S.S.R. archives."
    assert keyword_value(kw("U.S."), text) == 1.0  # not part of "U.S.S.R."
    assert keyword_value(kw("c++"), text) == 1.0
    assert keyword_value(kw("e.u."), text) == 1.0


def test_blank_keywords_count_nothing() -> None:
    assert keyword_value(kw("", "  "), TEXT) == 0.0
    assert keyword_value(Extraction(keywords=[]), TEXT) == 0.0


def test_keyword_presence() -> None:
    assert keyword_value(kw("sanctions", scoring="presence"), TEXT) == 1.0
    assert keyword_value(kw("ceasefire", scoring="presence"), TEXT) == 0.0
    assert keyword_value(kw("sanctions", scoring="PRESENCE"), TEXT) == 1.0


def test_keyword_density_is_per_hundred_words() -> None:
    text = "peace talks now and peace later then more words here"  # 10 words
    assert keyword_value(kw("peace", scoring="density"), text) == 20.0
    assert keyword_value(kw("peace", scoring="density"), "") == 0.0
    assert keyword_value(kw("peace", scoring="density"), "peace peace peace") == 100.0


def test_keyword_scoring_defaults_to_count() -> None:
    assert keyword_value(kw("sanctions", scoring=None), TEXT) == 3.0


words = st.sampled_from(["cat", "Cat", "CAT", "cats", "catalog", "bobcat", "dog", "cat."])


@given(st.lists(words, max_size=30), st.sampled_from([" ", "\n", ", "]))
def test_keyword_count_matches_whole_word_occurrences(tokens: list[str], sep: str) -> None:
    text = sep.join(tokens)
    expected = sum(1 for t in tokens if t.lower().rstrip(".") == "cat")
    assert keyword_value(kw("cat"), text) == expected
    assert keyword_value(kw("cat", scoring="presence"), text) == (1.0 if expected else 0.0)


def test_pattern_with_a_group() -> None:
    value, error = pattern_value(pat(r"tension (?:is|at) (\d+(?:\.\d+)?)"), "Tension is 7.5 today")
    assert (value, error) == (7.5, None)


def test_pattern_without_a_group_takes_the_whole_match() -> None:
    assert pattern_value(pat(r"-?\d+"), "down to -12 units") == (-12.0, None)


def test_pattern_with_an_explicit_or_named_group() -> None:
    text = "score 3 of 10"
    assert pattern_value(pat(r"(\d+) of (\d+)", group=2), text) == (10.0, None)
    assert pattern_value(pat(r"(\d+) of (?P<total>\d+)", group="total"), text) == (10.0, None)
    assert pattern_value(pat(r"(\d+) of (\d+)", group=1), text) == (3.0, None)


def test_pattern_numbers_with_thousands_separators() -> None:
    assert pattern_value(pat(r"\$([\d,]+)"), "cost $1,234,000 in total") == (1234000.0, None)


def test_pattern_that_finds_nothing_is_an_error() -> None:
    value, error = pattern_value(pat(r"casualties: (\d+)"), "no numbers here")
    assert value is None
    assert error is not None and "found nothing" in error


@pytest.mark.parametrize(
    ("pattern", "group", "text"),
    [
        (r"status: (\w+)", None, "status: calm"),  # matched a word
        (r"(\d+) of (\d+)", 0, "7 of 8"),  # the whole match is not a number
        (r"value: (\S+)", None, "value: nan"),  # parses as a float, but no number
        (r"value: (\S+)", None, "value: inf"),
        (r"(\d+) of (\d+)", 3, "7 of 8"),  # no such group
        (r"(\d+)", "missing", "7"),  # no such named group
        (r"(\d+)|(none)", 1, "none"),  # the group took no part in the match
    ],
)
def test_a_match_that_is_not_a_number_is_an_error_not_an_exception(
    pattern: str, group: int | str | None, text: str
) -> None:
    value, error = pattern_value(pat(pattern, group), text)
    assert value is None
    assert error
    recorded = local_metric(Metric("m", pat(pattern, group)), text, turn=2, actor=None)
    assert recorded.value is None and recorded.error == error


def test_clamp_to_range() -> None:
    m = Metric("m", kw("x"), range=(0, 10))
    assert clamp(m, 15) == 10.0
    assert clamp(m, -3) == 0.0
    assert clamp(m, 4.5) == 4.5
    assert clamp(Metric("m", kw("x")), 1e9) == 1e9


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_clamp_refuses_non_finite_values(bad: float) -> None:
    # the runner records a ValueError from clamp as an unparsable answer
    with pytest.raises(ValueError, match="not a finite number"):
        clamp(Metric("m", kw("x"), range=(0, 10)), bad)


def test_local_keyword_metric() -> None:
    recorded = local_metric(Metric("sanctions", kw("sanctions")), TEXT, turn=3, actor="east")
    assert (recorded.turn, recorded.name, recorded.actor) == (3, "sanctions", "east")
    assert (recorded.value, recorded.method, recorded.error) == (3.0, "keyword", None)


def test_local_keyword_metric_is_clamped_to_its_range() -> None:
    metric = Metric("sanctions", kw("sanctions"), range=(0, 2))
    assert local_metric(metric, TEXT, turn=1, actor=None).value == 2.0


def test_local_pattern_metric_is_clamped_and_errors_are_recorded() -> None:
    metric = Metric("tension", pat(r"tension (\d+)"), range=(0, 10))
    high = local_metric(metric, "Tension 14 now", turn=1, actor=None)
    assert (high.value, high.method, high.error) == (10.0, "pattern", None)
    missing = local_metric(metric, "calm", turn=1, actor=None)
    assert missing.value is None and missing.error and missing.method == "pattern"


def test_pattern_is_searched_case_insensitively_over_lines() -> None:
    text = "line one\nTENSION: 4\nline three"
    assert pattern_value(pat(r"^tension: (\d+)$"), text) == (4.0, None)
    assert re.search(r"^tension", text) is None  # only the flags make this match
