"""Batches: many runs of a batch file's variations, or many continuations of one run.

As with runs, recording and playing are two steps: ``create_batch`` (a batch file),
``create_continuations`` (``fork --count``) and ``prepare_batch_resume`` check and
record; ``play_batch`` plays what is not finished. ``plan_batch`` is the dry run: the
matrix and a cost estimate, nothing written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from engine.batch.results import BatchStatus
from eventstore import InvalidRequest

from .models import check_priced, load_prices, make_client, models_needed, price_table
from .runs import ForkRun, check_fork
from .settings import LabSettings
from .store import open_store
from .verification import require_verified

if TYPE_CHECKING:
    from engine.batch.plan import BatchPlan
    from engine.batch.play import BatchProgress
    from eventstore import EventStore


class BatchRunRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A batch file (YAML); ``budget`` (USD, the whole batch) replaces its budget_limit.

    A variation whose first-turn prompt exceeds its model's context window is refused
    unless ``allow_long_prompts`` (then it is a warning, as prompts that will outgrow it)."""

    file: str
    budget: float | None = None
    allow_long_prompts: bool = False
    tags: tuple[str, ...] = ()  # given to every run of the batch


class BatchResume(msgspec.Struct, frozen=True, kw_only=True):
    """Finish a batch (an id or a unique prefix); ``budget`` raises its budget."""

    batch: str
    budget: float | None = None


