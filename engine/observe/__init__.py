"""What the engine tells an operator while it plays: log context and trace spans.

Library code logs through stdlib ``logging`` only (``logging.getLogger(__name__)``, an
event name as the message, fields as ``extra``); how lines look and where they go is
the front end's choice (``scenario_lab.observe``). What this package adds:

- ``bound(run=..., turn=...)``: fields every log line carries while the block runs,
  kept in a ``ContextVar``, so concurrent anyio tasks each carry their own;
  ``ContextFilter`` stamps them on records, for a handler to use;
- ``step("turn", turn=3)``: ``bound`` plus a trace span and a ``turn.end`` line;
- ``model_called`` / ``model_call_failed``: a log line and a GenAI span per model call.

Spans are made only once a front end hands a tracer to ``use_tracer``; until then
nothing of OpenTelemetry is imported and a step costs a context-variable set.
"""

from __future__ import annotations

from .context import ContextFilter, bound, current
from .tracing import model_call_failed, model_called, step, tracer, use_tracer

__all__ = [
    "ContextFilter",
    "bound",
    "current",
    "model_call_failed",
    "model_called",
    "step",
    "tracer",
    "use_tracer",
]
