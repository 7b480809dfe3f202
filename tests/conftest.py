"""Shared fixtures: a fresh log on a real file, closed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from eventstore import EventStore
from tests.store_helpers import build_run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    """A new, empty log in ``tmp_path``; real SQLite, WAL, like the CLI's."""
    s = EventStore.open(tmp_path / "log.db")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def make_run(store: EventStore) -> Callable[..., str]:
    """``make_run(turns=3, unfinished=False, run_id=None)``: a small valid run in ``store``."""
    return partial(build_run, store)
