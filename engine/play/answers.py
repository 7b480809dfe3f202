"""Whether a model's answer can be used, and the re-ask when it cannot.

An answer is used only when it is readable and whole. One cut off at the token limit
(``finish_reason`` ``length``) is never taken as content, even if a part of it parses,
unless the whole reply is one JSON object (then nothing of it was lost). An answer that
cannot be used is asked for again with the model's own answer and what was wrong with
it, ``MAX_ASKS`` calls in all; after that the call is recorded as failed (a
``DecisionFailed`` for a decision, a ``CallFailed`` for the other phases).
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from pydantic import BaseModel

from engine.llm import (
    ChatRequest,
    ChatResponse,
    DecisionOut,
    ParseError,
    parse_decision,
    parse_structured,
)
from eventstore import ModelCall

M = TypeVar("M", bound=BaseModel)

# Calls for one answer: the first and one re-ask, for every kind of call.
MAX_ASKS = 2

_UNREADABLE = (
    "Your answer could not be read ({error}). Reply again with only one JSON object with "
    "the keys {keys}."
)
_CUT = (
    "Your answer was cut off at the token limit. Reply again, more briefly, with only one "
    "JSON object with the keys {keys}."
)


class Unusable(Exception):
    """Why an answer cannot be used: ``kind`` is ``unparsable`` or ``truncated``."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _whole(response: ChatResponse, method: str) -> None:
    if response.finish_reason == "length" and method != "json":
        raise Unusable("truncated", "the answer was cut off at the token limit")


def _unreadable(response: ChatResponse, e: ParseError) -> Unusable:
    if response.finish_reason == "length":
        return Unusable("truncated", f"the answer was cut off at the token limit ({e.message})")
    return Unusable("unparsable", e.message)


def read_structured(response: ChatResponse, schema: type[M]) -> tuple[M, str]:
    """``(answer, how it was parsed)``, or ``Unusable``."""
    try:
        parsed, method = parse_structured(response.text, schema)
    except ParseError as e:
        raise _unreadable(response, e) from None
    _whole(response, method)
    return parsed, method


def read_decision(response: ChatResponse, action_names: list[str]) -> tuple[DecisionOut, str]:
    """A decision and how it was parsed, or ``Unusable``; with ``action_names`` offered,
    its ``action_name`` must be one of them."""
    try:
        parsed, method = parse_decision(response.text)
        if action_names and parsed.action_name not in action_names:
            raise ParseError(
                f"action_name {parsed.action_name!r} is not one of {', '.join(action_names)}"
            )
    except ParseError as e:
        raise _unreadable(response, e) from None
    _whole(response, method)
    return parsed, method


def reask(request: ChatRequest, answer: str, problem: Unusable, keys: str) -> ChatRequest:
    """``request`` again, followed by the unusable ``answer`` and what was wrong with it."""
    text = _CUT if problem.kind == "truncated" else _UNREADABLE
    return msgspec.structs.replace(
        request,
        messages=[
            *request.messages,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": text.format(error=problem.message, keys=keys)},
        ],
    )


def with_method(call: ModelCall, method: str) -> ModelCall:
    """``call`` saying how its answer was read (or why it was not: ``unparsable``, ...)."""
    return msgspec.structs.replace(call, parse_method=method)
