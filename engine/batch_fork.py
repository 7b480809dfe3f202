"""Monte-Carlo continuations: one run forked many times at a turn, played as a batch."""

from __future__ import annotations

from collections.abc import Mapping

from eventstore import EventStore, new_id

from .batch import DEFAULT_CALL_LIMIT, DEFAULT_PARALLEL, BatchProgress, run_batch
from .batch_plan import BatchPlan, PlannedRun, Variation, record_batch
from .errors import ScenarioInvalid
from .llm import LLMClient, PriceTable
from .replay import replay
from .rng import derive_seed
from .session import fork_run


def continue_fork(
    store: EventStore,
    run_id: str,
    at_turn: int,
    count: int,
    *,
    parallel: int = DEFAULT_PARALLEL,
    seed: int | None = None,
    client: LLMClient | None = None,
    prices: PriceTable | None = None,
    call_limit: int = DEFAULT_CALL_LIMIT,
    turns: int | None = None,
    model_overrides: Mapping[str, str] | None = None,
    credit_limit_usd: float | None = None,
    budget_usd: float | None = None,
    progress: BatchProgress | None = None,
) -> str:
    """Fork ``run_id`` at ``at_turn`` ``count`` times and play the branches as a batch.

    Branch ``i`` gets the seed ``derive_seed(seed, i, "continue")``, ``seed`` defaulting
    to the run's own, so the continuations are reproducible and differ from each other.
    The forks and the batch are recorded before any is played, so ``batch resume``
    finishes them after a crash. ``client`` is closed when done. Returns the batch id.
    """
    if count < 1:
        raise ScenarioInvalid(f"--count {count} must be at least 1")
    run_id = store.resolve(run_id)
    base_seed = seed if seed is not None else replay(store, run_id, to_turn=at_turn).seed
    label = {"fork_of": run_id, "fork_turn": at_turn}
    # The forks carry the batch id from birth; the batch is recorded once they all
    # exist, so a recorded batch always has all its runs (a crash in between leaves
    # unplayed forks that no batch lists).
    batch_id = new_id()
    runs = []
    for i in range(count):
        branch = fork_run(
            store,
            run_id,
            at_turn,
            seed=derive_seed(base_seed, i, "continue"),
            turns=turns,
            model_overrides=model_overrides,
            credit_limit_usd=credit_limit_usd,
            batch_id=batch_id,
            variation=label,
        )
        runs.append(PlannedRun(i, branch, 0, i, derive_seed(base_seed, i, "continue")))
    config = {
        "parent_run_id": run_id,
        "at_turn": at_turn,
        "count": count,
        "seed": base_seed,
        "turns": turns,
        "model_overrides": dict(model_overrides or {}),
        "cost_per_run_limit": credit_limit_usd,
        "budget_limit": budget_usd,
    }
    plan = BatchPlan(
        kind="continuations",
        name=f"continuations of {run_id} at turn {at_turn}",
        description=f"{count} branches of run {run_id} from turn {at_turn + 1}",
        config=config,
        variations=[Variation(0, label, dict(model_overrides or {}), {}, "", None)],
        runs=runs,
        source=f"run {run_id} at turn {at_turn}",
    )
    record_batch(store, plan, batch_id=batch_id)
    run_batch(
        store.path,
        batch_id,
        client=client,
        prices=prices,
        parallel=parallel,
        call_limit=call_limit,
        progress=progress,
    )
    return batch_id
