"""Reading model replies: JSON wherever it sits in the text, else the markdown sections
Scenario Lab actors have always written.

Each parser returns how it read the reply, which the log keeps as ``parse_method``:
``json`` (the whole reply), ``json_fence`` (a fenced block), ``json_embedded`` (the
first JSON object inside prose) or ``markdown`` (headed sections).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ParseError
from .schemas import DecisionOut

M = TypeVar("M", bound=BaseModel)

_FENCE_OPEN = re.compile(r"```[ \t]*(?:json|JSON|javascript)?[ \t]*\r?\n")


def parse_structured(text: str, model_cls: type[M]) -> tuple[M, str]:
    """``(instance, method)`` from the first JSON object in ``text`` that validates as
    ``model_cls``. Raises :class:`ParseError` when there is none."""
    stripped = text.strip()
    problems: list[str] = []
    whole = _loads_object(stripped)
    if whole is not None:
        # The whole reply is the answer; a fragment inside it is not a second chance.
        return _validate(whole, model_cls, text, "json"), "json"
    for block in _fenced_blocks(text):
        value = _loads_object(block)
        if value is not None:
            try:
                return model_cls.model_validate(value), "json_fence"
            except ValidationError as e:
                problems.append(_first_error(e))
    for candidate in _balanced_objects(text):
        value = _loads_object(candidate)
        if value is not None:
            try:
                return model_cls.model_validate(value), "json_embedded"
            except ValidationError as e:
                problems.append(_first_error(e))
    why = f": {problems[0]}" if problems else ""
    raise ParseError(f"no JSON object for {model_cls.__name__} in the reply{why}", text=text)


def parse_decision(text: str) -> tuple[DecisionOut, str]:
    """``(decision, method)``: JSON first (:func:`parse_structured`), then the markdown
    sections LONG-TERM GOALS, SHORT-TERM PRIORITIES, REASONING and ACTION (as bold
    labels, headings or plain ``LABEL:`` lines; goals as bullets or numbered lists).
    ACTION is required."""
    try:
        return parse_structured(text, DecisionOut)
    except ParseError as json_error:
        sections = _sections(text)
        action = sections.get("action", "").strip()
        if not action:
            if _loads_object(text.strip()) is not None:
                raise
            raise ParseError(
                "the reply has neither a decision as JSON nor an ACTION section"
                f" ({json_error.message})",
                text=text,
            ) from None
        decision = DecisionOut(
            long_term_goals=_items(sections.get("long_term_goals", "")),
            short_term_priorities=_items(sections.get("short_term_priorities", "")),
            reasoning=sections.get("reasoning", "").strip(),
            action=action,
        )
        return decision, "markdown"


# -- JSON ------------------------------------------------------------------------------


def _loads_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _validate(value: dict[str, Any], model_cls: type[M], text: str, method: str) -> M:
    try:
        return model_cls.model_validate(value)
    except ValidationError as e:
        raise ParseError(
            f"reply JSON ({method}) is not a valid {model_cls.__name__}: {_first_error(e)}",
            text=text,
        ) from None


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{where}: {err['msg']}"


def _fenced_blocks(text: str) -> Iterator[str]:
    """The text between each opening fence and each later closing one, nearest first:
    a JSON string may itself contain three backticks."""
    for opening in _FENCE_OPEN.finditer(text):
        close = text.find("```", opening.end())
        while close != -1:
            yield text[opening.end() : close].strip()
            close = text.find("```", close + 3)


def _balanced_objects(text: str) -> Iterator[str]:
    """Each ``{...}`` span with balanced braces, outermost first, skipping braces inside
    JSON strings."""
    start = text.find("{")
    while start != -1:
        end = _matching_brace(text, start)
        if end is not None:
            yield text[start : end + 1]
        start = text.find("{", start + 1)


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


# -- markdown --------------------------------------------------------------------------

_SECTION_NAMES = {
    "long_term_goals": r"long[\s_-]*term[\s_-]+goals",
    "short_term_priorities": r"short[\s_-]*term[\s_-]+priorities",
    "reasoning": r"reasoning",
    "action": r"action",
}
_NAME_GROUP = "|".join(f"(?P<{key}>{rx})" for key, rx in _SECTION_NAMES.items())
# A heading line: optional "#"s or a number, optional bold/underline markers around the
# name, an optional colon (inside or outside the bold), then maybe the section's text.
_HEADING = re.compile(
    r"^[ \t]*(?P<hash>\#{1,6}[ \t]*)?(?:\d+[.)][ \t]*)?(?P<open>\*\*|__)?[ \t]*"
    rf"(?:{_NAME_GROUP})[ \t]*(?P<colon1>:)?[ \t]*(?P<close>\*\*|__)?[ \t]*(?P<colon2>:)?"
    r"[ \t]*(?P<rest>.*?)[ \t]*$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^[ \t]*(?:[-*+•]|\d+[.)])[ \t]+(?P<item>.*)$")


def _heading(line: str) -> tuple[str, str] | None:
    m = _HEADING.match(line)
    if m is None:
        return None
    colon = m["colon1"] or m["colon2"]
    bold = m["open"] and m["close"]
    # "Action items were..." and "## Action items" are prose and a different heading:
    # a label needs a colon, bold around it, or a heading line of its own.
    if not (colon or bold or (m["hash"] and not m["rest"])):
        return None
    key = next(k for k in _SECTION_NAMES if m[k] is not None)
    return key, m["rest"]


def _sections(text: str) -> dict[str, str]:
    """Section key -> its text (the heading line's tail, then the lines below it up to
    the next section heading). A repeated heading keeps its first section."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        found = _heading(line)
        if found is not None:
            key, rest = found
            current = [] if key in sections else sections.setdefault(key, [])
            if rest:
                current.append(rest)
        elif current is not None:
            current.append(line.rstrip())
    return {k: "\n".join(lines).strip() for k, lines in sections.items()}


def _items(block: str) -> list[str]:
    """List items from bullets or numbers; wrapped lines join their item. Without any
    markers, each non-empty line is an item."""
    items: list[str] = []
    has_bullets = any(_BULLET.match(line) for line in block.splitlines())
    for line in block.splitlines():
        if not line.strip():
            continue
        m = _BULLET.match(line) if has_bullets else None
        if m is not None:
            items.append(m["item"].strip())
        elif has_bullets and items:
            items[-1] = f"{items[-1]} {line.strip()}"
        else:
            items.append(line.strip())
    return items
