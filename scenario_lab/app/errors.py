"""The error tree as front ends meet it: every class, and one typed record of an error.

The tree and its codes are documented in ``eventstore._errors``; ``CATEGORY_STATUS``
maps a category to the HTTP status a server answers with. ``error_info`` is what a
front end needs to report an error: its code and category, the one-line message with
fields named as the front end names them, and the data the error carries.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from engine.errors import (
    BudgetExceeded,
    HumanInputPending,
    LLMUnavailable,
    MissingCredentials,
    NondeterminismError,
    RunNotPlayable,
    ScenarioInvalid,
    SeatAsk,
)
from eventstore import (
    CATEGORY_STATUS,
    ConcurrencyConflict,
    ForkError,
    IntegrityError,
    InvalidRequest,
    NotFound,
    RunLocked,
    RunNotFound,
    ScenarioLabError,
    SeatNotWaiting,
    StoreError,
    StoreWriteFailed,
    TurnOutOfRange,
    UsageError,
)


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An error as data: ``code`` and ``category`` (see ``CATEGORY_STATUS``), the
    message and hint, and what it is about."""

    code: str
    category: str
    message: str
    hint: str | None = None
    run_id: str | None = None
    turn: int | None = None
    file: str | None = None
    field: str | None = None
    problems: tuple[str, ...] = ()


def error_info(e: ScenarioLabError, names: Mapping[str, str] | None = None) -> ErrorInfo:
    """``e`` as data, its fields named by ``names`` (field -> a front end's word for it)."""
    return ErrorInfo(
        code=e.code,
        category=e.category,
        message=e.message_for(names).replace("\n", " "),
        hint=e.hint_for(names),
        run_id=e.run_id,
        turn=e.turn,
        file=e.file,
        field=e.field,
        problems=tuple(getattr(e, "problems", ()) or ()),
    )


__all__ = [
    "CATEGORY_STATUS",
    "BudgetExceeded",
    "ConcurrencyConflict",
    "ErrorInfo",
    "ForkError",
    "HumanInputPending",
    "IntegrityError",
    "InvalidRequest",
    "LLMUnavailable",
    "MissingCredentials",
    "NondeterminismError",
    "NotFound",
    "RunLocked",
    "RunNotFound",
    "RunNotPlayable",
    "ScenarioInvalid",
    "ScenarioLabError",
    "SeatAsk",
    "SeatNotWaiting",
    "StoreError",
    "StoreWriteFailed",
    "TurnOutOfRange",
    "UsageError",
    "error_info",
]
