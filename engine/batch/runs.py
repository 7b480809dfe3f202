"""One planned run of a batch, as the in-process session and the worker processes
both handle it: the lease held while the batch works on it, and recording its setup."""

from __future__ import annotations

from engine.batch.plan import BatchPlan, PlannedRun, Variation
from engine.errors import ScenarioInvalid
from engine.play.session import start_run
from eventstore import EventStore, RunLease


class BatchLease(RunLease):
    """A run's lease held from before the run exists until the batch is done with it.

    ``RunPlayer.play`` enters and exits the lease it is given; this one stays held
    through that exit (the batch may still have to write the run) until ``release``.
    """

    def __exit__(self, *exc_info: object) -> None:
        return None


def start_variation(store: EventStore, batch_id: str, plan: BatchPlan, pr: PlannedRun) -> str:
    """Record a planned run's setup: its variation's scenario, models, seed and limits."""
    variation: Variation = plan.variations[pr.variation]
    if variation.loaded is None:
        raise ScenarioInvalid(f"batch {batch_id}: run {pr.run_id} has no scenario to start from")
    return start_run(
        store,
        variation.loaded,
        seed=pr.seed,
        credit_limit_usd=plan.cost_per_run_usd,
        model_overrides=variation.model_overrides,
        batch_id=batch_id,
        variation=variation.label,
        run_id=pr.run_id,
        tags=plan.tags,
    )
