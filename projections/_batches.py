"""The batches recorded in the log, copied into ``batches`` and ``batch_runs``, and the
statistics of their completed runs in ``variation_stats``.

A batch is not an event: the log keeps its plan (resolved configuration, variations,
every planned run) in its own table, written once when the batch is recorded and never
changed. So a catch-up copies the batches the analytics file lacks, whatever position
the events are at, and a rebuild copies them all: the same rows either way.

``variation_stats`` is computed here, in Python, by ``engine.batch.sample_stats.describe``:
the function the batch report uses, so ``sql`` and ``report --batch`` give the same
numbers. It is a table, not a view: DuckDB has no t distribution (the view it replaces
approximated one), and a Python function registered in DuckDB would exist only in this
process, not in the sandboxed ``sql`` connection nor in any other tool that opens the
file. A catch-up recomputes the batches whose runs have events it has not yet covered
(``variation_stats_state``), in one transaction with that position, so an interrupted
catch-up leaves the statistics to the next one rather than stale.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import duckdb
import pyarrow as pa

from engine.batch.sample_stats import describe
from eventstore import EventStore

from ._catalog import TABLES
from ._columns import json_text
from ._duck import arrow_table, insert_arrow


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _integer(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _text(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def _variation_name(label: dict[str, Any]) -> str:
    # as the batch commands print a variation (engine.batch.plan.Variation.name)
    return ", ".join(f"{k}={v}" for k, v in label.items()) or "base scenario"


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []


def _rows(batch: dict[str, Any], doc: dict[str, Any], out: dict[str, dict[str, list[Any]]]) -> None:
    """A batch's row and its planned runs' rows. A plan of another shape (a newer
    format, a damaged one) must not stop a catch-up: what it lacks is left null, and a
    planned run without an id is left out."""
    config = doc.get("config")
    config = config if isinstance(config, dict) else {}
    variations = {
        v.get("index"): v["label"] if isinstance(v.get("label"), dict) else {}
        for v in _dicts(doc.get("variations"))
    }
    runs = [r for r in _dicts(doc.get("runs")) if isinstance(r.get("run_id"), str)]
    base = doc.get("base_scenario")
    b = out["batches"]
    b["batch_id"].append(batch["batch_id"])
    b["name"].append(_text(doc.get("name")) or batch["name"])
    b["kind"].append(str(doc.get("kind", "")))
    b["description"].append(str(doc.get("description") or ""))
    b["source"].append(str(doc.get("source") or ""))
    b["created_at"].append(batch["created_at"])
    b["config_sha256"].append(batch["config_sha256"])
    b["seed"].append(_integer(config.get("seed")))
    b["runs_planned"].append(len(runs))
    b["variations"].append(len(variations))
    b["runs_per_variation"].append(_integer(config.get("runs_per_variation")))
    b["budget_usd"].append(_number(config.get("budget_limit")))
    b["cost_per_run_limit_usd"].append(_number(config.get("cost_per_run_limit")))
    b["base_scenario_sha256"].append(_text(base.get("sha256")) if isinstance(base, dict) else None)
    b["parent_run_id"].append(_text(config.get("parent_run_id")))
    b["fork_turn"].append(_integer(config.get("at_turn")))
    b["config"].append(json_text(config))
    r = out["batch_runs"]
    for run in runs:
        label = variations.get(run.get("variation"), {})
        r["batch_id"].append(batch["batch_id"])
        r["run_id"].append(run["run_id"])
        r["run_index"].append(_integer(run.get("index")))
        r["variation_index"].append(_integer(run.get("variation")))
        r["variation_name"].append(_variation_name(label))
        r["variation"].append(json_text(label))
        r["replicate"].append(_integer(run.get("replicate")))
        r["seed"].append(_integer(run.get("seed")))


def sync_batches(con: duckdb.DuckDBPyConnection, store: EventStore) -> int:
    """Copy the batches the analytics file lacks and recompute the ``variation_stats`` of
    every batch that changed since the last catch-up, in one transaction; how many
    batches were copied."""
    have = {row[0] for row in con.execute("SELECT batch_id FROM batches").fetchall()}
    new = [b["batch_id"] for b in store.list_batches() if b["batch_id"] not in have]
    position, stale = _stale(con, new)
    if not new and stale is None:
        return 0
    out: dict[str, dict[str, list[Any]]] = {
        table: {c: [] for c in TABLES[table].columns} for table in ("batches", "batch_runs")
    }
    for batch_id in new:
        batch = store.batch(batch_id)
        try:
            doc = json.loads(batch["config"])
        except ValueError:
            doc = {}  # an unreadable plan still lists the batch, with what the row holds
        _rows(batch, doc if isinstance(doc, dict) else {}, out)
    con.execute("BEGIN")
    try:
        for table, columns in out.items():
            insert_arrow(con, table, arrow_table(table, columns))
        _refresh_stats(con, sorted({*new, *(stale or ())}), position)
        con.execute("COMMIT")
    except BaseException:
        # a failed COMMIT (a full disk) has already ended the transaction
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("ROLLBACK")
        raise
    return len(new)


# The batches with a run that has events after a position.
_TOUCHED = """
SELECT DISTINCT batch_id FROM batch_runs
WHERE run_id IN (SELECT DISTINCT run_id FROM events WHERE position > ?)
"""

# Each variation's final values of each metric, over the batch's completed runs.
_FINAL_VALUES = """
SELECT b.batch_id, b.variation_index, any_value(b.variation_name), f.name, f.actor,
       list(f.value)
