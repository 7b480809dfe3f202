"""Trace export: spans of runs, turns, phases and model calls to an OTLP collector.

Needs the ``otel`` extra (opentelemetry-sdk and the OTLP/HTTP exporter). The exporter
reads the standard ``OTEL_EXPORTER_OTLP_*`` variables itself (endpoint, headers,
timeout); ``OTEL_SERVICE_NAME`` names the service (default ``scenario-lab``).
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_tracing(environ: Mapping[str, str], *, exporter: Any = None) -> bool:
    """Turn spans on when ``environ`` names an OTLP endpoint (or an ``exporter`` is
    given, as tests give an in-memory one). Returns whether spans are now made.

    Without the ``otel`` extra installed this imports nothing, logs one warning when an
    endpoint was asked for, and the run goes on untraced.
    """
    if exporter is None and not any(environ.get(v) for v in ENDPOINT_VARS):
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.warning(
            "tracing.unavailable",
            extra={"fix": "pip install 'scenario-lab[otel]' to export traces"},
        )
        return False
    from engine.observe import use_tracer

    service = environ.get("OTEL_SERVICE_NAME") or "scenario-lab"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        # spans still queued are sent when the process ends
        atexit.register(provider.shutdown)
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer(provider.get_tracer("scenario-lab"))
    return True
