"""How a front end shows what the engine does: log lines and trace spans.

The library logs through stdlib ``logging`` and binds its context (run, turn, actor,
phase, batch) with ``engine.observe``; this package decides how lines look and where
they go (``configure_logging``), and turns spans on (``configure_tracing``) when
OpenTelemetry is installed (the ``otel`` extra) and ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set. A front end calls both once at start-up (the CLI, in its root callback).

Importing this package loads neither structlog nor OpenTelemetry: structlog loads when
the first line is written, OpenTelemetry only when tracing is turned on, so a command
that logs nothing pays nothing for them.
"""

from __future__ import annotations

from .logs import FORMATS, LEVELS, LogSettings, LogSetupError, configure_logging
from .redact import REDACTED, secrets_from_env
from .traces import configure_tracing

__all__ = [
    "FORMATS",
    "LEVELS",
    "REDACTED",
    "LogSettings",
    "LogSetupError",
    "configure_logging",
    "configure_tracing",
    "secrets_from_env",
]
