"""``batch run --executor ray``: every planned run of a batch as a task on a Ray cluster.

The driver (this process) records nothing itself: it hands runs to the cluster and
collects their outcomes, while every worker writes to the shared log. Rule-driven runs
are plain tasks of a few runs each, one per CPU (``ray_workers.play_rule_runs``); runs
that call models are actor tasks on async run hosts (``ray_workers.RunHost``), many at
once per host, since their work is waiting for models. The cap on model calls in flight
is split between the hosts; under a budget one ``CallGate`` actor holds it for the whole
cluster.

Ray is an optional extra and imported only here, only when this executor is used.
Without ``address`` a local Ray is started for this batch (this machine's CPUs, no
dashboard, on loopback) and stopped after it; with one, the cluster there is joined.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from engine.batch.outcomes import (
    BatchProgress,
    BatchResult,
    RunOutcome,
    budget_left,
    failed_outcome,
    log_outcome,
)
from engine.batch.plan import PlannedRun
from engine.llm import LLMClient, PriceTable, Router
from engine.play.calls import Budget
from eventstore import UsageError

log = logging.getLogger(__name__)

EXECUTORS = ("process", "ray")
INSTALL_HINT = "pip install 'scenario-lab[ray]'"
RETRIES = 3  # a task or host whose worker dies is retried this often, then the run fails
CHUNK = 8  # rule runs a task plays at most (measured: 1,000 runs, see bench_batch_ray.py)


@dataclass(frozen=True)
class RayOptions:
    """Where the batch's Ray cluster is: ``address`` (``ray start --head`` prints it),
    or None to start a local one for this batch."""

    address: str | None = None


def log_location(db: str | Path) -> str:
    """The log as every worker must name it: a URL as given, a file as an absolute path
    (workers do not share this process's working directory)."""
    text = str(db)
    return text if "://" in text else str(Path(text).resolve())


def connect(options: RayOptions) -> tuple[ModuleType, bool]:
    """Ray, initialised for this process; and whether this call started it (then the
    caller shuts it down). One clear error when Ray is missing or the cluster is not
    there."""
    try:
        import ray
    except ImportError:
        raise UsageError(
            "{executor} ray needs Ray, which is not installed",
            field="executor",
            values={},
            hint=INSTALL_HINT,
        ) from None
    if ray.is_initialized():
        return ray, False
    quiet: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    try:
        if options.address:
            _probe(options.address)
            ray.init(address=options.address, **quiet)
        else:
            # "local": a new instance even if another one runs on this machine; loopback
            # only, so nothing listens on the network
            # workers at the batch process's priority: Ray's default (nice 15) suits a
            # machine given to Ray, but here the batch shares this one, and its workers
            # would yield to any other program, as the process pool's do not
            ray.init(
                address="local",
                num_cpus=os.cpu_count() or 1,
                _node_ip_address="127.0.0.1",
                _system_config={"worker_niceness": 0},
                **quiet,
            )
    except Exception as e:  # Ray raises ConnectionError, RuntimeError, ValueError...
        where = options.address or "a local Ray"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UsageError(
            "cannot reach the Ray cluster at {where}: {why}",
            field="address",
            values={"where": where, "why": first},
            hint="start one with `ray start --head` and give the address it prints "
            "(host:6379), or none for a local Ray; a cluster with token authentication "
            "also needs RAY_AUTH_MODE=token and its token in ~/.ray/auth_token here",
        ) from None
    return ray, True


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once when nothing listens at ``address`` (host:port, or ray://host:port):
    Ray itself would retry for minutes before giving up."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        if address == "auto":  # the cluster on this machine: Ray finds it, or says so
            return
        raise ValueError(f"{address!r} is not host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ConnectionError(f"nothing answers there ({e.strerror or e})") from None


def play_on_ray(
    ray: ModuleType,
    db: str,
    batch_id: str,
    todo: list[tuple[PlannedRun, str]],
    client: LLMClient | None,
    prices: PriceTable,
    parallel: int | None,
    call_limit: int,
    budget: Budget,
    progress: BatchProgress,
    result: BatchResult,
) -> None:
    """Play ``todo`` (run, action) on the cluster ``ray`` is connected to (``connect``);
    outcomes go into ``result``.

    ``parallel`` runs in flight across the cluster (default: one per CPU for rule
    runs; 8 for runs that call models), at most ``call_limit`` model calls in flight.
    """
    if client is not None and not isinstance(client, Router):
        raise UsageError(
            "the ray executor gives its workers the LLM settings of a Router",
            hint="play this batch with the process executor",
        )
    from engine.batch import ray_workers

    rw: Any = ray_workers  # Ray's decorators hide .remote from the type checker
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    # the gate is an actor (a process) of its own: only a batch with a budget needs one,
    # rule runs never (they call no model)
    gate: Any = None
    gate_name: str | None = None
    if client is not None and budget.limit_usd is not None:
        gate_name = f"scenario-lab-gate-{batch_id}-{uuid.uuid4().hex[:8]}"
        gate = rw.CallGate.options(name=gate_name).remote(
            call_limit, budget.limit_usd, budget.spent_usd
        )
    workers: _Rules | _Hosts | None = None
    try:
        if client is None:
            slots = parallel or cpus
            workers = _Rules(rw, db, batch_id)
        else:
            slots = parallel or 8
            workers = _Hosts(
                ray, rw, db, batch_id, client, prices, gate_name, slots, cpus, call_limit
            )
        log.info("batch.ray.start", extra={"runs": len(todo), "slots": slots, "cpus": cpus})
        _feed(ray, workers, gate, slots, cpus, todo, budget, progress, result)
    finally:
        if workers is not None:
            workers.close(ray)
        if gate is not None:
            ray.kill(gate)
    log.info("batch.ray.finish", extra={"runs": len(result.outcomes)})


class _Rules:
    """Rule runs as plain tasks, one CPU each, several runs a task: a task costs the
    driver a round trip and the worker a wait for its next one, a few milliseconds that
    add up over runs of a tenth of a second. Ray queues the tasks beyond the cluster's
    CPUs, so a worker that finishes one starts the next at once."""

    def __init__(self, rw: Any, db: str, batch_id: str) -> None:
        self.rw, self.db, self.batch_id = rw, db, batch_id

    def chunk(self, queued: int, tasks: int) -> int:
        """Runs for the next task: up to ``CHUNK``, fewer towards the end, so that the
        last tasks are short and the CPUs finish together."""
        return max(1, min(CHUNK, queued // (2 * tasks)))

    def queue_ahead(self, slots: int, cpus: int) -> int:
        """Tasks beyond ``slots`` to keep queued: only when the slots fill the cluster,
        so Ray, not the queue, decides that none runs beyond the CPUs."""
        return cpus if slots >= cpus else 0

    def submit(self, items: list[tuple[PlannedRun, str]]) -> Any:
        plays = [(pr.index, action) for pr, action in items]
        return self.rw.play_rule_runs.remote(self.db, self.batch_id, plays)

    def finished(self, ref: Any) -> None:
        return None

    def close(self, ray: ModuleType) -> None:
        return None


class _Hosts:
    """Runs that call models, on async hosts: one per CPU (at most one per run slot and
    one per call of the cap), the runs spread evenly; a host whose worker dies is
    restarted, its calls retried."""

    def __init__(
        self,
        ray: ModuleType,
        rw: Any,
        db: str,
        batch_id: str,
        client: Router,
        prices: PriceTable,
        gate_name: str | None,
        slots: int,
        cpus: int,
        calls: int,
    ) -> None:
        count = max(1, min(cpus, slots, calls))
        per_host = math.ceil(slots / count)
        # each host holds its share of the cap: together never more than the cap
        shares = [calls // count + (i < calls % count) for i in range(count)]
        # in the object store, held here for the whole batch, so that a host restarted
        # after its worker died still finds them; inside a list, so Ray hands the host
        # the reference and the host reads the table itself
        self.prices = ray.put(prices)
        self.hosts = [
            rw.RunHost.options(
                num_cpus=1,
                max_concurrency=per_host + 2,
                max_restarts=RETRIES,
                max_task_retries=RETRIES,
            ).remote(
                f"host-{i}", db, batch_id, client.settings, [self.prices], gate_name, shares[i]
            )
            for i in range(count)
        ]
        self.load = [0] * count
        self.where: dict[Any, int] = {}

    def chunk(self, queued: int, tasks: int) -> int:
        return 1  # a run waits for models: one a call, so the host plays many at once

    def queue_ahead(self, slots: int, cpus: int) -> int:
        return 0

    def submit(self, items: list[tuple[PlannedRun, str]]) -> Any:
        [(pr, action)] = items
        i = self.load.index(min(self.load))
        self.load[i] += 1
        ref = self.hosts[i].play.remote(pr.index, action)
        self.where[ref] = i
        return ref

    def finished(self, ref: Any) -> None:
        self.load[self.where.pop(ref)] -= 1

    def close(self, ray: ModuleType) -> None:
        for host in self.hosts:
            ray.kill(host)


def _feed(
    ray: ModuleType,
    workers: _Rules | _Hosts,
    gate: Any,
    slots: int,
    cpus: int,
    todo: list[tuple[PlannedRun, str]],
    budget: Budget,
    progress: BatchProgress,
    result: BatchResult,
) -> None:
    """Keep ``slots`` runs in flight (and what ``queue_ahead`` allows queued on the
    cluster), no more, so a spent budget or a stop is quick."""
    queue = deque(todo)
    running: dict[Any, list[PlannedRun]] = {}
    tasks = slots + workers.queue_ahead(slots, cpus)
    while queue or running:
        if gate is not None:
            _sync_budget(ray, gate, budget, progress)
        while queue and len(running) < tasks:
            if not budget_left(budget, result):
                result.not_started.extend(pr for pr, _ in queue)
                progress.total -= len(queue)
                queue.clear()
                break
            n = workers.chunk(len(queue), tasks)
            items = [queue.popleft() for _ in range(min(n, len(queue)))]
            running[workers.submit(items)] = [pr for pr, _ in items]
        progress.running = min(slots, sum(map(len, running.values())))
        if not running:
            break
        done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
        for ref in done:
            prs = running.pop(ref)
            workers.finished(ref)
            for outcome in _outcomes(ray, ref, prs):
                result.outcomes.append(outcome)
                log_outcome(outcome)
                progress.done += 1
                progress.events += outcome.events
                if outcome.batch_budget:
                    result.budget_spent = True
    if gate is not None:
        _sync_budget(ray, gate, budget, progress)
    progress.running = 0


def _outcomes(ray: ModuleType, ref: Any, prs: list[PlannedRun]) -> list[RunOutcome]:
    """The outcomes of the runs ``prs`` the task ``ref`` played: a task returns a list
    (rule runs) or one outcome (a run host); a task that raised fails its runs."""
    try:
        got: RunOutcome | list[RunOutcome] = ray.get(ref)
    except ray.exceptions.RayTaskError as e:  # raised in the task: its runs failed
        cause = e.as_instanceof_cause()
        why = cause if isinstance(cause, Exception) else e
        return [failed_outcome(pr, why, 0) for pr in prs]
    except ray.exceptions.RayError as e:  # its worker died more often than retried
        died = RuntimeError(f"its Ray worker died {1 + RETRIES} times: {type(e).__name__}")
        return [failed_outcome(pr, died, 0) for pr in prs]
    return got if isinstance(got, list) else [got]


def _sync_budget(ray: ModuleType, gate: Any, budget: Budget, progress: BatchProgress) -> None:
    """The gate's figures into this process's view of the budget, for whether another
    run may start and for the progress display."""
    spent, reserved, _limit, _calls = ray.get(gate.numbers.remote())
    budget.spent_usd, budget.reserved_usd = spent, reserved
    progress.cost_usd = spent
