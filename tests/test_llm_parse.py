"""Tolerant parsing of model replies, and the strict schemas sent to models."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from engine.llm import DecisionOut, ParseError, json_schema_for, parse_decision, parse_structured

DECISION = DecisionOut(
    long_term_goals=["Secure the border", "Grow the economy"],
    short_term_priorities=["Call the summit"],
    reasoning="Talks are cheaper than war.",
    action="Invite all parties to a summit in Geneva.",
    action_name="summit",
)


# -- JSON ------------------------------------------------------------------------------


def test_whole_reply_json() -> None:
    assert parse_decision(DECISION.model_dump_json()) == (DECISION, "json")
    assert parse_decision("\n  " + DECISION.model_dump_json() + "\n") == (DECISION, "json")


@pytest.mark.parametrize("opening", ["```json", "```JSON", "```", "``` json"])
def test_fenced_json(opening: str) -> None:
    text = f"Here is my decision.\n{opening}\n{DECISION.model_dump_json(indent=2)}\n```\nDone."
    assert parse_decision(text) == (DECISION, "json_fence")


def test_fence_around_json_that_contains_a_fence() -> None:
    tricky = DECISION.model_copy(update={"reasoning": "as the memo said: ```quote```"})
    text = f"```json\n{tricky.model_dump_json()}\n```"
    assert parse_decision(text) == (tricky, "json_fence")


def test_json_embedded_in_prose() -> None:
    text = f"Sure! My answer is {DECISION.model_dump_json()} and that is final {{not json}}."
    assert parse_decision(text) == (DECISION, "json_embedded")


def test_embedded_json_with_braces_inside_strings() -> None:
    tricky = DECISION.model_copy(update={"reasoning": 'A "quoted" {brace} and \\ slash }'})
    text = "Thinking {first thought}... " + tricky.model_dump_json()
    assert parse_decision(text) == (tricky, "json_embedded")


def test_alternative_keys_and_lone_strings() -> None:
    text = json.dumps(
        {
            "goals": ["a", "b"],
            "priorities": "c",
            "Reasoning": "r",
            "ACTION": "act",
            "extra": 1,
        }
    )
    decision, method = parse_decision(text)
    assert method == "json"
    assert decision == DecisionOut(
        long_term_goals=["a", "b"], short_term_priorities=["c"], reasoning="r", action="act"
    )


def test_whole_json_without_action_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parse_decision(json.dumps({"goals": ["a"], "reasoning": "r"}))
    assert "action" in info.value.message
    assert info.value.text


def test_no_decision_at_all() -> None:
    with pytest.raises(ParseError) as info:
        parse_decision("I would rather not say.")
    assert "ACTION" in info.value.message


def test_truncated_json_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_decision(DECISION.model_dump_json()[:40])


class Point(BaseModel):
    x: int
    y: int


def test_parse_structured_other_models() -> None:
    assert parse_structured('{"x": 1, "y": 2}', Point) == (Point(x=1, y=2), "json")
    # The first object that validates wins; earlier non-matching objects are skipped.
    text = 'first {"a": 1} then {"x": 3, "y": 4}'
    assert parse_structured(text, Point) == (Point(x=3, y=4), "json_embedded")
    with pytest.raises(ParseError) as info:
        parse_structured('see {"x": "nope"}', Point)
    assert "x" in info.value.message


# -- markdown --------------------------------------------------------------------------

BOLD = """**LONG-TERM GOALS:**
- Secure the border
- Grow the economy

**SHORT-TERM PRIORITIES:**
1. Call the summit
2. Calm the markets

**REASONING:**
Talks are cheaper than war.
The neighbours are tired too.

**ACTION:** Invite all parties to a summit in Geneva.
"""

HEADINGS = """## Long-term goals
* Secure the border
* Grow the economy
  before the election

## Short-term priorities
1) Call the summit

## Reasoning
Talks are cheaper than war.

## Action
Invite all parties to a summit in Geneva.
"""

PLAIN = """Let me think this through.