class VariationEstimate(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    name: str  # its values, e.g. "x=1, y=2" ("base scenario" for none)
    runs: int
    calls_per_run: int
    usd_per_run: float
    usd: float


class BatchPlanView(msgspec.Struct, frozen=True, kw_only=True):
    """A batch file expanded (the dry run): every variation with its estimated cost."""

    name: str
    source: str
    base_scenario: str  # its name
    base_scenario_path: str
    base_scenario_sha256: str
    runs_per_variation: int
    runs: int
    seed: int
    budget_usd: float | None
    estimated_usd: float
    variations: tuple[VariationEstimate, ...]
    unpriced: tuple[str, ...]  # models with no known price (their cost is unknown)
    warnings: tuple[str, ...]


class BatchCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A batch recorded (or found, to resume) and ready to play."""

    batch_id: str
    name: str
    variations: int
    runs_per_variation: int
    runs: int
    warnings: tuple[str, ...] = ()
    parent_run_id: str | None = None  # the run continued, for continuations


def check_budget(budget: float | None) -> None:
    if budget is not None and not budget > 0:
        raise InvalidRequest(
            "{budget} {usd} must be more than 0", field="budget", values={"usd": budget}
        )


def check_executor(executor: str, address: str | None) -> bool:
    """Whether the batch plays on Ray; refuses an unknown executor, and an address
    without Ray."""
    from engine.batch.ray_executor import EXECUTORS

    if executor not in EXECUTORS:
        raise InvalidRequest(
            "{executor} {name} is not an executor: choose process or ray",
            field="executor",
            values={"name": executor},
        )
    if address is not None and executor != "ray":
        raise InvalidRequest(
            "{address} {value} is where a Ray cluster is: it goes with {executor} ray",
            field="address",
            values={"value": address},
        )
    return executor == "ray"


def _load(request: BatchRunRequest) -> BatchPlan:
    from engine.batch.config import load_batch
    from engine.play.limits import check_prompt_sizes
    from engine.play.session import check_labels

    check_budget(request.budget)
    _name, tags = check_labels(None, request.tags)
    plan = load_batch(request.file, budget_usd=request.budget)
    plan.tags = tags
    for variation in plan.variations:
        if variation.loaded is None:
            continue
        found = check_prompt_sizes(
            variation.loaded.scenario,
            model_overrides=variation.model_overrides,
            allow=request.allow_long_prompts,
        )
        plan.warnings.extend(f"{variation.name}: {line}" for line in found)
    return plan


def plan_batch(settings: LabSettings, request: BatchRunRequest) -> BatchPlanView:
    """The batch file's matrix and an estimate of its cost; nothing is written."""
    from engine.play.estimate import estimate_run

    plan = _load(request)
    table = price_table(settings)
    per_run = int(plan.config["runs_per_variation"])
    rows = []
    unpriced: set[str] = set()
    for v in plan.variations:
        assert v.loaded is not None  # a batch file's variations are scenarios
        est = estimate_run(v.loaded.scenario, table, model_overrides=v.model_overrides)
        unpriced.update(r.model for r in est.by_model if not r.priced)
        rows.append(
            VariationEstimate(
                index=v.index,
                name=v.name,
                runs=per_run,
                calls_per_run=est.calls,
                usd_per_run=est.cost_usd,
                usd=est.cost_usd * per_run,
            )
        )
    assert plan.base is not None
    return BatchPlanView(
        name=plan.name,
        source=plan.source,
        base_scenario=plan.base.scenario.name,
        base_scenario_path=str(plan.config["base_scenario"]),
        base_scenario_sha256=plan.base.sha256,
        runs_per_variation=per_run,
        runs=len(plan.runs),
        seed=int(plan.config["seed"]),
        budget_usd=plan.budget_usd,
        estimated_usd=sum(r.usd for r in rows),
        variations=tuple(rows),
        unpriced=tuple(sorted(unpriced)),
        warnings=tuple(plan.warnings),
    )


def _plan_models(plan: BatchPlan, store: EventStore | None = None) -> list[str]:
    """Every model any run of the plan may call (for the credentials check)."""
    found: set[str] = set()
    for v in plan.variations:
        if v.loaded is not None:
            found.update(models_needed(v.loaded.scenario, v.model_overrides, None))
    if plan.kind == "continuations" and store is not None:
        from engine.replay import replay
        from engine.scenario.model import Scenario

        state = replay(store, plan.runs[0].run_id)
        found.update(
            models_needed(
                Scenario.from_resolved(state.scenario),
                dict(state.settings.model_overrides),
                state.settings.world_model,
            )
        )
    return sorted(found)


def _created(batch_id: str, plan: BatchPlan) -> BatchCreated:
    per_run = plan.config.get("runs_per_variation") or plan.config.get("count") or 1
    return BatchCreated(
        batch_id=batch_id,
        name=plan.name,
        variations=len(plan.variations),
        runs_per_variation=int(per_run) if plan.kind == "matrix" else len(plan.runs),
        runs=len(plan.runs),
        warnings=tuple(plan.warnings),
        parent_run_id=plan.config.get("parent_run_id") if plan.kind == "continuations" else None,
    )


def create_batch(settings: LabSettings, request: BatchRunRequest) -> BatchCreated:
    """Check the batch file (every problem at once), its models' credentials and the
    price file, then record the batch and every planned run."""
    from engine.batch.plan import record_batch

    from .models import check_models

    plan = _load(request)
    models = _plan_models(plan)
    check_models(settings, models)
    check_priced(price_table(settings), models, plan.budget_usd, field="budget")
    with open_store(settings, create=True) as store:
        batch_id = record_batch(store, plan)
    return _created(batch_id, plan)


def create_continuations(settings: LabSettings, request: ForkRun) -> BatchCreated:
    """``request.count`` branches of a run from one turn, with derived seeds (paired
    with ``request.paired``), each with the request's decisions and injected events,
    recorded as a batch of continuations: a counterfactual set, or a baseline set when
    nothing is edited (seats cannot change hands)."""
    from engine.batch.continuations import ForkEdit, record_continuations
    from engine.batch.plan import batch_plan
    from engine.replay import replay

    from .models import check_models
    from .runs import check_turns_left, run_models

    check_fork(request)
    check_budget(request.budget)
    if request.count is None:
        raise InvalidRequest("{count} is needed for continuations", field="count", values={})
    with open_store(settings) as store:
        parent = store.resolve(request.run)
        require_verified(store, [parent])
        check_turns_left(store, parent, request)
        state = replay(store, parent)
        models = run_models(state, request.models)
        check_models(settings, models)
        limit = request.credit_limit
        table = price_table(settings)
        check_priced(table, models, state.settings.credit_limit_usd if limit is None else limit)
        check_priced(table, models, request.budget, field="budget")
        batch_id = record_continuations(
            store,
            parent,
            request.at_turn,
            request.count,
            seed=request.seed,
            turns=request.turns,
            model_overrides=request.models,
            credit_limit_usd=request.credit_limit,
            budget_usd=request.budget,
            edit=ForkEdit(decisions=request.decisions, injections=request.inject),
            paired=request.paired,
            tags=request.tags,
        )
        _id, plan = batch_plan(store, batch_id)
    return _created(batch_id, plan)


def prepare_batch_resume(settings: LabSettings, request: BatchResume) -> BatchCreated:
    """Find the batch and check what finishing it needs (its models' credentials)."""
    from engine.batch.plan import batch_plan

    from .models import check_models

    check_budget(request.budget)
    with open_store(settings) as store:
        batch_id, plan = batch_plan(store, request.batch)
        check_models(settings, _plan_models(plan, store))
    return _created(batch_id, plan)


async def play_batch(
    settings: LabSettings,
    batch_id: str,
    *,
    parallel: int | None = None,
    budget: float | None = None,
    progress: BatchProgress | None = None,
    executor: str = "process",
    address: str | None = None,
) -> BatchStatus:
    """Play every run of the batch that is not finished: unstarted ones start,
    interrupted ones resume (and, with a raised ``budget``, the ones the old budget
    halted). ``parallel`` runs at once; at most ``settings.concurrency`` model calls in
    flight batch-wide. ``executor``: "process" (this machine: worker processes for
    rule-driven runs, this process's event loop for the others) or "ray" (every run a
    task on the Ray cluster at ``address``, or on a local Ray without one). Returns the
    batch's status after."""
    from engine.batch.plan import batch_plan
    from engine.batch.play import play_batch as play
    from engine.batch.ray_executor import RayOptions

    check_budget(budget)
    ray = check_executor(executor, address)
    with open_store(settings) as store:
        batch_id, plan = batch_plan(store, batch_id)
        models = _plan_models(plan, store)
        client = make_client(settings, models)
    prices = await load_prices(settings, client) if client is not None else price_table(settings)
    check_priced(prices, models, plan.budget_usd if budget is None else budget, field="budget")
    await play(
        settings.db,
        batch_id,
        client=client,
        prices=prices,
        parallel=parallel,
        call_limit=settings.concurrency,
        budget_usd=budget,
        progress=progress,
        ray=RayOptions(address) if ray else None,
    )
    return batch_status(settings, batch_id)


def batch_status(settings: LabSettings, batch_ref: str) -> BatchStatus:
    """Every planned run's status, cost and (when cut short) why; counts per variation."""
    from engine.batch.stats import batch_status as status

    with open_store(settings) as store:
        found = status(store, batch_ref)
    return found


def list_batches(settings: LabSettings) -> tuple[BatchStatus, ...]:
    """Every batch in the log, newest first, with its status."""
    from engine.batch.stats import batch_status as status

    with open_store(settings) as store:
        found = [status(store, b["batch_id"]) for b in store.list_batches()]
    return tuple(found)
