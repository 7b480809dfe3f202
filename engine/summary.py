"""One line of facts per run (status, turns, cost), derived from the log.

Status is never stored: it is the last lifecycle event of the run's timeline, and a run
whose last lifecycle event says it is playing counts as ``running`` only while a live
process holds its lease; otherwise it was ``interrupted`` (killed, crashed) and can be
resumed. This reads with a few SQL aggregates per run instead of folding every event,
so listing hundreds of runs stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from eventstore import EventStore, RunInfo, is_held

_LIFECYCLE = ("RunStarted", "RunForked", "RunResumed", "RunHalted", "RunCompleted", "RunFailed")
_STATUS = {
    "RunStarted": "running",
    "RunForked": "running",
    "RunResumed": "running",
    "RunHalted": "halted",
    "RunCompleted": "completed",
    "RunFailed": "failed",
}


def _timeline_rows(store: EventStore, run_id: str, where: str, cols: str) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for seg_run, lo, hi in store.segments(run_id):
        sql = f"SELECT {cols} FROM events WHERE run_id = ? AND seq > ? AND {where}"
        params: list[Any] = [seg_run, lo]
        if hi is not None:
            sql += " AND seq <= ?"
            params.append(hi)
        out.extend(store.connection.execute(sql, params).fetchall())
    return out


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``scenario-lab runs``: a run's identity, lineage, status and cost.

    ``status`` is running, interrupted, halted, completed or failed; ``halt_reason`` is
    set for a halted run. The field order is the order of ``runs --json``.
    """

    run_id: str
    scenario: str | None
    parent_run_id: str | None
    fork_turn: int | None
    root_run_id: str
    depth: int
    batch_id: str | None
    status: str
    halt_reason: str | None
    turns_completed: int
    total_cost_usd: float
    created_at: str


def summarize(store: EventStore, info: RunInfo, db_path: Path | None = None) -> RunSummary:
    """The facts ``scenario-lab runs`` shows for one run."""
    run_id = info.run_id
    turns = _timeline_rows(store, run_id, "type = 'TurnCompleted'", "max(turn)")
    costs = _timeline_rows(
        store,
        run_id,
        "type = 'CostIncurred'",
        "total(json_extract(CAST(payload AS TEXT), '$.cost_usd'))",
    )
    marks = ",".join(f"'{t}'" for t in _LIFECYCLE)
    life = _timeline_rows(
        store,
        run_id,
        f"type IN ({marks})",
        "seq, type, json_extract(CAST(payload AS TEXT), '$.reason'), "
        "json_extract(CAST(payload AS TEXT), '$.scenario_name')",
    )
    life.sort()
    scenario = next((r[3] for r in life if r[1] == "RunStarted"), None)
    status, halt_reason = "running", None
    if life:
        last = life[-1]
        status = _STATUS[last[1]]
        halt_reason = last[2] if last[1] == "RunHalted" else None
    if status == "running" and not is_held(db_path or store.path, run_id):
        status = "interrupted"
    done = [r[0] for r in turns if r[0] is not None]
    return RunSummary(
        run_id=run_id,
        scenario=scenario,
        parent_run_id=info.parent_run_id,
        fork_turn=info.fork_turn,
        root_run_id=info.root_run_id,
        depth=info.depth,
        batch_id=info.batch_id,
        status=status,
        halt_reason=halt_reason,
        turns_completed=max(done) if done else 0,
        total_cost_usd=round(sum(r[0] or 0.0 for r in costs), 6),
        created_at=info.created_at,
    )


def summarize_all(store: EventStore, *, batch_id: str | None = None) -> list[RunSummary]:
    """Every run, newest first."""
    return [summarize(store, info) for info in store.list_runs(batch_id=batch_id)]


def lineage_tree(summaries: list[RunSummary]) -> list[tuple[int, RunSummary]]:
    """Runs in tree order (each root, then its branches depth-first) with their depth."""
    by_parent: dict[str | None, list[RunSummary]] = {}
    for s in summaries:
        by_parent.setdefault(s.parent_run_id, []).append(s)
    known = {s.run_id for s in summaries}
    out: list[tuple[int, RunSummary]] = []

    def walk(node: RunSummary, depth: int) -> None:
        out.append((depth, node))
        for child in sorted(by_parent.get(node.run_id, []), key=lambda s: s.created_at):
            walk(child, depth + 1)

    roots = [s for s in summaries if s.parent_run_id is None or s.parent_run_id not in known]
    for root in roots:
        walk(root, 0)
    return out