LONG-TERM GOALS:
- Secure the border
SHORT-TERM PRIORITIES:
- Call the summit
REASONING: Talks are cheaper than war.
ACTION: Invite all parties to a summit in Geneva.
"""


def test_markdown_bold_labels() -> None:
    decision, method = parse_decision(BOLD)
    assert method == "markdown"
    assert decision.long_term_goals == ["Secure the border", "Grow the economy"]
    assert decision.short_term_priorities == ["Call the summit", "Calm the markets"]
    assert decision.reasoning == "Talks are cheaper than war.\nThe neighbours are tired too."
    assert decision.action == "Invite all parties to a summit in Geneva."
    assert decision.action_name is None


def test_markdown_headings_and_wrapped_items() -> None:
    decision, method = parse_decision(HEADINGS)
    assert method == "markdown"
    assert decision.long_term_goals == [
        "Secure the border",
        "Grow the economy before the election",
    ]
    assert decision.short_term_priorities == ["Call the summit"]
    assert decision.action == "Invite all parties to a summit in Geneva."


def test_markdown_plain_labels_with_inline_text() -> None:
    decision, method = parse_decision(PLAIN)
    assert method == "markdown"
    assert decision.long_term_goals == ["Secure the border"]
    assert decision.reasoning == "Talks are cheaper than war."
    assert decision.action == "Invite all parties to a summit in Geneva."


def test_markdown_variants_of_labels() -> None:
    text = "**Long term goals**\n- g\n**Action**: do it\n"
    assert parse_decision(text)[0] == DecisionOut(long_term_goals=["g"], action="do it")
    text = "### REASONING:\nbecause\n### ACTION:\n**Mobilise reserves**\n"
    decision = parse_decision(text)[0]
    assert decision.reasoning == "because"
    assert decision.action == "**Mobilise reserves**"


def test_prose_mentioning_action_is_not_a_heading() -> None:
    text = "REASONING:\nAction items were discussed.\n## Action items\nnone\nACTION: wait"
    decision = parse_decision(text)[0]
    assert decision.reasoning == "Action items were discussed.\n## Action items\nnone"
    assert decision.action == "wait"


def test_markdown_without_action_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_decision("**LONG-TERM GOALS:**\n- a\n**REASONING:** b\n**ACTION:**\n")


# -- round trips (hypothesis) ----------------------------------------------------------

# Text a model writes in a section: no markup characters, no braces, no colons (so no
# line of it reads as a label), no leading list markers.
_WORD = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'(),.?!",
    min_size=1,
    max_size=12,
)
_LINE = st.lists(_WORD, min_size=1, max_size=8).map(" ".join)
_ITEMS = st.lists(_LINE, max_size=5)
_BLOCK = st.lists(_LINE, min_size=1, max_size=3).map("\n".join)


@st.composite
def decisions(draw: st.DrawFn, *, with_name: bool = True) -> DecisionOut:
    name = draw(st.one_of(st.none(), _LINE)) if with_name else None
    return DecisionOut(
        long_term_goals=draw(_ITEMS),
        short_term_priorities=draw(_ITEMS),
        reasoning=draw(_BLOCK),
        action=draw(_BLOCK),
        action_name=name,
    )


# Any JSON text, including every Unicode string, must survive the JSON routes.
_ANY_TEXT = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)


@given(
    st.builds(
        DecisionOut,
        long_term_goals=st.lists(st.text(max_size=30), max_size=4),
        short_term_priorities=st.lists(st.text(max_size=30), max_size=4),
        reasoning=st.text(max_size=80),
        action=_ANY_TEXT,
        action_name=st.one_of(st.none(), st.text(max_size=20)),
    ),
    st.booleans(),
)
def test_json_round_trip(decision: DecisionOut, indent: bool) -> None:
    text = decision.model_dump_json(indent=2 if indent else None)
    assert parse_decision(text) == (decision, "json")
    fenced = f"My decision:\n```json\n{text}\n```\n"
    assert parse_decision(fenced) == (decision, "json_fence")
    bare = f"```\n{text}\n```"
    assert parse_decision(bare) == (decision, "json_fence")


def _bullets(items: list[str], numbered: bool) -> str:
    return "\n".join(f"{i}. {x}" if numbered else f"- {x}" for i, x in enumerate(items, 1))


def _bold(label: str) -> str:
    return f"**{label.upper()}:**"


def _heading(label: str) -> str:
    return f"## {label.capitalize()}"


def _plain(label: str) -> str:
    return f"{label.upper()}:"


@pytest.mark.parametrize("label", [_bold, _heading, _plain], ids=["bold", "heading", "plain"])
@given(decision=decisions(with_name=False), numbered=st.booleans())
def test_markdown_round_trip(
    label: Callable[[str], str], decision: DecisionOut, numbered: bool
) -> None:
    text = "\n\n".join(
        [
            "I have weighed the options.",
            f"{label('long-term goals')}\n{_bullets(decision.long_term_goals, numbered)}",
            f"{label('short-term priorities')}\n"
            f"{_bullets(decision.short_term_priorities, numbered)}",
            f"{label('reasoning')}\n{decision.reasoning}",
            f"{label('action')}\n{decision.action}",
        ]
    )
    assert parse_decision(text) == (decision, "markdown")


# -- schemas ---------------------------------------------------------------------------


class Inner(BaseModel):
    """Internal docs the model need not read."""

    label: str
    weight: float | None = None


class Outer(BaseModel):
    title: str
    inner: Inner
    items: list[Inner] = []
    note: str | None = None


def _objects(node: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_objects(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_objects(value))
    return found


def test_json_schema_for_is_strict_mode_compatible() -> None:
    for model in (DecisionOut, Outer):
        schema = json_schema_for(model)
        objects = _objects(schema)
        assert objects
        for obj in objects:
            assert obj["additionalProperties"] is False
            assert obj["required"] == list(obj["properties"])  # type: ignore[call-overload]
            assert "description" not in obj
        text = json.dumps(schema)
        assert '"default"' not in text
    outer = json_schema_for(Outer)
    assert "title" in outer["properties"]  # a field named "title" is kept
    assert outer["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    decision = json_schema_for(DecisionOut)
    assert decision["properties"]["action_name"]["anyOf"][1] == {"type": "null"}
