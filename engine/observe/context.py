"""Log context: the run, turn, actor, phase and batch a log line belongs to.

The fields live in one ``ContextVar``. anyio (like asyncio) gives each task a copy of
its parent's context, so the decisions of one turn, played as concurrent tasks, each
bind their own actor without seeing each other's; a worker thread started with
``anyio.to_thread`` gets a copy too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

FIELDS = ("run", "turn", "actor", "phase", "batch")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar("scenario_lab_log_context", default=_EMPTY)


def current() -> Mapping[str, Any]:
    """The fields bound here (read-only)."""
    return _CONTEXT.get()


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` (None values are skipped) to every log line in the block."""
    given = {k: v for k, v in fields.items() if v is not None}
    token = _CONTEXT.set(MappingProxyType({**_CONTEXT.get(), **given}))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Stamps the bound fields on each record that passes, as attributes (an ``extra``
    of the same name given to the log call wins). Attach it to a handler: a handler's
    filters see the records of every logger, httpx's included."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if key not in record.__dict__:
                record.__dict__[key] = value
        return True
