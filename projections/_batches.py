"""The batches recorded in the log, copied into ``batches`` and ``batch_runs``.

A batch is not an event: the log keeps its plan (resolved configuration, variations,
every planned run) in its own table, written once when the batch is recorded and never
changed. So a catch-up copies the batches the analytics file lacks, whatever position
the events are at, and a rebuild copies them all: the same rows either way.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

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
    """Copy the batches the analytics file lacks, in one transaction; how many."""
    have = {row[0] for row in con.execute("SELECT batch_id FROM batches").fetchall()}
    new = [b["batch_id"] for b in store.list_batches() if b["batch_id"] not in have]
    if not new:
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
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(new)
