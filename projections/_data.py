"""Reading one run's story back out of the analytics tables, for reports and comparisons."""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb

from eventstore import RunNotFound

from ._query import query


def rows(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[dict[str, Any]]:
    return query(con, sql, list(params)).dicts()


def run_row(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    found = rows(con, "SELECT * FROM runs WHERE run_id = ?", run_id)
    if not found:
        raise RunNotFound(run_id)
    return found[0]


def timeline(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in the run's timeline, in seq order."""
    order = "seq, name" if table == "variables" else "seq"
    return rows(con, f"SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}", run_id)


def lineage(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    """The run's ancestors and itself, root first."""
    chain = [run_row(con, run_id)]
    while chain[-1]["parent_run_id"] is not None and len(chain) < 1000:
        parent = rows(con, "SELECT * FROM runs WHERE run_id = ?", chain[-1]["parent_run_id"])
        if not parent:
            break
        chain.append(parent[0])
    chain.reverse()
    return chain


def scenario(con: duckdb.DuckDBPyConnection, sha: str | None) -> dict[str, Any]:
    found = rows(con, "SELECT * FROM scenarios WHERE scenario_sha256 = ?", sha) if sha else []
    if not found:
        return {"name": "", "initial_world_state": "", "actors": {}, "metrics": []}
    sc = found[0]
    sc["actors"] = json.loads(sc["actors"] or "{}")
    sc["metrics"] = json.loads(sc["metrics"] or "[]")
    return sc


def node_id(run_id: str) -> str:
    """A Mermaid node id for any run id (ids given by users may hold any character)."""
    return "r_" + re.sub(r"[^A-Za-z0-9_]", "_", run_id)


def changes_text(row: dict[str, Any]) -> str:
    """What a RunForked changed, as one line (from a `lifecycle` row)."""
    parts = []
    if row.get("seed") is not None:
        parts.append(f"seed={row['seed']}")
    for key in ("turns", "credit_limit_usd", "batch_id"):
        if row.get(key) is not None:
            parts.append(f"{key}={row[key]}")
    changes = json.loads(row.get("changes") or "{}")
    for key in ("model_overrides", "control_changes", "forced_decisions"):
        for actor, value in sorted((changes.get(key) or {}).items()):
            parts.append(f"{key.split('_')[0]} {actor}={value}")
    for text in changes.get("injections") or []:
        parts.append(f"injected: {text}")
    variation = json.loads(row.get("variation") or "{}")
    if variation:
        parts.append(f"variation {json.dumps(variation, sort_keys=True)}")
    return "; ".join(parts) if parts else "no changes (a replay of the parent from the fork point)"
