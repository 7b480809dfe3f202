"""Safe expressions: what they compute, what they refuse, and their bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scenario.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    ExpressionError,
    parse_expression,
)

NAMES = {"tension": 7.5, "trade": 40.0, "patrol": 2.0, "talk": 0.0, "turn": 3.0}

VALUES = [
    ("2 if tension > 6 else 0.5", 2.0),
    ("2 if tension > 8 else 0.5", 0.5),
    ("-tension / 10 + 1", 0.25),
    ("(trade - 20) * 2", 40.0),
    ("patrol and not talk", 1.0),  # `not 0` is True
    ("talk or 3", 3.0),  # Python's `or`: the first true operand
    ("patrol and talk", 0.0),
    ("1 < tension <= 7.5", 1.0),
    ("1 < tension < 7", 0.0),
    ("tension == 7.5 != trade", 1.0),
    ("min(tension, trade, 3)", 3.0),
    ("max(1, 2)", 2.0),
    ("abs(-tension)", 7.5),
    ("clamp(trade / 10, 0, 1)", 1.0),
    ("clamp(-5, 0, 1)", 0.0),
    ("True + True", 2.0),
    ("turn * 2", 6.0),
    ("+1", 1.0),
]


@pytest.mark.parametrize(("text", "value"), VALUES)
def test_values(text: str, value: float) -> None:
    assert parse_expression(text).evaluate(NAMES) == pytest.approx(value)


def test_names_are_listed_without_evaluating_any_branch() -> None:
    expr = parse_expression("max(tension, 1) if turn > 2 else trde")
    assert expr.names == {"tension", "turn", "trde"}  # `max` is a function, not a name


def test_holds_reads_any_nonzero_value_as_true() -> None:
    assert parse_expression("tension - 7.5 + 0.1").holds(NAMES)
    assert not parse_expression("tension >= 8").holds(NAMES)


REFUSED = [
    ('__import__("os")', "a call of __import__ (only min, max, abs, clamp may be called)"),
    ('__import__("os").system("true")', "a call of a computed function"),
    ("tension.real", "attribute access (a.b) is not allowed"),
    ("[1][0]", "indexing (a[b]) is not allowed"),
    ('"text"', "text is not allowed"),
    ("tension ** 2", "the operator ** is not allowed"),
    ("tension // 2", "the operator // is not allowed"),
    ("tension % 2", "the operator % is not allowed"),
    ("~1", "the operator ~ is not allowed"),
    ("1 in [1]", "the comparison in is not allowed"),
    ("tension is 1", "the comparison is is not allowed"),
    ("(lambda: 1)()", "a call of a computed function"),
    ("[x for x in [1]]", "comprehensions is not allowed"),
    ("(x := 1)", "assignment (:=) is not allowed"),
    ("f'{tension}'", "f-strings is not allowed"),
    ("min(tension)", "min takes at least 2 argument(s), not 1"),
    ("clamp(1, 2)", "clamp takes 3 argument(s), not 2"),
    ("abs(x=1)", "keyword arguments is not allowed"),
    ("eval('1')", "a call of eval"),
    ("None", "None is not allowed"),
    ("1j", "1j is not allowed"),
    ("1e999", "a number too large to use"),
    ("tension >", "is not an expression"),
    ("import os", "is not an expression"),
    ("a = 1", "is not an expression"),
    ("", "is empty"),
    ("   ", "is empty"),
]


@pytest.mark.parametrize(("text", "why"), REFUSED)
def test_refused_when_parsed(text: str, why: str) -> None:
    with pytest.raises(ExpressionError, match=None) as caught:
        parse_expression(text)
    assert why in str(caught.value)


def test_bounds() -> None:
    with pytest.raises(ExpressionError, match=f"more than the {MAX_LENGTH}"):
        parse_expression("1 + " * 100 + "1")
    with pytest.raises(ExpressionError, match=f"more than {MAX_NODES} parts"):
        parse_expression("max(" + ",".join(["1"] * MAX_NODES) + ")")
    with pytest.raises(ExpressionError, match=f"deeper than {MAX_DEPTH} levels"):
        parse_expression("-" * (MAX_DEPTH + 1) + "1")
    deep = "(" * 140 + "1" + ")" * 140  # parentheses add no depth to the tree
    assert parse_expression(deep).evaluate({}) == 1.0
    with pytest.raises(ExpressionError, match="is not an expression"):
        parse_expression("(" * MAX_LENGTH)  # Python's parser refuses, without a crash


RUNTIME = [
    ("1 / talk", "divides by zero"),
    ("tension / (trade - 40)", "divides by zero"),
    ("1e300 * 1e300", "is inf, not a finite number"),
    ("1e300 * 1e300 - 1e300 * 1e300", "is nan, not a finite number"),
    ("missing + 1", "reads 'missing', which has no value"),
]


@pytest.mark.parametrize(("text", "why"), RUNTIME)
def test_refused_when_evaluated(text: str, why: str) -> None:
    expr = parse_expression(text)  # parses: the problem depends on the values
    with pytest.raises(ExpressionError) as caught:
        expr.evaluate(NAMES)
    assert why in str(caught.value)


# Random arithmetic over the allowed grammar agrees with Python's own arithmetic. Python's
# `eval` is the oracle here, in the test only, on text this test built itself.
_leaf = st.one_of(
    st.sampled_from(["tension", "trade", "patrol", "talk", "turn"]),
    st.integers(-20, 20).map(str),
    st.floats(-50, 50, allow_nan=False).map(lambda f: f"{f:.3f}"),
)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(inner, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda e: f"(not {e})"),
        inner.map(lambda e: f"(-{e})"),
        st.tuples(inner, inner).map(lambda t: f"max({t[0]}, {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"min({t[0]}, {t[1]})"),
        inner.map(lambda e: f"abs({e})"),
    )


@settings(max_examples=300, deadline=None)
@given(st.recursive(_leaf, _extend, max_leaves=8))
def test_random_expressions_agree_with_python(text: str) -> None:
    try:
        expr = parse_expression(text)
    except ExpressionError as e:
        assert "too long" in str(e) or "deeper" in str(e) or "characters long" in str(e)
        return
    expected = float(
        eval(text, {"__builtins__": {}, "min": min, "max": max, "abs": abs}, dict(NAMES))
    )
    if not math.isfinite(expected):
        with pytest.raises(ExpressionError):
            expr.evaluate(NAMES)
        return
    assert expr.evaluate(NAMES) == pytest.approx(expected)
