"""What runs on the Ray cluster for ``--executor ray``: the budget gate, the run hosts
and the rule-run task.

- ``RunHost``: an async actor that plays runs which call models, many at once on its
  event loop (their calls are I/O), each run step by step in the shared log, so a run
  whose host dies resumes from what it recorded: no answered call is asked again. The
  cap on model calls in flight is split between the hosts: each holds its share in a
  local limiter, so the cap costs no round trip per call and the cluster never has more
  calls in flight than the cap.
- ``CallGate``: one actor per batch session holding the batch budget for the whole
  cluster. Under a budget every model call reserves its worst-case cost there first
  (as ``engine.play.calls.Budget`` does in one process) and settles at its actual cost.
- ``play_rule_run``: a task per rule-driven run; CPU-bound, so one per CPU. It plays
  the run in a scratch log and writes it in one transaction (``engine.batch.workers``).

The log is named by the ``--db`` string (a file path, or a URL once another backend
exists), never assumed to be a path on the worker's machine.

A worker killed mid-run loses only what it had not recorded: its lease (an OS lock)
dies with it, Ray retries the task (a host actor is restarted, its calls retried), and
the retry finds the run where the log says it is.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import shutil
import tempfile
from typing import Any

import anyio
import ray

from engine.batch import workers
from engine.batch.outcomes import (
    BatchProgress,
    BatchResult,
    RunOutcome,
    outcome_of,
    skipped_outcome,
)
from engine.batch.plan import BatchPlan, PlannedRun, batch_plan
from engine.batch.play import BatchSession  # play imports this module only when used
from engine.batch.ray_executor import RETRIES
from engine.errors import BudgetExceeded
from engine.llm import ChatRequest, ChatResponse, LLMClient, LLMSettings, PriceTable, Router
from engine.play.calls import Budget, ModelCaller
from engine.replay import replay
from engine.summary import summarize
from eventstore import EventStore, RunNotFound, is_held

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0)
class CallGate:
    """The batch's budget for every worker, and a cap on the calls that reserve in it.

    Reservations are kept per holder (a host's name): a host restarted after its worker
    died calls ``forget`` first, which gives back what the dead one held.
    """

    def __init__(
        self, cap: int, limit_usd: float | None, spent_usd: float, prices: PriceTable
    ) -> None:
        # the prices live here for the hosts: a restarted actor must find its arguments,
        # and a big one would sit in the object store, where it may be gone by then
        self.prices = prices
        self.cap = max(1, cap)
        self.limit = limit_usd
        self.spent = spent_usd
        self.reserved = 0.0
        self.held: dict[str, list[float]] = {}
        self.changed = asyncio.Condition()

    async def acquire(self, holder: str, estimate: float, what: str) -> str | None:
        """Wait for a slot and room in the budget, and hold both; or, when the call
        would cross the budget even alone, return why (the run halts) and hold nothing."""
        async with self.changed:
            while True:
                if self.limit is not None and self.spent + estimate > self.limit + 1e-12:
                    return (
                        f"{what} could cost ${estimate:.4f} and cross the batch budget of "
                        f"${self.limit:.4f} (spent ${self.spent:.4f})"
                    )
                crowded = (
                    self.limit is not None
                    and self.spent + self.reserved + estimate > self.limit + 1e-12
                )
                if not crowded and sum(map(len, self.held.values())) < self.cap:
                    break
                await self.changed.wait()
            self.reserved += estimate
            self.held.setdefault(holder, []).append(estimate)
        return None

    async def release(self, holder: str, estimate: float, actual: float) -> None:
        """A call settled at ``actual``: its slot and reservation are free again."""
        async with self.changed:
            mine = self.held.get(holder, [])
            if estimate in mine:  # else forgotten: its holder died and was restarted
                mine.remove(estimate)
                self.reserved -= estimate
            self.spent += actual
            self.changed.notify_all()

    async def forget(self, holder: str) -> None:
        """Give back every slot and reservation ``holder`` held (its worker died)."""
        async with self.changed:
            self.reserved -= sum(self.held.pop(holder, []))
            self.changed.notify_all()

    def price_table(self) -> PriceTable:
        """The batch's prices, for a run host starting."""
        return self.prices

    def numbers(self) -> tuple[float, float, float | None, int]:
        """(spent, reserved, limit, calls in flight), for the driver's progress."""
        return self.spent, self.reserved, self.limit, sum(map(len, self.held.values()))


class GatedClient:
    """An LLM client whose every call, under a batch budget, holds a reservation of the
    gate (and a slot of its cap) while it is in flight."""

    def __init__(
        self, inner: Router, prices: PriceTable, gate: Any, holder: str, budgeted: bool
    ) -> None:
        self.inner = inner
        self.prices = prices
        self.gate = gate
        self.holder = holder
        self.budgeted = budgeted
        # the run's own caller estimates the same way: one worst case for both budgets
        self._estimator = ModelCaller(inner, prices, anyio.CapacityLimiter(1), Budget(None))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if not self.budgeted:  # no budget to keep: the host's limiter is the whole cap
            return await self.inner.complete(request)
        estimate = self._estimator.estimate(request)
        what = f"the {request.purpose} call to {request.model}"
        if estimate is None:  # the run was refused at the start if a budget needs a price
            estimate = 0.0
        refused = await self.gate.acquire.remote(self.holder, estimate, what)
        if refused is not None:
            raise BudgetExceeded(refused, hint="resume the batch with a higher --budget")
        actual = 0.0
        try:
            response = await self.inner.complete(request)
            actual = (
                self.prices.cost(request.model, response.input_tokens, response.output_tokens)
                or 0.0
            )
        finally:
            await self.gate.release.remote(self.holder, estimate, actual)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def action_now(store: EventStore, plan: BatchPlan, pr: PlannedRun, planned: str) -> str | None:
    """What a (possibly retried) task should do with ``pr`` given the log now: "start",
    "fork" or "resume"; None when there is nothing to do (finished, or held by a live
    process). A retry after a worker died finds the run interrupted: it resumes."""
    try:
        info = store.run_info(pr.run_id)
    except RunNotFound:
        return "start"
    status = summarize(store, info).status
    if status == "not_started" and plan.kind == "continuations":
        return "fork"
    if status in ("interrupted", "not_started"):
        return "resume"
    if status == "halted" and planned == "resume":
        return "resume"  # halted by the budget this session raised
    return None


def done_outcome(store: EventStore, pr: PlannedRun) -> RunOutcome:
    """The outcome of a run there was nothing to do for: held by a live process, or
    finished (by an earlier attempt of this very task whose worker died after writing)."""
    if is_held(store.path, pr.run_id):
        return skipped_outcome(pr, "being played by another live process")
    return outcome_of(pr, replay(store, pr.run_id), 0, store.own_cost(pr.run_id))


@ray.remote
class RunHost:
    """Plays runs that call models, many at once on one event loop, in the shared log."""

    def __init__(
        self,
        name: str,
        db: str,
        batch_id: str,
        llm: LLMSettings,
        gate_name: str,
        calls: int,
    ) -> None:
        # by name, not by handle: Ray keeps a handle argument where a restart may not
        # find it again, and a host must be able to restart
        gate: Any = ray.get_actor(gate_name)
        ray.get(gate.forget.remote(name))  # a restarted host: what the dead one held
        prices: PriceTable = ray.get(gate.price_table.remote())
        budgeted = ray.get(gate.numbers.remote())[2] is not None
        self.store = EventStore.open(db, create=False)
        _id, self.plan = batch_plan(self.store, batch_id)
        self.runs = {r.index: r for r in self.plan.runs}
        client: LLMClient = GatedClient(Router(llm), prices, gate, name, budgeted)
        self.session = BatchSession(
            store_path=db,
            batch_id=batch_id,
            plan=self.plan,
            client=client,
            prices=prices,
            budget=Budget(None),  # the gate holds the batch budget
            progress=BatchProgress(),
            result=BatchResult(batch_id),
        )
        self.limiter = anyio.CapacityLimiter(max(1, calls))  # this host's share of the cap

    async def play(self, index: int, planned: str) -> RunOutcome:
        """Play planned run ``index``, or resume it where its last host left it."""
        pr = self.runs[index]
        action = action_now(self.store, self.plan, pr, planned)
        if action is None:
            return done_outcome(self.store, pr)
        return await self.session.play_one(self.store, pr, action, self.limiter)


_SCRATCH: dict[str, Any] = {}  # this worker process's scratch folder and the batch it serves


@ray.remote(max_retries=RETRIES)
def play_rule_run(db: str, batch_id: str, index: int, planned: str) -> RunOutcome:
    """Play one rule-driven planned run (or, retried, whatever its last attempt left)."""
    key = (db, batch_id)
    if _SCRATCH.get("key") != key:
        folder = _SCRATCH.get("folder") or tempfile.mkdtemp(prefix="scenario-lab-ray-")
        if "folder" not in _SCRATCH:
            atexit.register(shutil.rmtree, folder, True)
        workers.open_worker(db, batch_id, folder)
        _SCRATCH.update(key=key, folder=folder)
    store, plan, runs = workers.worker_batch()
    pr = runs[index]
    action = action_now(store, plan, pr, planned)
    if action is None:
        return done_outcome(store, pr)
    if action in ("start", "fork"):
        return workers.play_planned(index)
    session = BatchSession(
        store_path=db,
        batch_id=batch_id,
        plan=plan,
        client=None,
        prices=PriceTable.load(),
        budget=Budget(None),
        progress=BatchProgress(),
        result=BatchResult(batch_id),
    )
    limiter = anyio.CapacityLimiter(1)
    return anyio.run(session.play_one, store, pr, action, limiter)
