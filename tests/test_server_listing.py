"""The paged run listing behind ``GET runs`` and the events page behind ``GET events``:
filters in the store's query (keyset pages, same answer as filtering every run), a log
of an older schema upgraded with its label index filled on first use, the lifecycle
lookup on its index, and event pages that start where ``after`` falls, each line
written byte for byte as ``log --json`` writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.summary import summarize_all
from eventstore import EventStore, RunCompleted, RunFailed, RunHalted, RunResumed
from eventstore._listing import _LAST_LIFECYCLE
from scenario_lab.app import InvalidRequest, ListRuns, LogQuery
from scenario_lab.app.reads import list_runs, log_page
from scenario_lab.app.settings import LabSettings
from tests.engine_helpers import cli
from tests.legacy_logs import as_legacy
from tests.server_helpers import bearer, live, make_world
from tests.store_helpers import build_run, raw_connection, setup_events

STATUSES = ("running", "not_started", "interrupted", "halted", "completed", "failed")


def _root(store: EventStore, scenario: str, tags: tuple[str, ...], batch: str | None) -> str:
    first, *rest = setup_events()
    started = msgspec.structs.replace(first, scenario_name=scenario, tags=tags)  # type: ignore[type-var]
    return store.create_run(events=[started, *rest], batch_id=batch)


def _end(store: EventStore, run: str, how: int) -> None:
    """Leave ``run`` interrupted (0), halted, completed, failed or resumed again."""
    ending = [
        None,
        RunHalted(turn=0, reason="user"),
        RunCompleted(turn=0, turns_completed=0, total_cost_usd=0.0),
        RunFailed(turn=0, error="boom"),
        RunResumed(turn=0),
    ][how % 5]
    if ending is not None:
        if isinstance(ending, RunResumed):
            store.append(run, [RunHalted(turn=0, reason="user")], expected_seq=store.last_seq(run))
        store.append(run, [ending], expected_seq=store.last_seq(run))


def _log(path: Path, runs: int = 23) -> dict[str, Any]:
    with EventStore.open(path) as store:
        batch = store.create_batch("b", b"{}", "0" * 64)
        ids = []
        for i in range(runs):
            run = _root(
                store,
                ("alpha", "beta")[i % 2],
                tuple(t for t, every in (("x", 2), ("y", 3)) if i % every == 0),
                batch if i % 4 == 0 else None,
            )
            _end(store, run, i)
            ids.append(run)
        forks = [
            store.fork(ids[1], 0, changes={"tags": ("z",)}),
            store.fork(ids[2], 0),
        ]
    return {"ids": ids, "forks": forks, "batch": batch}


def _reference(settings: LabSettings, query: ListRuns, batch_id: str | None) -> list[str]:
    """The listing as filtering every run's summary would give it."""
    with EventStore.open(settings.db) as store:
        rows = summarize_all(store, batch_id=batch_id)
    rows.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
    return [
        r.run_id
        for r in rows
        if (query.status is None or r.status == query.status)
        and (query.scenario is None or r.scenario == query.scenario)
        and (query.parent is None or r.parent_run_id == query.parent)
        and set(query.tags) <= set(r.tags)
    ]


def _pages(settings: LabSettings, query: ListRuns) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page = list_runs(settings, msgspec.structs.replace(query, cursor=cursor))
        assert len(page.runs) <= (query.limit or 10**9)
        ids += [r.run_id for r in page.runs]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("no last page")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[LabSettings, dict[str, Any]]:
    path = tmp_path_factory.mktemp("listing") / "log.db"
    made = _log(path)
    return LabSettings(db=path), made


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.sampled_from((None, *STATUSES)),
    scenario=st.sampled_from((None, "alpha", "beta", "gamma")),
    tags=st.sets(st.sampled_from(("x", "y", "z", "w")), max_size=2),
    in_batch=st.booleans(),
    parent=st.sampled_from((None, 1, 2)),
    limit=st.sampled_from((None, 1, 2, 5, 50)),
)
def test_pages_of_any_filter_are_every_matching_run_once_newest_first(
    log: tuple[LabSettings, dict[str, Any]],
    status: str | None,
    scenario: str | None,
    tags: set[str],
    in_batch: bool,
    parent: int | None,
    limit: int | None,
) -> None:
    lab, made = log
    query = ListRuns(
        status=status,
        scenario=scenario,
        tags=tuple(sorted(tags)),
        batch=made["batch"] if in_batch else None,
        parent=made["ids"][parent] if parent is not None else None,
        limit=limit,
    )
    expected = _reference(lab, query, made["batch"] if in_batch else None)
    assert _pages(lab, query) == expected


