"""Log configuration for a front end: level, text or JSON lines, stderr or a file.

Every line carries the engine's log context (run, turn, actor, phase, batch: see
``engine.observe``) and passes the redaction of ``redact``. Lines go to stderr, never
stdout, so a command's data output (``--json``) stays clean; or, with a file, only
there. The formatting is structlog's stdlib integration (``ProcessorFormatter``),
built when the first line is written: a command that logs nothing never imports it.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.observe import ContextFilter

from .redact import redact_fields, scrub

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("text", "json")

_installed: list[logging.Handler] = []  # ours, replaced when configured again


class LogSetupError(ValueError):
    """A log setting that cannot be used: ``setting`` is ``level``, ``format`` or
    ``file``; the message is one line that names the value."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class LogSettings:
    """Where lines go and how they look. ``secrets``: values no line may show (see
    ``redact.secrets_from_env``)."""

    level: str = "warning"
    format: str = "text"
    file: Path | None = None
    secrets: tuple[str, ...] = ()

    def checked(self) -> LogSettings:
        """These settings with level and format in lower case; ``LogSetupError`` for
        one that is not known."""
        level, fmt = self.level.strip().lower(), self.format.strip().lower()
        if level not in LEVELS:
            raise LogSetupError(
                f"log level {self.level!r} is not one of {', '.join(LEVELS)}", "level"
            )
        if fmt not in FORMATS:
            raise LogSetupError(f"log format {self.format!r} is not one of text, json", "format")
        return LogSettings(level, fmt, self.file, self.secrets)


def configure_logging(settings: LogSettings) -> None:
    """Send the process's log lines (every logger's) as ``settings`` say; a second call
    replaces what the first installed. ``LogSetupError`` when the level or format is
    unknown or the file cannot be opened for appending."""
    settings = settings.checked()
    handler: logging.Handler
    if settings.file is not None:
        try:
            handler = logging.FileHandler(settings.file, encoding="utf-8")
        except OSError as e:
            raise LogSetupError(
                f"cannot write the log file {settings.file}: {e.strerror or e}", "file"
            ) from None
    else:
        handler = _Stderr()
    handler.setFormatter(_LazyFormatter(settings.format, settings.secrets))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
        old.close()
    _installed[:] = [handler]
    root.addHandler(handler)
    root.setLevel(settings.level.upper())


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever ``sys.stderr`` is when a line is written (a test runner or
    a progress display may replace it after logging was configured)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """Ignored: the handler always writes to whatever ``sys.stderr`` is now."""


class _LazyFormatter(logging.Formatter):
    """structlog's formatter, made on first use, then every line scrubbed of secrets."""

    def __init__(self, fmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._format = fmt
        self._secrets = secrets
        self._inner: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._inner is None:
            self._inner = _structlog_formatter(self._format)
        return scrub(self._inner.format(record), self._secrets)


def _structlog_formatter(fmt: str) -> logging.Formatter:
    import structlog
    from structlog.stdlib import ExtraAdder, ProcessorFormatter

    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(default=str)
        last = [structlog.processors.dict_tracebacks, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        last = [renderer]
    return ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            ExtraAdder(),  # the event's fields and the stamped context
            redact_fields,
        ],
        processors=[ProcessorFormatter.remove_processors_meta, *last],
    )
