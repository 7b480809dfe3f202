"""Spans and step lines: a run, its turns, their phases, and every model call.

Spans follow OpenTelemetry's GenAI semantic conventions for model calls
(``gen_ai.operation.name``, ``gen_ai.system``, ``gen_ai.request.model``,
``gen_ai.usage.input_tokens``...). The engine never configures OpenTelemetry: a front
end that wants spans hands a tracer to :func:`use_tracer` (``scenario_lab.observe``
does when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set). Without one, nothing of
OpenTelemetry is imported, and a step only binds its log fields and logs its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .context import bound

if TYPE_CHECKING:
    from engine.llm.types import ChatRequest, ChatResponse

log = logging.getLogger("engine.steps")
calls_log = logging.getLogger("engine.calls")

# the span attribute of each log-context field
_SPAN_KEYS = {
    "run": "scenario_lab.run_id",
    "turn": "scenario_lab.turn",
    "actor": "scenario_lab.actor",
    "phase": "scenario_lab.phase",
    "batch": "scenario_lab.batch_id",
}

_tracer: Any = None  # an opentelemetry.trace.Tracer, once a front end asks for spans


def use_tracer(new: Any) -> Any:
    """Make spans with ``new`` (an OpenTelemetry ``Tracer``; None: no spans). Returns the
    tracer used before, so a caller (a test) can put it back."""
    global _tracer
    old, _tracer = _tracer, new
    return old


def tracer() -> Any:
    """The tracer spans are made with, or None."""
    return _tracer


@contextmanager
def step(kind: str, **fields: Any) -> Iterator[None]:
    """One step of play (``run``, ``turn``, ``phase``, ``batch``): binds ``fields`` to
    the block's log lines, makes a span of it when tracing, and logs ``KIND.end``
    with the time it took when it ends without an exception."""
    started = time.perf_counter()
    with bound(**fields):
        if _tracer is None:
            yield
        else:
            # a phase's span is named for it; other names stay low-cardinality (no ids)
            name = f"phase {fields['phase']}" if kind == "phase" else kind
            attributes = {_SPAN_KEYS[k]: v for k, v in fields.items() if k in _SPAN_KEYS}
            with _tracer.start_as_current_span(name, attributes=attributes):
                yield
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("%s.end", kind, extra={"elapsed_ms": elapsed_ms})


def model_called(
    request: ChatRequest, response: ChatResponse, cost_usd: float | None, *, actor: str | None
) -> None:
    """Log an answered model call (model, tokens, latency, cost, attempts) and make its
    span when tracing."""
    if _tracer is None and not calls_log.isEnabledFor(logging.INFO):
        return  # every call passes here: nothing to build when nobody listens
    failed = sum(1 for a in response.attempts if a.outcome != "ok")
    fields = {
        "model": request.model,
        "purpose": request.purpose,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "latency_ms": round(response.latency_ms, 1),
        "cost_usd": cost_usd,
        "attempts": len(response.attempts),
        "failed_attempts": failed,
        "finish_reason": response.finish_reason,
    }
    with bound(actor=actor):
        calls_log.info("model.call", extra=fields)
        if _tracer is not None:
            attributes = {
                "gen_ai.response.model": response.served_model or response.model,
                "gen_ai.response.finish_reasons": (response.finish_reason or "unknown",),
                "gen_ai.usage.input_tokens": response.input_tokens,
                "gen_ai.usage.output_tokens": response.output_tokens,
                "scenario_lab.cost_usd": cost_usd,
                "scenario_lab.attempts": len(response.attempts),
                "scenario_lab.failed_attempts": failed,
            }
            _model_span(request, attributes, response.latency_ms, None)


def model_call_failed(request: ChatRequest, error: BaseException, *, actor: str | None) -> None:
    """Log a model call that no model answered (every attempt, why) and make its span,
    marked as an error, when tracing."""
    attempts = tuple(getattr(error, "attempts", ()))
    latency_ms = sum(a.latency_ms for a in attempts)
    fields = {
        "model": request.model,
        "purpose": request.purpose,
        "attempts": len(attempts),
        "outcomes": ",".join(a.outcome for a in attempts),
        "latency_ms": round(latency_ms, 1),
        "error": str(error),
    }
    with bound(actor=actor):
        calls_log.info("model.call_failed", extra=fields)
        if _tracer is not None:
            attributes = {"scenario_lab.attempts": len(attempts)}
            _model_span(request, attributes, latency_ms, error)


def _model_span(
    request: ChatRequest, more: Mapping[str, Any], latency_ms: float, error: BaseException | None
) -> None:
    """The GenAI span of a call that has ended: it spans the client's wall time
    (retries included, the wait for a concurrency slot not), under the current span."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from .context import current

    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": _system(request.model),
        "gen_ai.request.model": request.model,
        "gen_ai.request.temperature": request.temperature,
        "gen_ai.request.seed": request.seed,
        "gen_ai.request.max_tokens": request.max_tokens,
        "scenario_lab.purpose": request.purpose,
        **{_SPAN_KEYS[k]: v for k, v in current().items() if k in _SPAN_KEYS},
        **more,
    }
    end = time.time_ns()
    span = _tracer.start_span(
        f"chat {request.model}",
        kind=SpanKind.CLIENT,
        start_time=end - int(latency_ms * 1_000_000),
        attributes={k: v for k, v in attributes.items() if v is not None},
    )
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, str(error)))
    span.end(end_time=end)


def _system(model: str) -> str:
    """``gen_ai.system``: every endpoint speaks OpenAI's chat-completions protocol;
    Ollama is named where the routing name says it is the one answering."""
    return "ollama" if model.startswith("ollama/") else "openai"