def test_every_status_and_label_is_found(log: tuple[LabSettings, dict[str, Any]]) -> None:
    lab, made = log
    for status in ("not_started", "interrupted", "halted", "completed", "failed"):
        assert list_runs(lab, ListRuns(status=status)).runs, status
    # a fork recorded without playing never began a turn: not started, not interrupted
    fresh = {r.run_id: r.status for r in list_runs(lab, ListRuns()).runs}
    assert [fresh[f] for f in made["forks"]] == ["not_started", "not_started"]
    forked = list_runs(lab, ListRuns(tags=("z",))).runs
    assert [r.run_id for r in forked] == [made["forks"][0]]
    assert forked[0].scenario == "beta"  # a fork's scenario is its root's


def test_a_cursor_or_status_that_names_nothing_is_refused(
    log: tuple[LabSettings, dict[str, Any]],
) -> None:
    lab, _ = log
    with pytest.raises(InvalidRequest, match="cursor 'nope'"):
        list_runs(lab, ListRuns(cursor="nope"))
    with pytest.raises(InvalidRequest, match="unknown status 'sleeping'"):
        list_runs(lab, ListRuns(status="sleeping"))


def test_the_status_filter_reads_the_lifecycle_index(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EventStore.open(path):
        pass
    with raw_connection(path) as conn:
        plan = " ".join(
            str(row)
            for row in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT r.run_id FROM runs r WHERE {_LAST_LIFECYCLE} = ? "
                "ORDER BY r.created_at DESC, r.run_id DESC LIMIT 5",
                ("RunHalted",),
            )
        )
    assert "ix_events_lifecycle" in plan and "ix_runs_created" in plan


def test_a_schema_3_log_gets_the_indexes_and_labels_on_first_listing(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    made = _log(path, runs=6)
    as_legacy(path, 3)
    lab = LabSettings(db=path)
    query = ListRuns(scenario="alpha", tags=("x",))
    assert _pages(lab, query) == _reference(lab, query, None)
    with raw_connection(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"run_labels", "ix_runs_created", "ix_runs_parent", "ix_events_lifecycle"} <= names
        labelled = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM run_labels")}
    assert labelled == set(made["ids"]) | set(made["forks"])


def test_a_run_recorded_after_the_labels_were_indexed_is_found(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _log(path, runs=3)
    lab = LabSettings(db=path)
    assert list_runs(lab, ListRuns(scenario="gamma")).runs == ()
    with EventStore.open(path) as store:
        late = _root(store, "gamma", ("late",), None)
    assert [r.run_id for r in list_runs(lab, ListRuns(scenario="gamma", tags=("late",))).runs] == [
        late
    ]


def test_an_events_page_after_a_position_starts_there_on_a_fork_too(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with EventStore.open(path) as store:
        root = build_run(store, turns=4)
        other = build_run(store, turns=1)  # interleaved positions of another run
        branch = store.fork(root, 2)
        store.append(
            branch, [RunHalted(turn=3, reason="user")], expected_seq=store.last_seq(branch)
        )
        timeline = [r.position for r in store.iter_events(branch)]
    assert other
    lab = LabSettings(db=path)
    for after in [0, *timeline, timeline[-1] + 100]:
        page = log_page(lab, LogQuery(run=branch, after=after, limit=4))
        assert [e.position for e in page.events] == [p for p in timeline if p > after][:4]


def test_an_events_page_writes_each_line_as_log_json_does(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    lines = cli("log", w.strait, "--json", "--db", w.db).stdout.splitlines()
    with live(w.settings) as srv, srv.client(headers=bearer(w.keys["analyst"])) as c:
        text = c.get(f"/api/v1/runs/{w.strait}/events", params={"limit": 5}).text
    assert text.startswith('{"events": [' + ", ".join(lines[:5]) + "]")
