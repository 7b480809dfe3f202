"""Playing a batch: every run of a recorded plan, under one budget, resumable.

    plan = load_batch("experiments/hawks.yaml")                      # engine.batch.config
    with EventStore.open(db) as store:
        batch_id = record_batch(store, plan)                         # engine.batch.plan
    result = run_batch(db, batch_id, client=router, prices=prices)   # `batch resume` too

Runs are created lazily, each under its lease, with the id and seed the plan fixed, so
"not started" is simply "planned but not in the log". ``run_batch`` plays whatever is
left: runs never started are started, interrupted ones resumed (a recorded model answer
is never asked for again), runs another live process holds are left to it.

Batches that call models play in this process: many runs at once on one event loop,
``parallel`` runs in flight, one ``anyio.CapacityLimiter`` over every model call, one
shared ``Budget`` the runs' budgets point at (no call may cross the batch budget, and
once it is spent no run starts). Rule-driven batches are CPU-bound: they play in worker
processes (``engine.batch.workers``). With ``ray=RayOptions(...)`` every run is a task
on a Ray cluster instead (``engine.batch.ray_executor``).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from engine.batch.continuations import ForkEdit, record_continuations
from engine.batch.heap import frozen_heap
from engine.batch.outcomes import (
    BatchProgress,
    BatchResult,
    RunOutcome,
    budget_left,
    failed_outcome,
    is_batch_budget,
    log_outcome,
    outcome_of,
    own_costs,
    run_ends,
    skipped_outcome,
)
from engine.batch.plan import BatchPlan, PlannedRun, batch_plan
from engine.batch.ray_executor import RayOptions
from engine.batch.runs import BatchLease, start_variation
from engine.llm import LLMClient, PriceTable
from engine.observe import bound, step
from engine.play.calls import Budget
from engine.play.player import Progress, RunPlayer
from engine.play.session import prepare_resume
from engine.summary import summarize
from eventstore import (
    EventStore,
    RunLease,
    RunLocked,
    RunNotFound,
    ScenarioLabError,
    log_location,
)

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 8  # runs in flight in one process (batches that call models)
DEFAULT_WORKERS = 2  # worker processes (rule-driven batches)
DEFAULT_CALL_LIMIT = 16  # concurrent model calls across the whole batch


# -- playing ---------------------------------------------------------------------------


def run_batch(db_path: str | Path, batch_ref: str, **options: Any) -> BatchResult:
    """``play_batch`` (same options) on an event loop of its own, for callers that have
    none."""
    return anyio.run(functools.partial(play_batch, db_path, batch_ref, **options))


async def play_batch(
    db_path: str | Path,
    batch_ref: str,
    *,
    client: LLMClient | None = None,
    prices: PriceTable | None = None,
    parallel: int | None = None,
    call_limit: int = DEFAULT_CALL_LIMIT,
    budget_usd: float | None = None,
    progress: BatchProgress | None = None,
    ray: RayOptions | None = None,
) -> BatchResult:
    """Play every run of the batch that is not finished; ``batch resume`` is this again.

    ``client`` is closed when the batch ends (it lives on the caller's event loop). With
    no client the runs call no model and play in ``parallel`` worker processes (default
    2; this waits for them in a worker thread); otherwise ``parallel`` runs play at once
    on this event loop (default: the file's max_parallel, else 8) with at most
    ``call_limit`` model calls in flight. ``budget_usd`` replaces the recorded budget for
    this session. With ``ray`` every run is a task on that Ray cluster instead
    (``engine.batch.ray_executor``).
    """
    progress = progress or BatchProgress()
    with EventStore.open(db_path, create=False) as store:
        batch_id, plan = batch_plan(store, batch_ref)
    # One process plays a batch at a time: two would each count the budget as theirs.
    hold = RunLease(db_path, f"batch-{batch_id}")
    try:
        hold.acquire()
    except RunLocked:
        raise RunLocked(
            batch_id,
            message=f"batch {batch_id} is being played by another live process",
        ) from None
    try:
        with step("batch", batch=batch_id):
            return await _play_batch(
                db_path,
                batch_id,
                plan,
                client,
                prices,
                parallel,
                call_limit,
                budget_usd,
                progress,
                ray,
            )
    finally:
        hold.release()


async def _play_batch(
    db_path: str | Path,
    batch_id: str,
    plan: BatchPlan,
    client: LLMClient | None,
    prices: PriceTable | None,
    parallel: int | None,
    call_limit: int,
    budget_usd: float | None,
    progress: BatchProgress,
    ray: RayOptions | None = None,
) -> BatchResult:
    # A session that raises the budget also goes on with the runs the old one halted.
    raised = budget_usd is not None and (plan.budget_usd is None or budget_usd > plan.budget_usd)
    with EventStore.open(db_path, create=False) as store:
        ends = run_ends(store, batch_id)
        reopen = {r for r, (reason, detail) in ends.items() if is_batch_budget(reason, detail)}
        todo = _todo(store, batch_id, plan, reopen if raised else set())
        spent = sum(own_costs(store, batch_id).values())
        stopped = bool(reopen)
    limit = budget_usd if budget_usd is not None else plan.budget_usd
    budget = Budget(limit_usd=limit, spent_usd=spent)
    progress.batch_id, progress.total, progress.budget_usd = batch_id, len(todo), limit
    progress.cost_usd = spent
    result = BatchResult(batch_id)
    # A run already halted at the budget means the next call did not fit: the budget is
    # spent unless this session raised it.
    result.budget_spent = stopped and not raised
    log.info("batch.play", extra={"runs": len(todo), "spent_usd": spent, "budget_usd": limit})
    if ray is not None:
        await _on_ray(
            ray,
            db_path,
            batch_id,
            todo,
            client,
            prices,
            parallel,
            call_limit,
            budget,
            progress,
            result,
        )
        return result
    # runs not begun yet: of a batch file, never started; continuations, only forked
    fresh = ("start", "fork")
    pooled = [pr for pr, action in todo if client is None and action in fresh]
    local = [(pr, action) for pr, action in todo if not (client is None and action in fresh)]
    if local or client is not None:
        session = BatchSession(
            store_path=log_location(db_path),
            batch_id=batch_id,
            plan=plan,
            client=client,
            prices=prices or PriceTable.load(),
            budget=budget,
            progress=progress,
            result=result,
        )
        n = parallel or plan.max_parallel or DEFAULT_PARALLEL
        with frozen_heap():
            await session.play_all(local, n, call_limit)
    if pooled:
        workers = parallel or plan.max_parallel or DEFAULT_WORKERS
        await _in_workers(
            log_location(db_path), batch_id, plan, pooled, workers, budget, progress, result
        )
    return result


async def _in_workers(
    db_path: Path | str,
    batch_id: str,
    plan: BatchPlan,
    todo: list[PlannedRun],
    workers: int,
    budget: Budget,
    progress: BatchProgress,
    result: BatchResult,
) -> None:
    """``play_in_workers`` waited for in a worker thread, so the event loop stays free."""
    from engine.batch.workers import play_in_workers

    await _in_thread(
        lambda: play_in_workers(db_path, batch_id, plan, todo, workers, budget, progress, result),
        result,
    )


async def _on_ray(
    options: RayOptions,
    db_path: str | Path,
    batch_id: str,
    todo: list[tuple[PlannedRun, str]],
    client: LLMClient | None,
    prices: PriceTable | None,
    parallel: int | None,
    call_limit: int,
    budget: Budget,
    progress: BatchProgress,
    result: BatchResult,
) -> None:
    """``play_on_ray`` waited for in a worker thread; ``client`` closed after."""
    from engine.batch.ray_executor import connect, log_location, play_on_ray

    if not todo:
        return
    db, table = log_location(db_path), prices or PriceTable.load()
    started = False
    try:
        # in this thread: Ray sets its signal handlers up only in the main thread
        ray, started = connect(options)
        await _in_thread(
            lambda: play_on_ray(
                ray,
                db,
                batch_id,
                todo,
                client,
                table,
                parallel,
                call_limit,
                budget,
                progress,
                result,
            ),
            result,
        )
    finally:
        if started:
            ray.shutdown()
        aclose = getattr(client, "aclose", None)
        if aclose is not None:
            await aclose()


async def _in_thread(play: Callable[[], None], result: BatchResult) -> None:
    """Wait for ``play`` (which feeds runs to workers) in a worker thread.

    Cancelled (Ctrl-C, a stopped batch), it stops feeding the workers as a spent budget
    does: the runs in flight finish and are recorded, the others stay unstarted for
    ``batch resume``; then the cancellation goes on.
    """
    finished = threading.Event()

    def work() -> None:
        try:
            play()
        finally:
            finished.set()

    try:
        await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        result.stopped = True
        with anyio.CancelScope(shield=True):
            while not finished.is_set():
                await anyio.sleep(0.05)
        raise


def _todo(
    store: EventStore, batch_id: str, plan: BatchPlan, reopen: set[str]
) -> list[tuple[PlannedRun, str]]:
    """(run, "start" | "fork" | "resume") for each planned run this session should
    play: unstarted ("start"; a continuation forked but never played: "fork"),
    interrupted, and halted ones in ``reopen`` (by the budget it raised)."""
    existing = {info.run_id: info for info in store.list_runs(batch_id=batch_id)}
    out: list[tuple[PlannedRun, str]] = []
    for pr in plan.runs:
        info = existing.get(pr.run_id)
        if info is None:
            out.append((pr, "start"))
            continue
        status = summarize(store, info).status
        if status == "not_started" and plan.kind == "continuations":
            out.append((pr, "fork"))
        elif status in ("interrupted", "not_started") or (
            status == "halted" and pr.run_id in reopen
        ):
            out.append((pr, "resume"))
        # running: another live process plays it; anything else is finished
    return out


@dataclass
class BatchSession:
    """One process playing runs of a batch on one event loop."""

    store_path: str | Path  # the log as --db names it
    batch_id: str
    plan: BatchPlan
    client: LLMClient | None
    prices: PriceTable
    budget: Budget
    progress: BatchProgress
    result: BatchResult
    live: dict[str, tuple[RunPlayer, int]] = field(default_factory=dict)
    finished_events: int = 0

    async def play_all(self, todo: list[tuple[PlannedRun, str]], parallel: int, calls: int) -> None:
        limiter = anyio.CapacityLimiter(calls)
        slots = anyio.Semaphore(max(1, parallel))
        try:
            with EventStore.open(self.store_path, create=False) as store:
                async with anyio.create_task_group() as ticker:
                    ticker.start_soon(self._tick)
                    async with anyio.create_task_group() as tg:
                        for pr, action in todo:
                            await slots.acquire()
                            if not budget_left(self.budget, self.result):
                                slots.release()
                                self.result.not_started.append(pr)
                                self.progress.total -= 1
                                continue
                            self.progress.running += 1
                            tg.start_soon(self._one, store, pr, action, limiter, slots)
                    ticker.cancel_scope.cancel()
        finally:
            self._tick_once()
            aclose = getattr(self.client, "aclose", None)  # not every LLMClient has one
            if aclose is not None:
                await aclose()

    async def _one(
        self,
        store: EventStore,
        pr: PlannedRun,
        action: str,
        limiter: anyio.CapacityLimiter,
        slots: anyio.Semaphore,
    ) -> None:
        try:
            with bound(run=pr.run_id):
                outcome = await self.play_one(store, pr, action, limiter)
            log_outcome(outcome)
            # counted before the slot frees, so the next start sees a spent budget
            self.result.outcomes.append(outcome)
            self.finished_events += outcome.events
            self.progress.done += 1
            if outcome.batch_budget:
                self.result.budget_spent = True
        finally:
            self.progress.running -= 1
            slots.release()

    async def play_one(
        self, store: EventStore, pr: PlannedRun, action: str, limiter: anyio.CapacityLimiter
    ) -> RunOutcome:
        """Play one planned run ("start", "fork" or "resume") under its lease; how it
        ended, or why it was skipped or failed (never raised: the batch goes on)."""
        lease = BatchLease(store.path, pr.run_id)
        try:
            if action == "resume" and store.has_own_event(pr.run_id, "TurnStarted"):
                prepare_resume(store, pr.run_id)
            lease.acquire()
        except (RunLocked, ScenarioLabError) as e:
            return skipped_outcome(pr, e)
        try:
            return await self._play_held(store, pr, action, limiter, lease)
        except Exception as e:  # this run cannot be played; the batch goes on
            return failed_outcome(pr, e, 0)
        finally:
            lease.release()

    async def _play_held(
        self,
        store: EventStore,
        pr: PlannedRun,
        action: str,
        limiter: anyio.CapacityLimiter,
        lease: RunLease,
    ) -> RunOutcome:
        if action == "start":
            try:
                store.run_info(pr.run_id)
            except RunNotFound:
                start_variation(store, self.batch_id, self.plan, pr)
            else:
                return skipped_outcome(pr, "started by another process")
        player = RunPlayer(
            store,
            pr.run_id,
            client=self.client,
            prices=self.prices,
            limiter=limiter,
            batch_budget=self.budget,
            progress=Progress(),
            lease=lease,
        )
        first = player.seq
        self.live[pr.run_id] = (player, first)
        try:
            state = await player.play()
        except Exception as e:  # the player recorded RunFailed when it could
            state = player.state
            if state.status != "failed":
                return failed_outcome(pr, e, player.seq - first)
        finally:
            del self.live[pr.run_id]
        return outcome_of(pr, state, player.seq - first, store.own_cost(pr.run_id))

    async def _tick(self) -> None:
        while True:
            self._tick_once()
            await anyio.sleep(0.2)

    def _tick_once(self) -> None:
        events, partial = self.finished_events, 0.0
        for player, first in list(self.live.values()):
            events += player.seq - first
            st = player.state
            if st.settings.turns:
                partial += min(1.0, st.last_completed_turn / st.settings.turns)
        self.progress.events = events
        self.progress.partial = partial
        self.progress.cost_usd = self.budget.spent_usd


# -- Monte-Carlo continuations ------------------------------------------------------------


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
    edit: ForkEdit | None = None,
    paired: bool = False,
) -> str:
    """Fork ``run_id`` at ``at_turn`` ``count`` times and play the branches as a batch
    (``record_continuations``, then ``run_batch``), each with ``edit`` if given (a
    counterfactual set). ``client`` is closed when done. Returns the batch id."""
    batch_id = record_continuations(
        store,
        run_id,
        at_turn,
        count,
        seed=seed,
        turns=turns,
        model_overrides=model_overrides,
        credit_limit_usd=credit_limit_usd,
        budget_usd=budget_usd,
        edit=edit,
        paired=paired,
    )
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
