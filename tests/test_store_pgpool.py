"""Pooled connections to a PostgreSQL log (``eventstore/_pgpool.py``): the first open of
a log in a process connects and checks it; later opens borrow a checked connection
from the process's pool and give it back clean."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from eventstore import EventStore, StoreError
from eventstore import _pgpool as pooling
from tests.pg_helpers import Cluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(pg_cluster: Cluster) -> Iterator[str]:
    fresh = pg_cluster.fresh_log()
    try:
        yield fresh
    finally:
        pooling.close_pools()


def _backend_pid(store: EventStore) -> int:
    return int(store._conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def test_the_first_open_connects_and_later_opens_reuse_one_pooled_connection(url: str) -> None:
    with EventStore.open(url) as store:
        first = _backend_pid(store)
        run_id = store.create_run()
    pids = []
    for _ in range(5):
        with EventStore.open(url, create=False) as store:
            pids.append(_backend_pid(store))
            assert store.run_info(run_id).run_id == run_id
    # a connection or two (the pool may grow while its first one connects) served the
    # five opens one after the other; the direct one is gone
    assert len(set(pids)) <= 2 and first not in pids
    assert (os.getpid(), url) in pooling._pools


def test_stores_open_at_once_get_connections_of_their_own(url: str) -> None:
    EventStore.open(url).close()
    stores = [EventStore.open(url) for _ in range(3)]
    try:
        assert len({_backend_pid(s) for s in stores}) == 3
    finally:
        for s in stores:
            s.close()


def test_a_connection_given_back_mid_transaction_is_rolled_back(url: str) -> None:
    EventStore.open(url).close()
    store = EventStore.open(url)
    store._conn.execute("BEGIN IMMEDIATE")  # holds the log's write lock
    store._conn.execute("INSERT INTO runs (run_id, root_run_id, depth, created_at) "
                        "VALUES ('half', 'half', 0, 'now')")  # fmt: skip
    store.close()
    with EventStore.open(url) as again:
        assert not again._conn.in_transaction
        assert [r.run_id for r in again.list_runs()] == []
        again.create_run("whole")  # the write lock went with the rollback
        assert [r.run_id for r in again.list_runs()] == ["whole"]


def test_a_pooled_connection_the_server_dropped_is_replaced(url: str, pg_cluster: Cluster) -> None:
    import psycopg

    EventStore.open(url).close()
    with EventStore.open(url) as store:
        victim = _backend_pid(store)
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (victim,))
    with EventStore.open(url) as store:  # checked before it is lent: a new one
        assert _backend_pid(store) != victim
        assert store.list_runs() == []


def test_a_log_never_opened_here_gets_its_one_line_error_not_a_pool_wait(
    pg_cluster: Cluster,
) -> None:
    missing = pg_cluster.url(database="no_such_db")
    with pytest.raises(StoreError, match="cannot reach the PostgreSQL log") as info:
        EventStore.open(missing)
    assert "check that the server runs" in (info.value.hint or "")
    assert not any(k[1] == missing for k in pooling._pools)


def test_a_process_keeps_few_pools(pg_cluster: Cluster) -> None:
    urls = [pg_cluster.fresh_log() for _ in range(pooling.MAX_POOLS + 2)]
    kept: list[Any] = []
    try:
        for u in urls:
            EventStore.open(u).close()
            with EventStore.open(u) as store:  # the second open: a pool for u
                kept.append(store.list_runs())
        mine = [k for k in pooling._pools if k[0] == os.getpid()]
        assert [k[1] for k in mine] == urls[-pooling.MAX_POOLS :]
    finally:
        pooling.close_pools()
