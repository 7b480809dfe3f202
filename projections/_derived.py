"""The ``turns`` and ``runs`` tables: recomputed for each run a catch-up touched.

Both are functions of a run's timeline rows only, so recomputing a touched run from the
tables gives the same row whether its events arrived in one catch-up or in many, and a
parent's later events (never part of a fork's rows) leave its forks' rows alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from eventstore import EventStore

from ._catalog import TABLES
from ._columns import json_text
from ._duck import arrow_type

_TURNS_SQL = """
INSERT INTO turns
WITH e AS (SELECT * FROM events WHERE run_id IN (SELECT run_id FROM _touched) AND position >= $lo),
d AS (
    SELECT run_id, turn, count(*) AS n FROM decisions
    WHERE run_id IN (SELECT run_id FROM _touched) AND position >= $lo AND NOT failed GROUP BY run_id, turn
),
m AS (
    SELECT run_id, turn, count(*) AS n FROM messages
    WHERE run_id IN (SELECT run_id FROM _touched) AND position >= $lo GROUP BY run_id, turn
),
c AS (
    SELECT run_id, turn, fsum(cost_usd) AS cost FROM costs
    WHERE run_id IN (SELECT run_id FROM _touched) AND position >= $lo GROUP BY run_id, turn
),
t AS (
    SELECT run_id, turn,
           min(seq) AS first_seq, max(seq) AS last_seq,
           arg_min(source_run_id, seq) AS source_run_id,
           bool_and(inherited) AS inherited,
           max(CASE WHEN type = 'TurnStarted'
                    THEN json_extract_string(payload, '$.simulated_date') END) AS simulated_date,
           max(recorded_at) FILTER (WHERE type = 'TurnStarted') AS started_at,
           max(recorded_at) FILTER (WHERE type = 'TurnCompleted') AS completed_at,
           count(*) FILTER (WHERE type = 'TurnCompleted') > 0 AS completed,
           count(*) AS events
    FROM e GROUP BY run_id, turn
)
SELECT t.run_id, t.turn, t.first_seq, t.last_seq, t.source_run_id, t.inherited,
       t.simulated_date, t.started_at, t.completed_at, t.completed, t.events,
       coalesce(d.n, 0), coalesce(m.n, 0), coalesce(c.cost, 0.0)
FROM t
LEFT JOIN d USING (run_id, turn)
LEFT JOIN m USING (run_id, turn)
LEFT JOIN c USING (run_id, turn)
"""

# what the lifecycle rows give a run (the rest is summed from the other tables)
_LIFE_COLUMNS = [
    "run_id",
    "scenario_name",
    "scenario_sha256",
    "parent_run_id",
    "fork_turn",
    "fork_seq",
    "root_run_id",
    "depth",
    "status",
    "halt_reason",
    "turns_planned",
    "seed",
    "started_at",
    "finished_at",
    "batch_id",
    "variation",
    "name",
    "tags",
]

_RUNS_SQL = """
INSERT INTO runs
WITH e AS (
    SELECT run_id, max(turn) FILTER (WHERE type = 'TurnCompleted') AS turns_completed,
           count(*) AS events
    FROM events WHERE run_id IN (SELECT run_id FROM _touched) AND position >= $lo GROUP BY run_id
),
c AS (
    SELECT run_id, fsum(cost_usd) AS total, fsum(cost_usd) FILTER (WHERE NOT inherited) AS own,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models
    FROM costs WHERE run_id IN (SELECT run_id FROM _touched) AND position >= $lo
    GROUP BY run_id
)
SELECT l.run_id, l.scenario_name, l.scenario_sha256, l.parent_run_id, l.fork_turn,
       l.fork_seq, l.root_run_id, l.depth, l.status, l.halt_reason,
       coalesce(e.turns_completed, 0), l.turns_planned, l.seed,
       coalesce(c.models, []), coalesce(c.total, 0.0), coalesce(c.own, 0.0),
       coalesce(c.input_tokens, 0), coalesce(c.output_tokens, 0), coalesce(e.events, 0),
       CAST(l.started_at AS TIMESTAMPTZ), CAST(l.finished_at AS TIMESTAMPTZ),
       l.batch_id, l.variation, l.name, l.tags
FROM _life l LEFT JOIN e USING (run_id) LEFT JOIN c USING (run_id)
"""


Lineage = dict[str, tuple[str, int, Any]]


def store_lineage(store: EventStore, run_ids: Iterable[str]) -> Lineage:
    """run -> (root_run_id, depth, batch_id) from the log's runs table."""
    return {r: (i.root_run_id, i.depth, i.batch_id) for r, i in store.run_infos(run_ids).items()}


