"""Catching the analytics file up with the log, incrementally or from scratch.

The log is read in stretches of ``chunk_events``; up to ``transaction_events`` of them
are applied in one DuckDB transaction that also records the last position applied
(``projection_state``), so an interrupted catch-up resumes where the last commit left
it and never applies an event twice.

Forks: a fork's rows are its parent's rows up to the fork point plus its own. At the
end of the transaction that applied a ``RunForked``, the parent's rows with
``seq <= fork_seq`` are copied under the fork's id with ``INSERT ... SELECT`` (forks of
forks created in the same transaction go in later rounds, once their parent's copies
exist). A parent's later events have
``seq > fork_seq`` and are recorded under the parent's id only, so they never reach the
fork.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import pyarrow as pa

from eventstore import EventStore, UsageError, collector_paused, is_url

from ._batches import sync_batches
from ._catalog import (
    EVENT_TABLES,
    SCHEMA_VERSION,
    TABLES,
    create_statements,
    drop_statements,
)
from ._columns import Batch, ForkSpec, json_text
from ._derived import Lineage, recompute, refine_liveness, store_lineage
from ._duck import arrow_table, connect, insert_arrow
from ._errors import AnalyticsError
from ._query import one_line
from ._sql_rows import insert_sql_rows
from ._stretch import prepare

# At least one DuckDB row group (122,880 rows) of events per transaction: a big
# transaction writes compressed row groups straight to the file, a small one goes
# through the WAL and is compressed again at checkpoint (3x slower commits measured).
CHUNK_EVENTS = 131_072
# Stretches applied per transaction, up to this many events. Each commit pays fixed
# costs: rows short of a full row group go through the WAL and are compressed again at
# checkpoint, and the fork copies and the derived recompute each scan the tables. One
# transaction for a 1M-event rebuild took half the DuckDB time of eight; four of 262k
# cost twice the CPU of one (7.7-8.3 s against 3.3-3.7 s for the fork copies, recompute and
# commits of 1M events), more than the overlap of their commits with the reading saves.
# The bound keeps what an interrupted catch-up of a huge log loses to seconds of work.
TRANSACTION_EVENTS = 1_048_576


@dataclass(frozen=True)
class ProjectResult:
    """What a catch-up did."""

    path: Path
    events: int  # events applied
    runs: int  # runs whose rows changed
    forks: int  # forks whose inherited rows were materialised
    position: int  # the last log position applied
    rebuilt: bool
    reason: str  # why it was rebuilt ("" when it was not)
    seconds: float

    def summary(self) -> str:
        """One line for a person: what was applied, and why a rebuild happened."""
        what = "rebuilt" if self.rebuilt else "caught up"
        why = f" ({self.reason})" if self.reason else ""
        if not self.events and not self.rebuilt:
            return f"{self.path}: up to date at position {self.position}"
        return (
            f"{self.path}: {what}{why}: {self.events} events, {self.runs} runs, "
            f"{self.forks} forks materialised, now at position {self.position} "
            f"({self.seconds:.2f} s)"
        )


def analytics_path(db_path: str | Path, override: str | Path | None = None) -> Path:
    """Where the analytics of a log live: ``override``, else the log with ``.duckdb``.

    An ``override`` that is the log itself (or one of its SQLite side files) is a
    ``UsageError``, before anything is opened: see ``check_analytics_path``.
    """
    if override:
        path = Path(override)
        check_analytics_path(db_path, path)
        return path
    if is_url(db_path):  # a PostgreSQL log: named for its database (and schema), here
        return Path(_pg_log_name(str(db_path)) + ".duckdb")
    db = Path(db_path)
    path = db.with_suffix(".duckdb")
    return path if path != db else db.with_name(db.name + ".analytics.duckdb")


def _pg_log_name(url: str) -> str:
    """``database`` or ``database-schema`` (a search_path in the URL's options)."""
    parts = urlsplit(url)
    name = parts.path.strip("/") or "scenario-lab"
    options = " ".join(parse_qs(parts.query).get("options", []))
    found = re.search(r"search_path\s*=\s*([\w$]+)", options)
    return f"{name}-{found.group(1)}" if found else name


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path.absolute()


def _same_file(a: Path, b: Path) -> bool:
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, case-insensitive file systems
    except OSError:  # one of them does not exist
        return False


def check_analytics_path(db_path: str | Path, analytics: str | Path) -> None:
    """Refuse an analytics path that is the log, or its ``-wal``/``-shm``/``-journal``
    file, however it is spelled (relative, through symlinks): DuckDB would fail on it,
    and a catch-up would write into the log."""
    if is_url(db_path):  # not a file: nothing to confuse the analytics file with
        return
    db, target = Path(db_path), Path(analytics)
    log = _resolved(db)
    for suffix, what in (
        ("", "the log itself"),
        ("-wal", "the log's write-ahead file"),
        ("-shm", "the log's shared-memory file"),
        ("-journal", "the log's journal"),
    ):
        if _same_file(target, log.with_name(log.name + suffix)):
            raise UsageError(
                f"the analytics file {target} is {what}",
                hint=f"choose another --analytics path, e.g. {analytics_path(db)}",
            )


def _state(con: duckdb.DuckDBPyConnection) -> tuple[int, int, str] | None:
    try:
        row = con.execute(
            "SELECT schema_version, position, event_id FROM projection_state"
        ).fetchone()
    except duckdb.CatalogException:
        return None
    return (int(row[0]), int(row[1]), str(row[2])) if row else None


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE NOT internal").fetchone()
    return bool(row and row[0])


def _why_rebuild(store: EventStore, state: tuple[int, int, str] | None) -> str:
    if state is None:
        return "new analytics file"
    version, position, event_id = state
    if version != SCHEMA_VERSION:
        return f"schema version {version} -> {SCHEMA_VERSION}"
    if position == 0:
        return ""
    if store.event_id_at(position) != event_id:
        return "it was built from another log"
    return ""


def _reset(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("BEGIN")
    try:
        for sql in drop_statements(con) + create_statements():
            con.execute(sql)
        con.execute("INSERT INTO projection_state VALUES (?, 0, '')", (SCHEMA_VERSION,))
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)  # a failed COMMIT (a full disk) has already ended the transaction
        raise


def _copy_sql(table: str) -> str:
    cols = []
    for name in TABLES[table].columns:
        cols.append(
            "f.run_id" if name == "run_id" else "true" if name == "inherited" else f"s.{name}"
        )
    return (
        f"INSERT INTO {table} SELECT {', '.join(cols)} FROM {table} s "
        "JOIN _forks f ON s.run_id = f.parent_run_id AND s.seq <= f.fork_seq"
    )


def _copy_forks(con: duckdb.DuckDBPyConnection, forks: list[ForkSpec]) -> None:
    """Materialise the inherited rows of new forks, parents before their own forks."""
    pending = list(forks)
    while pending:
        waiting = {f.run_id for f in pending}
        ready = [f for f in pending if f.parent_run_id not in waiting]
        data = pa.table(
            {
                "run_id": pa.array([f.run_id for f in ready], pa.string()),
                "parent_run_id": pa.array([f.parent_run_id for f in ready], pa.string()),
                "fork_seq": pa.array([f.fork_seq for f in ready], pa.int32()),
            }
        )
        con.register("_forks", data)
        try:
            for table in EVENT_TABLES:
                con.execute(_copy_sql(table))
        finally:
            con.unregister("_forks")
        done = {f.run_id for f in ready}
        pending = [f for f in pending if f.run_id not in done]


def _actors(scenario: dict[str, Any]) -> dict[str, Any]:
    actors = scenario.get("actors")
    keep = ("name", "role", "control", "llm_model", "goals")
    if isinstance(actors, dict):
        return {
            str(k): {f: v[f] for f in keep if f in v} if isinstance(v, dict) else {}
            for k, v in actors.items()
        }
    if isinstance(actors, list):
        out: dict[str, Any] = {}
        for a in actors:
            if isinstance(a, dict):
                key = a.get("short_name") or a.get("name") or str(len(out))
                out[str(key)] = {f: a[f] for f in keep if f in a}
            else:
                out[str(a)] = {}
        return out
    return {}


def _insert_scenarios(con: duckdb.DuckDBPyConnection, scenarios: dict[str, dict[str, Any]]) -> None:
    if not scenarios:
        return
    cols: dict[str, list[Any]] = {c: [] for c in TABLES["scenarios"].columns}
    for sha, sc in scenarios.items():
        turns = sc.get("turns")
        cols["scenario_sha256"].append(sha)
        cols["name"].append(str(sc.get("name", "")))
        cols["description"].append(str(sc.get("description", "") or ""))
        cols["initial_world_state"].append(str(sc.get("initial_world_state", "") or ""))
        cols["turns"].append(turns if isinstance(turns, int) else None)
        cols["actors"].append(json_text(_actors(sc)))
        metrics = sc.get("metrics")
        cols["metrics"].append(json_text(metrics if isinstance(metrics, list) else []))
        cols["scenario"].append(json_text(sc))
    con.register("_scenarios", arrow_table("scenarios", cols))
    try:
        con.execute(
            "INSERT INTO scenarios SELECT * FROM _scenarios WHERE scenario_sha256 NOT IN "
            "(SELECT scenario_sha256 FROM scenarios)"
        )
    finally:
        con.unregister("_scenarios")


@dataclass
class _Span:
    """What one transaction has applied so far, for the work done once at its end."""

    forks: list[ForkSpec] = field(default_factory=list)
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)
    count: int = 0
    last_position: int = 0
    last_event_id: str = ""

    def add(self, batch: Batch) -> None:
        self.forks += batch.forks
        for sha, scenario in batch.scenarios.items():
            self.scenarios.setdefault(sha, scenario)
        self.runs |= batch.runs
        self.count += batch.count
        self.last_position = batch.last_position
        self.last_event_id = batch.last_event_id


