"""Each run's metric values turn by turn, read from its ``MetricRecorded`` events.

What the fan charts of a batch report draw and what ``compare_batches`` tests per turn,
read once from the log. A continuation's inherited turns are part of its timeline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from eventstore import EventStore, MetricRecorded

Trajectories = dict[str, dict[str, dict[int, float]]]  # run -> metric key -> turn -> value


def metric_key(name: str, actor: str | None) -> str:
    """A metric's name, with ``/actor`` for an actor-specific one (as replay --json)."""
    return name if actor is None else f"{name}/{actor}"


def trajectories(store: EventStore, run_ids: Iterable[str]) -> Trajectories:
    """Each run's metric values per turn (each turn's last recorded value; a failed
    extraction records none), along the run's whole timeline."""
    out: Trajectories = {}
    for run_id in run_ids:
        by_key: dict[str, dict[int, float]] = defaultdict(dict)
        for chunk in store.iter_event_chunks(run_id):
            for e in chunk:
                if isinstance(e, MetricRecorded) and e.value is not None:
                    by_key[metric_key(e.name, e.actor)][e.turn] = float(e.value)
        out[run_id] = dict(by_key)
    return out
