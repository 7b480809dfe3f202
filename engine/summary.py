"""One line of facts per run (status, turns, cost), derived from the log.

Status is never stored: it is the last lifecycle event of the run's timeline, and a run
whose last lifecycle event says it is playing counts as ``running`` only while a live
process holds its lease; otherwise it was ``interrupted`` (killed, crashed) and can be
resumed; a fork that never began a turn of its own (recorded without ``--play``) is
``not_started``, and ``resume`` starts it. This reads with a few SQL aggregates per run instead of folding every event,
so listing hundreds of runs stays fast.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from eventstore import EventStore, RunInfo, TimelineFacts, is_held

_STATUS = {
    "RunStarted": "running",
    "RunForked": "running",
    "RunResumed": "running",
    "RunHalted": "halted",
    "RunCompleted": "completed",
    "RunFailed": "failed",
}


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``scenario-lab runs``: a run's identity, lineage, status and cost.

    ``status`` is running, not_started, interrupted, halted, completed or failed;
    ``halt_reason`` is
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
    name: str | None = None  # the run's own (a fork does not inherit its parent's)
    tags: tuple[str, ...] = ()  # its timeline's: a fork has its parent's and its own


def summarize(store: EventStore, info: RunInfo, db_path: Path | str | None = None) -> RunSummary:
    """The facts ``scenario-lab runs`` shows for one run."""
    return summary_of(info, store.timeline_facts(info.run_id), db_path or store.path)


def summary_of(info: RunInfo, facts: TimelineFacts, db_path: Path | str) -> RunSummary:
    """The run's line from facts already read (a listing reads them in bulk or keeps
    them while the run records nothing new); the lease says running, or else
    interrupted (not_started: a fork that never began a turn of its own)."""
    run_id = info.run_id
    scenario = facts.scenario_name
    status, halt_reason = "running", None
    if facts.last_lifecycle is not None:
        status = _STATUS[facts.last_lifecycle]
        halt_reason = facts.halt_reason
    if status == "running" and not is_held(db_path, run_id):
        # a fork recorded without playing has not died while playing: it never began
        status = "not_started" if facts.fresh_fork else "interrupted"
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
        turns_completed=facts.turns_completed,
        total_cost_usd=round(facts.cost_usd, 6),
        created_at=info.created_at,
        name=facts.name,
        tags=facts.tags,
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
