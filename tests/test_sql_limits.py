"""``sql`` stops a query at its time and memory limits, caps rows, and stays usable.

On a real analytics file (a projected log), through the library and the real CLI:
a query that would run for hours is interrupted at about its timeout, one that needs
more memory than a small limit fails with the memory message, both as one line with
how to raise the limit (exit 1), and the file answers the next query as before.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from eventstore import EventStore, UsageError
from projections import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIMEOUT_S,
    QueryError,
    QueryLimitExceeded,
    QueryLimits,
    analytics_path,
    open_sandboxed,
    project,
    query,
    run_sql,
)
from tests.engine_helpers import cli, subprocess_cli
from tests.projection_logs import family

# Hours of work in DuckDB, a few bytes of output: only a limit ends them.
ENDLESS = (
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1e15) "
    "SELECT max(i) FROM r"
)
CROSS = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b"
# a 20M-element list is ~160 MB in one aggregate state: it cannot spill to disk
GREEDY = "SELECT list(range) FROM range(20000000)"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    db = tmp_path_factory.mktemp("limits") / "log.db"
    with EventStore.open(db) as store:
        family(store)
        project(store, analytics_path(db))
    return db, analytics_path(db)


def _still_usable(db: Path, duck: Path) -> None:
    assert run_sql(duck, "SELECT count(*) FROM runs").rows == [(4,)]
    with EventStore.open(db) as store:
        assert project(store, duck).events == 0  # a writer opens it and finds it current


def one_line_error(result: Any, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("sql", [ENDLESS, CROSS], ids=["recursive", "cross-join"])
def test_a_query_past_its_time_limit_is_interrupted(logged: tuple[Path, Path], sql: str) -> None:
    db, duck = logged
    start = time.monotonic()
    with pytest.raises(QueryLimitExceeded) as caught:
        run_sql(duck, sql, QueryLimits(timeout_s=1.0))
    took = time.monotonic() - start
    assert 1.0 <= took < 10.0, took  # stopped at the limit, not at the end of the work
    assert caught.value.limit == "timeout" and caught.value.value == 1.0
    assert "1 s time limit" in caught.value.message
    _still_usable(db, duck)


def test_a_query_past_its_memory_limit_fails(logged: tuple[Path, Path]) -> None:
    db, duck = logged
    with pytest.raises(QueryLimitExceeded) as caught:
        run_sql(duck, GREEDY, QueryLimits(memory_limit="64MB"))
    assert caught.value.limit == "memory" and caught.value.value == "64MB"
    assert "more than the 64MB memory limit" in caught.value.message
    _still_usable(db, duck)
    # the same query fits under a larger limit: it was the limit, not the query
    [(values,)] = run_sql(duck, GREEDY, QueryLimits(memory_limit="1GB")).rows
    assert len(values) == 20_000_000


def test_the_sql_cannot_raise_its_own_limits(logged: tuple[Path, Path]) -> None:
    _db, duck = logged
    for sql in ("SET memory_limit = '100GB'", "RESET memory_limit", "SET threads = 64"):
        with pytest.raises(QueryError, match="configuration"):
            run_sql(duck, sql, QueryLimits(memory_limit="64MB"))
    [(limit,)] = run_sql(
        duck, "SELECT current_setting('memory_limit')", QueryLimits(memory_limit="64MB")
    ).rows
    assert limit == "61.0 MiB"  # DuckDB prints 64 MB in MiB


def test_a_row_cap_reads_that_many_rows_and_says_so(logged: tuple[Path, Path]) -> None:
    _db, duck = logged
    capped = run_sql(duck, "SELECT range FROM range(1000000000000)", QueryLimits(max_rows=3))
    assert capped.rows == [(0,), (1,), (2,)] and capped.truncated
    exact = run_sql(duck, "SELECT run_id FROM runs", QueryLimits(max_rows=4))
    assert len(exact.rows) == 4 and not exact.truncated
    assert run_sql(duck, "SELECT 1", QueryLimits(max_rows=0)).truncated


def test_queries_without_limits_are_as_before(logged: tuple[Path, Path]) -> None:
    # the reports' own queries pass no limits: no timer, every row
    _db, duck = logged
    with open_sandboxed(duck) as con:
        result = query(con, "SELECT range FROM range(5000)")
    assert len(result.rows) == 5000 and not result.truncated


def test_the_defaults(logged: tuple[Path, Path]) -> None:
    assert QueryLimits() == QueryLimits(timeout_s=DEFAULT_TIMEOUT_S, memory_limit="2GB")
    assert DEFAULT_MEMORY_LIMIT == "2GB" and DEFAULT_TIMEOUT_S == 120.0
    _db, duck = logged
    [(limit,)] = run_sql(duck, "SELECT current_setting('memory_limit')").rows
    assert limit == "1.8 GiB"


@pytest.mark.parametrize(
    "limits",
    [
        {"timeout_s": 0},
        {"timeout_s": -1},
        {"timeout_s": float("nan")},
        {"memory_limit": "lots"},
        {"memory_limit": "0GB"},
        {"memory_limit": "150%"},
        {"memory_limit": "1000"},
        {"max_rows": -1},
    ],
)
def test_limits_that_make_no_sense_are_usage_errors(limits: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        QueryLimits(**limits)


@pytest.mark.parametrize("size", ["500MB", "2 GB", "1.5gb", "4G", "2GiB", "25%", "100%"])
def test_sizes_duckdb_reads_are_accepted(size: str) -> None:
    assert QueryLimits(memory_limit=size).memory_limit == size


# -- through the CLI -------------------------------------------------------------------


def test_the_cli_stops_at_the_timeout_with_one_line(logged: tuple[Path, Path]) -> None:
    # a real process: DuckDB writes its progress bar (past ~2 s, for a query whose
    # progress it can estimate, as this join's) to file descriptor 1, which an
    # in-process runner would not see
    db, _duck = logged
    start = time.monotonic()
    proc = subprocess_cli("sql", CROSS, "--db", str(db), "--timeout", "3", "-f", "csv", env={})
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 1, err
    assert out == ""  # no progress bar inside the CSV
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in ("error: ", "3 s time limit", "--timeout SECONDS", "SCENARIO_LAB_SQL_TIMEOUT"):
        assert needle in err, err
    assert cli("sql", "SELECT count(*) AS n FROM runs", "--db", db, "-f", "csv").stdout == "n\n4\n"


def test_the_cli_stops_at_the_memory_limit_with_one_line(logged: tuple[Path, Path]) -> None:
    db, _duck = logged
    result = cli("sql", GREEDY, "--db", db, "--memory-limit", "64MB")
    one_line_error(result, "64MB memory limit", "--memory-limit SIZE", "SCENARIO_LAB_SQL_MEMORY")


def test_the_cli_limits_come_from_the_environment(logged: tuple[Path, Path]) -> None:
    db, _duck = logged
    env = {"SCENARIO_LAB_SQL_MEMORY": "64MB", "SCENARIO_LAB_SQL_TIMEOUT": "30"}
    one_line_error(cli("sql", GREEDY, "--db", db, env=env), "64MB memory limit")
    quick = {"SCENARIO_LAB_SQL_TIMEOUT": "1"}
    one_line_error(cli("sql", ENDLESS, "--db", db, env=quick), "1 s time limit")
    # an option beats the environment; 0 is no time limit
    unlimited = cli("sql", "SELECT 42 AS x", "--db", db, "--timeout", "0", "-f", "csv", env=quick)
    assert unlimited.exit_code == 0 and unlimited.stdout == "x\n42\n"


def test_the_cli_refuses_limits_that_make_no_sense(logged: tuple[Path, Path]) -> None:
    db, _duck = logged
    bad = cli("sql", "SELECT 1", "--db", db, "--memory-limit", "lots")
    assert bad.exit_code == 2 and "memory limit 'lots' is not a size" in bad.stderr
    assert "Traceback" not in bad.output
    negative = cli("sql", "SELECT 1", "--db", db, "--timeout", "-1")
    assert negative.exit_code == 2 and "Traceback" not in negative.output
