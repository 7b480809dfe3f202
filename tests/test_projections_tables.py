"""The analytics tables: contents per event type, forks, catch-up, rebuild triggers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from eventstore import EVENT_TYPES, EventStore, MessageSent, StoreError
from projections import SCHEMA_VERSION, TABLES, analytics_path, open_readonly, project, query
from projections._catalog import PAYLOAD_TYPES
from projections._columns import HANDLERS
from tests.projection_logs import RunShape, continue_run, family, write_run
from tests.store_helpers import raw_connection


@pytest.fixture
def duck(tmp_path: Path) -> Path:
    return tmp_path / "a.duckdb"


def q(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with open_readonly(path) as con:
        return query(con, sql, list(params)).rows


@pytest.fixture
def fam(store: EventStore, duck: Path) -> Iterator[dict[str, str]]:
    ids = family(store)
    project(store, duck)
    yield ids


def test_default_path_is_beside_the_log() -> None:
    assert analytics_path("runs/x.db") == Path("runs/x.duckdb")
    assert analytics_path("runs/log") == Path("runs/log.duckdb")
    assert analytics_path("x.duckdb") == Path("x.duckdb.analytics.duckdb")
    assert analytics_path("x.db", "elsewhere.duckdb") == Path("elsewhere.duckdb")


def test_every_event_is_in_events_with_the_payloads_no_table_holds(
    store: EventStore, duck: Path, fam: dict[str, str]
) -> None:
    own = q(duck, "SELECT count(*) FROM events WHERE NOT inherited")[0][0]
    assert own == store.max_position()
    # a type without a table keeps its JSON as stored; a tabled type's facts are its rows
    kept = q(
        duck,
        "SELECT position, payload FROM events WHERE payload IS NOT NULL AND NOT inherited "
        "ORDER BY position",
    )
    marks = ", ".join("?" * len(PAYLOAD_TYPES))
    with raw_connection(store.path) as conn:
        stored = conn.execute(
            "SELECT position, CAST(payload AS TEXT) FROM events "
            f"WHERE type IN ({marks}) ORDER BY position",
            PAYLOAD_TYPES,
        ).fetchall()
    assert kept == stored and any("DecisionRequested" in p for _, p in kept)
    # a fork's timeline in `events` is exactly what the store reads for it
    for run in fam.values():
        stored = [(r.seq, r.position) for r in store.read(run)]
        assert (
            q(duck, "SELECT seq, position FROM events WHERE run_id = ? ORDER BY seq", run) == stored
        )


def test_payloads_are_kept_for_exactly_the_types_without_a_table() -> None:
    assert set(PAYLOAD_TYPES) == {t for t in EVENT_TYPES if t not in HANDLERS}


def test_decisions_cover_ai_human_and_failed(duck: Path, fam: dict[str, str]) -> None:
    rows = q(
        duck,
        "SELECT actor, brain, human, failed, error_kind, model, submitted_by, len(long_term_goals) > 0 "
        "FROM decisions WHERE run_id = 'root-a' AND turn = 2 ORDER BY seq",
    )
    assert rows == [
        ("north", "ai", False, True, "unparsable", None, None, False),
        ("north", "ai", False, False, None, "openai/gpt-4o-mini", None, True),
        ("south", "ai", False, False, None, "openai/gpt-4o-mini", None, True),
        ("mediator", "human", True, False, None, None, "analyst", True),
    ]
    tokens = q(
        duck,
        "SELECT min(input_tokens), min(attempts) FROM decisions WHERE brain = 'ai' AND NOT failed",
    )
    assert tokens[0][0] >= 1200 and tokens[0][1] == 1


def test_messages_world_variables_metrics_costs(duck: Path, fam: dict[str, str]) -> None:
    msgs = q(
        duck,
        "SELECT sender, recipients, channel, visibility, kind FROM messages WHERE run_id = 'root-a' AND turn = 1 ORDER BY seq",
    )
    assert msgs == [
        ("north", ["south"], "bilateral", "private", "talk"),
        ("mediator", [], "public", "public", "statement"),
    ]
    world = q(
        duck,
        "SELECT len(key_changes), len(consequences), model FROM world_states WHERE run_id = 'root-a' AND turn = 1",
    )
    assert world == [(2, 1, "anthropic/claude-3.5-haiku")]
    variables = q(
        duck, "SELECT name FROM variables WHERE run_id = 'root-a' AND turn = 1 ORDER BY name"
    )
    assert variables == [("tension",), ("trade_flow",)]
    metrics = q(
        duck,
        "SELECT count(*) FILTER (WHERE actor IS NOT NULL), count(*) FROM metrics WHERE run_id = 'root-a' AND turn = 1",
    )
    assert metrics == [(3, 5)]
    purposes = q(duck, "SELECT DISTINCT purpose FROM costs WHERE run_id = 'root-a' ORDER BY 1")
    assert [p for (p,) in purposes] == [
        "communication",
        "decision",
        "metric",
        "validation",
        "world_update",
    ]
    exo = q(
        duck,
        "SELECT turn, kind, effects['trade_flow'] FROM exogenous_events WHERE run_id = 'root-a'",
    )
    assert exo == [(2, "scheduled", -3.0)]
    checks = q(duck, "SELECT count(*) FROM validations WHERE run_id = 'root-a'")
    assert checks == [(4,)]


def test_runs_carry_lineage_status_and_cost(duck: Path, fam: dict[str, str]) -> None:
    runs = {
        r[0]: r[1:]
        for r in q(
            duck,
            "SELECT run_id, status, halt_reason, parent_run_id, fork_turn, root_run_id, depth, seed, "
            "turns_completed, variation, models FROM runs",
        )
    }
    models = ["anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"]
    assert runs["root-a"] == (
        "completed",
        None,
        None,
        None,
        "root-a",
        0,
        7,
        4,
        '{"temperature":0.7}',
        models,
    )
    assert runs["branch-b"] == (
        "completed",
        None,
        "root-a",
        2,
        "root-a",
        1,
        8,
        4,
        '{"temperature":0.3}',
        models,
    )
    assert runs["twig-c"] == (
        "halted",
        "credit_limit",
        "branch-b",
        3,
        "root-a",
        2,
        8,
        5,
        '{"temperature":0.3}',
        models,
    )
    # the timeline's cost includes inherited calls; own cost only the run's
    cost = q(
        duck,
        "SELECT any_value(r.total_cost_usd) - sum(c.cost_usd), "
        "any_value(r.own_cost_usd) - sum(c.cost_usd) FILTER (WHERE NOT c.inherited) "
        "FROM runs r JOIN costs c USING (run_id) WHERE run_id = 'twig-c'",
    )
    assert cost[0][0] == pytest.approx(0, abs=1e-12) and cost[0][1] == pytest.approx(0, abs=1e-12)


def test_turns_are_derived_per_timeline(duck: Path, fam: dict[str, str]) -> None:
    turns = q(
        duck,
        "SELECT turn, inherited, completed, decisions, messages, source_run_id FROM turns WHERE run_id = 'twig-c' ORDER BY turn",
    )
    assert [t[0] for t in turns] == [0, 1, 2, 3, 4, 5]
    assert [t[1] for t in turns] == [True, True, True, True, False, False]
    assert [t[5] for t in turns] == ["root-a", "root-a", "root-a", "branch-b", "twig-c", "twig-c"]
    assert turns[2][3] == 3  # the failed attempt is not a decision
    assert turns[1][4] == 2


def test_fork_rows_are_the_parent_prefix_flagged_inherited(duck: Path, fam: dict[str, str]) -> None:
    for table in ("decisions", "metrics", "costs", "messages", "world_states", "lifecycle"):
        parent = q(
            duck,
            f"SELECT seq, position FROM {table} WHERE run_id = 'root-a' AND seq <= (SELECT fork_seq FROM runs WHERE run_id = 'branch-b') ORDER BY seq",
        )
        inherited = q(
            duck,
            f"SELECT seq, position FROM {table} WHERE run_id = 'branch-b' AND inherited ORDER BY seq",
        )
        assert parent and inherited == parent, table
        sources = q(
            duck,
            f"SELECT DISTINCT source_run_id FROM {table} WHERE run_id = 'branch-b' AND inherited",
        )
        assert sources == [("root-a",)]


def test_parent_events_after_the_fork_do_not_reach_the_fork(store: EventStore, duck: Path) -> None:
    write_run(store, "p", turns=2, finish="running")
    project(store, duck)
    store.fork("p", 2, new_run_id="f")
    project(store, duck)
    continue_run(store, "p", range(3, 5))  # the parent goes on after the fork exists
    continue_run(store, "f", range(3, 4), tag="-f")
    result = project(store, duck)
    assert result.events > 0 and result.forks == 0
    for table in TABLES:
        if TABLES[table].kind != "event":
            continue
        leaked = q(
            duck,
            f"SELECT count(*) FROM {table} WHERE run_id = 'f' AND source_run_id = 'p' AND turn > 2",
        )
        assert leaked == [(0,)], table
    assert q(
        duck, "SELECT turns_completed FROM runs WHERE run_id IN ('p', 'f') ORDER BY run_id"
    ) == [(3,), (4,)]


def test_fork_of_a_fork_inside_the_inherited_prefix(store: EventStore, duck: Path) -> None:
    write_run(store, "p", turns=4)
    store.fork("p", 3, new_run_id="f1")
    continue_run(store, "f1", range(4, 5), tag="-1")
    store.fork("f1", 1, new_run_id="f2")  # turn 1 of f1 is p's, inherited
    continue_run(store, "f2", range(2, 3), tag="-2")
    project(store, duck)
    want = [(r.seq, r.position) for r in store.read("f2")]
    assert q(duck, "SELECT seq, position FROM events WHERE run_id = 'f2' ORDER BY seq") == want
    assert q(duck, "SELECT DISTINCT source_run_id FROM events WHERE run_id = 'f2' ORDER BY 1") == [
        ("f2",),
        ("p",),
    ]


def test_catch_up_applies_only_new_events_and_records_the_position(
    store: EventStore, duck: Path
) -> None:
    write_run(store, "r", turns=1, finish="running")
    first = project(store, duck)
    assert first.rebuilt and first.events == store.max_position()
    again = project(store, duck)
    assert again.events == 0 and not again.rebuilt and "up to date" in again.summary()
    continue_run(store, "r", range(2, 3), finish="running")
    third = project(store, duck)
    assert third.events == store.max_position() - first.position
    state = q(duck, "SELECT schema_version, position FROM projection_state")
    assert state == [(SCHEMA_VERSION, store.max_position())]
    assert q(duck, "SELECT status, turns_completed FROM runs") == [("running", 2)]


def test_a_file_built_from_another_log_is_rebuilt(tmp_path: Path, duck: Path) -> None:
    with EventStore.open(tmp_path / "one.db") as one:
        write_run(one, "a", turns=1)
        project(one, duck)
    with EventStore.open(tmp_path / "two.db") as two:
        write_run(two, "b", turns=2)
        result = project(two, duck)
    assert result.rebuilt and "another log" in result.reason
    assert q(duck, "SELECT run_id FROM runs") == [("b",)]


def test_a_file_of_another_schema_version_is_rebuilt(store: EventStore, duck: Path) -> None:
    write_run(store, "a", turns=1)
    project(store, duck)
    con = duckdb.connect(str(duck))
    con.execute("UPDATE projection_state SET schema_version = 0")
    con.close()
    result = project(store, duck)
    assert result.rebuilt and "schema version" in result.reason
    assert q(duck, "SELECT count(*) FROM runs") == [(1,)]


def test_old_event_versions_are_upgraded(store: EventStore, duck: Path) -> None:
    write_run(store, "a", turns=1)
    with raw_connection(store.path) as conn:
        conn.execute(
            "INSERT INTO events (run_id, seq, turn, type, schema_version, actor, event_id, "
            "recorded_at, payload, hash) VALUES ('a', 99, 1, 'MessageSent', 1, 'north', 'old-1', "
            "'2026-01-01T00:00:00+00:00', ?, 'x')",
            (
                b'{"type":"MessageSent","turn":1,"message_id":"old","sender":"north","to":"south",'
                b'"channel":"bilateral","visibility":"private"}',
            ),
        )
    project(store, duck)
    assert q(duck, "SELECT recipients FROM messages WHERE message_id = 'old'") == [(["south"],)]
    assert MessageSent.SCHEMA_VERSION == 2


def test_a_damaged_payload_is_a_store_error(store: EventStore, duck: Path) -> None:
    write_run(store, "a", turns=1)
    with raw_connection(store.path) as conn:
        conn.execute(
            "UPDATE events SET payload = CAST('{\"type\": \"DecisionMade\"' AS BLOB) WHERE type = 'DecisionMade'"
        )
    with pytest.raises(StoreError, match="cannot be decoded"):
        project(store, duck)


def test_a_failed_catch_up_leaves_the_last_commit(store: EventStore, duck: Path) -> None:
    write_run(store, "a", turns=1)
    project(store, duck)
    before = q(duck, "SELECT position FROM projection_state")
    write_run(store, "b", turns=2)
    with raw_connection(store.path) as conn:
        conn.execute(
            "UPDATE events SET payload = CAST('{' AS BLOB) WHERE run_id = 'b' AND type = 'WorldUpdated'"
        )
    # the damage is stretches after b's first rows, inside the same transaction
    with pytest.raises(StoreError, match="cannot be decoded"):
        project(store, duck, chunk_events=3)
    assert q(duck, "SELECT position FROM projection_state") == before
    assert q(duck, "SELECT count(*) FROM events WHERE run_id = 'b'") == [(0,)]


def test_views_answer_the_common_questions(store: EventStore, duck: Path) -> None:
    shape = RunShape(actor_metric=None)
    for i in range(4):
        write_run(
            store, f"r{i}", turns=2, seed=i, shape=shape, batch_id="b", variation={"t": i % 2}
        )
    project(store, duck)
    finals = q(
        duck, "SELECT run_id, name, turn FROM final_metrics WHERE name = 'tension' ORDER BY run_id"
    )
    assert finals == [(f"r{i}", "tension", 2) for i in range(4)]
    stats = q(
        duck,
        "SELECT grouped_by, variation, runs FROM metric_stats WHERE name = 'tension' ORDER BY grouped_by, variation",
    )
    assert stats == [
        ("scenario", None, 4),
        ("variation", '{"t":0}', 2),
        ("variation", '{"t":1}', 2),
    ]
    total = q(duck, "SELECT sum(cost_usd) FROM costs")[0][0]
    for view in ("cost_by_run", "cost_by_actor", "cost_by_model", "cost_by_purpose"):
        assert q(duck, f"SELECT sum(cost_usd) FROM {view}")[0][0] == pytest.approx(total), view


def test_tables_and_columns_carry_their_descriptions(store: EventStore, duck: Path) -> None:
    write_run(store, "a", turns=1)
    project(store, duck)
    comments = dict(
        ((t, c), d)
        for t, c, d in q(
            duck, "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal"
        )
    )
    for name, table in TABLES.items():
        for col, (_, desc) in table.columns.items():
            assert comments[(name, col)] == desc
