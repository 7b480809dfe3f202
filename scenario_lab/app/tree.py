"""Runs as a tree (``runs --tree``): each root, then its branches, batches folded up.

A batch of a hundred runs would bury the runs a person started by hand, so every batch
is one line (how many runs, in which state, what they cost) where its first run sits.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from engine.summary import RunSummary, lineage_tree

from .settings import LabSettings
from .store import open_store


class BatchLine(msgspec.Struct, frozen=True, kw_only=True):
    """A batch's runs of a listing as one line: ``statuses`` counts them by status."""

    batch_id: str
    name: str
    runs: int
    statuses: dict[str, int]
    own_cost_usd: float  # spent by the runs themselves (not a continuation's parent)
    tags: tuple[str, ...]  # the tags every run of the line has
    parent_run_id: str | None  # continuations: the run they branch from


class TreeLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the tree: a run, or a batch folded into one line, at its depth."""

    depth: int
    run: RunSummary | None = None
    batch: BatchLine | None = None


def run_tree(
    settings: LabSettings, runs: tuple[RunSummary, ...], *, fold_batches: bool = True
) -> tuple[TreeLine, ...]:
    """``runs`` in tree order (each root, then its branches depth-first); with
    ``fold_batches`` each batch's runs are one line where the first of them would be."""
    ordered = lineage_tree(list(runs))
    if not fold_batches or not any(r.batch_id for r in runs):
        return tuple(TreeLine(depth=d, run=r) for d, r in ordered)
    members: dict[str, list[RunSummary]] = {}
    for r in runs:
        if r.batch_id is not None:
            members.setdefault(r.batch_id, []).append(r)
    with open_store(settings) as store:
        names = {b["batch_id"]: b["name"] for b in store.list_batches()}
        spent = {batch: store.own_costs(batch) for batch in members}
    out: list[TreeLine] = []
    for depth, r in ordered:
        if r.batch_id is None:
            out.append(TreeLine(depth=depth, run=r))
            continue
        group = members.pop(r.batch_id, None)
        if group is None:  # the batch has its line already
            continue
        parents = {g.parent_run_id for g in group}
        common = set(group[0].tags).intersection(*(g.tags for g in group))
        line = BatchLine(
            batch_id=r.batch_id,
            name=names.get(r.batch_id, ""),
            runs=len(group),
            statuses=dict(sorted(Counter(g.status for g in group).items())),
            own_cost_usd=round(sum(spent[r.batch_id].get(g.run_id, 0.0) for g in group), 6),
            tags=tuple(t for t in group[0].tags if t in common),
            parent_run_id=parents.pop() if len(parents) == 1 else None,
        )
        out.append(TreeLine(depth=depth, batch=line))
    return tuple(out)