FROM batch_runs b
JOIN runs r USING (run_id)
JOIN final_metrics f USING (run_id)
WHERE r.status = 'completed' AND b.batch_id IN (SELECT batch_id FROM _stale)
GROUP BY b.batch_id, b.variation_index, f.name, f.actor
ORDER BY ALL
"""


def _stale(con: duckdb.DuckDBPyConnection, new: list[str]) -> tuple[int, set[str] | None]:
    """The position the events are at, and the batches (besides ``new`` ones) whose
    statistics it changed; None when ``variation_stats`` already covers it."""
    [(position,)] = con.execute("SELECT position FROM projection_state").fetchall()
    row = con.execute("SELECT max(position) FROM variation_stats_state").fetchone()
    covered = row[0] if row else None
    if covered == position or not con.execute("SELECT 1 FROM batch_runs LIMIT 1").fetchall():
        # current, or a log without batches: nothing to compute (the next new batch is
        # computed whole, and the position it covers recorded then)
        return position, None
    if covered is None or covered > position:  # never computed (or another history): all
        covered = 0
    return position, {r[0] for r in con.execute(_TOUCHED, [covered]).fetchall()}


def _refresh_stats(con: duckdb.DuckDBPyConnection, batch_ids: list[str], position: int) -> None:
    """Replace the ``variation_stats`` rows of ``batch_ids`` and record ``position`` as
    covered; inside the caller's transaction."""
    con.register("_stale", pa.table({"batch_id": pa.array(batch_ids, pa.string())}))
    try:
        groups = con.execute(_FINAL_VALUES).fetchall() if batch_ids else []
        con.execute("DELETE FROM variation_stats WHERE batch_id IN (SELECT batch_id FROM _stale)")
    finally:
        con.unregister("_stale")
    cols: dict[str, list[Any]] = {c: [] for c in TABLES["variation_stats"].columns}
    for batch_id, variation_index, variation_name, name, actor, values in groups:
        s = describe(values)
        for column, value in (
            ("batch_id", batch_id),
            ("variation_index", variation_index),
            ("variation_name", variation_name),
            ("name", name),
            ("actor", actor),
            ("n", s.n),
            ("mean", s.mean),
            ("stddev", s.stddev),
            ("ci95_low", s.ci95[0] if s.ci95 else None),
            ("ci95_high", s.ci95[1] if s.ci95 else None),
            ("min", s.min),
            ("median", s.median),
            ("max", s.max),
        ):
            cols[column].append(value)
    insert_arrow(con, "variation_stats", arrow_table("variation_stats", cols))
    con.execute("DELETE FROM variation_stats_state")
    con.execute("INSERT INTO variation_stats_state VALUES (?)", [position])
