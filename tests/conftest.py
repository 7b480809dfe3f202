"""Shared fixtures: a fresh log on a real file, closed after each test.

A test module marked ``pytestmark = pytest.mark.backends`` runs each of its tests that
use ``store`` or ``db`` twice: on an SQLite file and on a PostgreSQL log (a schema of
its own in a throwaway cluster started once per session, ``tests/pg_helpers.py``).
Without PostgreSQL those runs are skipped with the reason, and fail when env ``CI``
is set (CI installs it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from eventstore import EventStore
from tests.pg_helpers import Cluster, find_bin, psycopg_missing, running_cluster
from tests.store_helpers import build_run

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("backends"):
        # sqlite_only(reason): a test of something only the SQLite backend has
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("backend", ["sqlite"] if only else BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster for the session; skipped (failed under CI) without one."""
    reason = psycopg_missing() or (
        None
        if find_bin()
        else "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    )
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the PostgreSQL tests, but {reason}")
        pytest.skip(reason)
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: the backend of ``db`` (sqlite unless the module is
    marked ``backends``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where a new log goes: a file in ``tmp_path``, or a fresh PostgreSQL log's URL."""
    if backend == "sqlite":
        return tmp_path / "log.db"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.fresh_log()


@pytest.fixture
def store(db: Path | str) -> Iterator[EventStore]:
    """A new, empty log at ``db``; real SQLite (WAL, like the CLI's) or PostgreSQL."""
    s = EventStore.open(db)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def make_run(store: EventStore) -> Callable[..., str]:
    """``make_run(turns=3, unfinished=False, run_id=None)``: a small valid run in ``store``."""
    return partial(build_run, store)