def _life_row(
    run_id: str, rows: list[tuple[Any, ...]], lineage: tuple[str, int, Any] | None
) -> dict[str, Any]:
    """A run's lifecycle facts, folded like ``engine.fold.handlers`` folds the status."""
    r: dict[str, Any] = dict.fromkeys(_LIFE_COLUMNS)
    r["run_id"] = run_id
    status: str | None = None
    variation: dict[str, Any] = {}
    tags: dict[str, None] = {}  # the timeline's, each once, in the order given
    for (
        typ,
        at,
        reason,
        seed,
        name,
        sha,
        parent,
        fork_turn,
        fork_seq,
        turns,
        batch,
        var,
        inh,
        label,
        labels,
    ) in rows:
        if typ in ("RunStarted", "RunForked"):
            r["name"] = label  # the run's own start event comes last
            tags.update(dict.fromkeys(labels or ()))
        if typ == "RunStarted":
            r.update(scenario_name=name, scenario_sha256=sha, seed=seed, turns_planned=turns)
            r["batch_id"] = batch
            status, r["halt_reason"] = "running", None
        elif typ == "RunForked":
            if not inh:
                r.update(parent_run_id=parent, fork_turn=fork_turn, fork_seq=fork_seq)
            if seed is not None:
                r["seed"] = seed
            if batch is not None:
                r["batch_id"] = batch
            status, r["halt_reason"], r["finished_at"] = "running", None, None
        elif typ == "RunResumed":
            if status != "failed":
                status, r["halt_reason"], r["finished_at"] = "running", None, None
        elif typ == "RunHalted":
            if status not in ("completed", "failed"):
                status, r["halt_reason"] = "halted", reason
        elif typ == "RunCompleted":
            status, r["halt_reason"], r["finished_at"] = "completed", None, at
        elif typ == "RunFailed":
            status, r["halt_reason"], r["finished_at"] = "failed", reason, at
        if typ in ("RunStarted", "RunForked", "RunResumed") and turns is not None:
            r["turns_planned"] = turns
        if var:
            variation.update(json.loads(var))
        if not inh and r["started_at"] is None:
            r["started_at"] = at
    r["status"] = status
    r["variation"] = json_text(variation)
    r["tags"] = list(tags)
    if lineage is not None:
        r["root_run_id"], r["depth"] = lineage[0], lineage[1]
        r["batch_id"] = r["batch_id"] or lineage[2]
    else:
        r["root_run_id"], r["depth"] = run_id, 0
    return r


def _first_position(life: list[tuple[Any, ...]], touched: int) -> int:
    """A position no row of the touched runs is before, so scans skip older row groups.

    ``life``: the touched runs' lifecycle rows, ending in (seq, position). Positions
    grow along a timeline (a fork's own events come after the parent's rows it
    inherits), so a timeline's first row (seq 1, its root's RunStarted) has its lowest
    position. A catch-up of one new run on 1M events then reads the newest row groups,
    not the whole history (its turns and runs statements: 38 -> 23 ms). Without a first
    row for every run (a log that does not start runs with RunStarted), 0: scan all.
    """
    firsts = [row[-1] for row in life if row[-2] == 1]
    return min(firsts) if firsts and len(firsts) == touched else 0


def recompute(con: duckdb.DuckDBPyConnection, lineage: Lineage) -> None:
    """Replace the ``turns`` and ``runs`` rows of the runs of ``lineage`` (run -> root,
    depth, batch from the log) from their timeline rows."""
    ids = sorted(lineage)
    if not ids:
        return
    con.register("_touched", pa.table({"run_id": pa.array(ids, pa.string())}))
    try:
        life = con.execute(
            "SELECT run_id, type, CAST(recorded_at AS VARCHAR), reason, seed, scenario_name, "
            "scenario_sha256, parent_run_id, fork_turn, fork_seq, turns, batch_id, variation, "
            "inherited, name, tags, seq, position FROM lifecycle "
            "WHERE run_id IN (SELECT run_id FROM _touched) ORDER BY run_id, seq"
        ).fetchall()
        lo = {"lo": _first_position(life, len(ids))}
        con.execute("DELETE FROM turns WHERE run_id IN (SELECT run_id FROM _touched)")
        con.execute(_TURNS_SQL, lo)
        by_run: dict[str, list[tuple[Any, ...]]] = {run_id: [] for run_id in ids}
        for row in life:
            by_run[row[0]].append(row[1:-2])
        rows = [_life_row(run_id, by_run[run_id], lineage.get(run_id)) for run_id in ids]
        types = TABLES["runs"].columns
        life_table = pa.table(
            {c: pa.array([r[c] for r in rows], arrow_type(types[c][0])) for c in _LIFE_COLUMNS}
        )
        con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM _touched)")
        con.register("_life", life_table)
        try:
            con.execute(_RUNS_SQL, lo)
        finally:
            con.unregister("_life")
    finally:
        con.unregister("_touched")


def refine_liveness(con: duckdb.DuckDBPyConnection, store_path: Any) -> None:
    """``running`` runs no live process plays are ``interrupted``, or ``not_started``
    for a fork that has recorded nothing of its own since it was made (no turn begun,
    no resume); back to ``running`` when played again."""
    from eventstore import is_held

    rows = con.execute(
        "SELECT run_id, status, parent_run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
        "events e WHERE e.run_id = r.run_id AND e.type IN ('TurnStarted', 'RunResumed') "
        "AND NOT e.inherited) FROM runs r "
        "WHERE status IN ('running', 'interrupted', 'not_started')"
    ).fetchall()
    changes = []
    for run_id, status, fresh in rows:
        live = "running" if is_held(store_path, run_id) else "interrupted"
        if live == "interrupted" and fresh:
            live = "not_started"
        if live != status:
            changes.append((run_id, live))
    if changes:
        con.execute("BEGIN")
        con.executemany("UPDATE runs SET status = ? WHERE run_id = ?", [(s, r) for r, s in changes])
        con.execute("COMMIT")
