"""The server's settings: built by the CLI (or a test) and passed to ``create_app``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from scenario_lab.app import BUNDLED_SCENARIOS, LabSettings


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` needs; nothing is read from the environment later."""

    db: Path | str  # a file, or a postgresql:// URL
    analytics: Path | None = None  # default: the .duckdb beside the log
    scenario_dirs: tuple[Path, ...] = ()  # folders whose sub-folders are scenarios
    host: str = "127.0.0.1"
    port: int = 8000
    # False: no user or key exists, so the server runs open (loopback only) and every
    # request acts as an admin; True: every route but /healthz and login needs a principal
    accounts: bool = True
    session_ttl: timedelta = timedelta(hours=12)
    max_body_bytes: int = 1 << 20
    # requests per minute of a signed-in user (a key has its own limit, or none)
    user_rate_per_min: int | None = 600
    login_attempts_per_min: int = 10
    # how often the stream tails the log, and how often an idle stream says it is alive
    poll_interval_s: float = 0.02
    heartbeat_s: float = 15.0
    subscriber_queue: int = 1000
    bundled_scenarios: Path | None = field(default=BUNDLED_SCENARIOS)
    # where model calls of the runs it plays go (``LLMSettings``; None: nothing set up,
    # so only rule-driven and human seats play), a price file, calls in flight per run
    llm: Any = None
    prices: Path | None = None
    concurrency: int = 8

    def lab_settings(self) -> LabSettings:
        """The application layer's settings: the bundled scenarios, then each folder."""
        bundled = (self.bundled_scenarios,) if self.bundled_scenarios is not None else ()
        return LabSettings(
            db=self.db,
            analytics=self.analytics,
            llm=self.llm,
            prices=self.prices,
            concurrency=self.concurrency,
            scenario_dirs=(*bundled, *self.scenario_dirs),
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