def _insert(
    con: duckdb.DuckDBPyConnection,
    stretch: pa.Table,
    tables: dict[str, pa.Table],
    sql_types: list[str],
    begin: bool,
) -> None:
    if begin:
        con.execute("BEGIN")
    insert_sql_rows(con, stretch, sql_types)
    for table, data in tables.items():
        insert_arrow(con, table, data)


def _finish(con: duckdb.DuckDBPyConnection, span: _Span, lineage: Lineage) -> None:
    """Once per transaction: inherited rows of new forks, scenarios, the derived tables
    of every touched run, the position; then commit."""
    _copy_forks(con, span.forks)
    _insert_scenarios(con, span.scenarios)
    recompute(con, lineage)
    con.execute(
        "UPDATE projection_state SET position = ?, event_id = ?",
        (span.last_position, span.last_event_id),
    )
    con.execute("COMMIT")


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with suppress(duckdb.TransactionException):  # it failed before BEGIN or after COMMIT
        con.execute("ROLLBACK")


def project(
    store: EventStore,
    analytics: str | Path,
    *,
    rebuild: bool = False,
    check_leases: bool = False,
    chunk_events: int = CHUNK_EVENTS,
    transaction_events: int = TRANSACTION_EVENTS,
    sql_rows: bool = True,
) -> ProjectResult:
    """Bring the analytics file at ``analytics`` up to date with ``store``'s log.

    ``rebuild`` drops every table and applies the whole log again; a file of another
    schema version, or built from another log, is rebuilt without being asked.
    ``check_leases`` shows runs whose last lifecycle event says they are playing but
    that no live process holds as ``interrupted`` (the CLI does this). DuckDB builds
    the frequent types' rows from their payloads (``_stretch``, ``_sql_rows``);
    ``sql_rows=False`` builds every row in Python (``_columns``), the slower reference
    that the equivalence tests compare with.
    """
    start = time.perf_counter()
    path = Path(analytics)
    check_analytics_path(store.path, path)
    con = connect(path)
    try:
        # One DuckDB thread: this thread keeps the other core busy reading and converting
        # the next stretch. Two threads for the loads fought it: a slower rebuild.
        con.execute("SET threads = 1")
        if _state(con) is None and _has_tables(con):
            # a rebuild drops tables by our names: never in a database we did not make
            raise AnalyticsError(
                f"the analytics file {path} is a DuckDB database scenario-lab did not make",
                hint="it was left as it is; choose another --analytics path",
            )
        reason = "asked" if rebuild else _why_rebuild(store, _state(con))
        if reason:
            _reset(con)
        state = _state(con)
        position = state[1] if state else 0
        events = 0
        runs: set[str] = set()
        forks = 0
        # DuckDB releases the GIL while it writes: stretch k is inserted on a worker
        # thread while this one reads and converts stretch k + 1 (one at a time, in
        # order, so memory holds at most three stretches). The worker runs every
        # statement of the connection, so they stay in order.
        with collector_paused(), ThreadPoolExecutor(1, "projection") as pool:
            pending: Future[None] | None = None

            def then(fn: Any, *args: Any) -> None:
                nonlocal pending
                if pending is not None:
                    pending.result()
                pending = pool.submit(fn, con, *args)

            try:
                span: _Span | None = None
                for raw in store.iter_raw_arrow(position, chunk=chunk_events):
                    stretch, tables, batch = prepare(raw, sql_rows=sql_rows)
                    then(_insert, stretch, tables, batch.sql_types, span is None)
                    span = span or _Span()
                    span.add(batch)
                    if span.count >= transaction_events:
                        then(_finish, span, store_lineage(store, span.runs))
                        span = None
                    events += batch.count
                    runs |= batch.runs
                    forks += len(batch.forks)
                    position = batch.last_position
                if span is not None:
                    then(_finish, span, store_lineage(store, span.runs))
                if pending is not None:
                    pending.result()
            except BaseException:
                if pending is not None:
                    wait([pending])
                _rollback(con)
                raise
        sync_batches(con, store)
        if check_leases:
            refine_liveness(con, store.path)
    except duckdb.Error as e:  # e.g. a full disk: what the last commit wrote stays
        raise AnalyticsError(
            f"cannot update the analytics file {path}: {one_line(e)}",
            hint="it keeps its last complete catch-up; fix the cause and run the command again",
        ) from e
    finally:
        con.close()
    return ProjectResult(
        path=path,
        events=events,
        runs=len(runs),
        forks=forks,
        position=position,
        rebuilt=bool(reason),
        reason="" if reason == "asked" else reason,
        seconds=time.perf_counter() - start,
    )
