"""Rule-driven batch runs in worker processes.

Runs that call no model (of a batch file, or continuations of a run) are CPU-bound,
so a batch plays them in a process pool
(forkserver where the platform has it, else spawn); each worker opens the log itself
and plays whole runs. A worker plays a run in a private scratch log and then writes it
into the shared log in one transaction, under the run's lease the whole time.

Why not append step by step to the shared file, as a single run does: measured with
two workers, each append (a tenth of a millisecond) so often met the other process's
write lock, and SQLite's busy handler sleeps whole milliseconds, that two workers were
no faster than one. One write per run removes the contention. It costs nothing in
safety here: a rule run calls no model, so a run killed mid-way has nothing worth
keeping; it never reached the log, counts as not started, and the next session plays
it again from its seed to the same result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any

import anyio

from engine.batch.outcomes import (
    BatchProgress,
    BatchResult,
    RunOutcome,
    budget_left,
    failed_outcome,
    log_outcome,
    outcome_of,
    skipped_outcome,
)
from engine.batch.plan import BatchPlan, PlannedRun, plan_from_document
from engine.batch.runs import BatchLease, start_variation
from engine.fold.state import RunState
from engine.llm import PriceTable
from engine.observe import ContextFilter, bound, current
from engine.play.calls import Budget
from engine.play.player import RunPlayer
from eventstore import Event, EventStore, RunLocked, RunNotFound, ScenarioLabError

log = logging.getLogger(__name__)

_TEMPLATE = "template.db"
_WORKER: dict[str, Any] = {}  # what a worker process keeps between runs


class WorkerDied(ScenarioLabError):
    """A worker process of a rule-driven batch died (killed, out of memory)."""


def play_in_workers(
    db_path: Path | str,
    batch_id: str,
    plan: BatchPlan,
    todo: list[PlannedRun],
    workers: int,
    budget: Budget,
    progress: BatchProgress,
    result: BatchResult,
) -> None:
    """Play the ``todo`` runs (none of them in the log yet) in ``workers`` processes."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload([__name__])
    workers = max(1, workers)
    log.info("batch.workers.start", extra={"workers": workers, "runs": len(todo)})
    # Workers are fresh processes with no log handlers: when this one logs, their lines
    # come back through a queue to its handlers, with their run and turn on them.
    root = logging.getLogger()
    lines = ctx.Queue() if root.handlers else None
    listener = QueueListener(lines, *root.handlers, respect_handler_level=True) if lines else None
    logs = (lines, root.getEffectiveLevel(), dict(current()))
    with tempfile.TemporaryDirectory(prefix="scenario-lab-batch-") as scratch:
        EventStore.open(Path(scratch) / _TEMPLATE).close()
        pool = ProcessPoolExecutor(
            workers,
            mp_context=ctx,
            initializer=_init,
            initargs=(str(_absolute(db_path)), batch_id, scratch, os.getpid(), logs),
        )
        if listener is not None:
            listener.start()
        try:
            _feed(pool, workers, todo, budget, progress, result)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)  # then every worker's last line is in the queue
            if listener is not None:
                listener.stop()
    log.info("batch.workers.finish", extra={"workers": workers, "runs": len(result.outcomes)})


def _absolute(db: Path | str) -> Path | str:
    """The log as the workers (other folders maybe) must name it: a file resolved."""
    return db.resolve() if isinstance(db, Path) else db


def _feed(
    pool: ProcessPoolExecutor,
    workers: int,
    todo: list[PlannedRun],
    budget: Budget,
    progress: BatchProgress,
    result: BatchResult,
) -> None:
    """Keep every worker busy (and one run queued each), never more, so a stop is quick."""
    queue = deque(todo)
    running: dict[Future[RunOutcome], PlannedRun] = {}
    while queue or running:
        while queue and len(running) < 2 * workers:
            if not budget_left(budget, result):
                result.not_started.extend(queue)
                progress.total -= len(queue)
                queue.clear()
                break
            pr = queue.popleft()
            running[pool.submit(play_planned, pr.index)] = pr
        progress.running = min(len(running), workers)
        if not running:
            break
        done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
        for future in done:
            pr = running.pop(future)
            try:
                outcome = future.result()
            except BrokenProcessPool as e:
                raise WorkerDied(
                    f"a worker process of batch {progress.batch_id} died ({e})",
                    hint=f"`scenario-lab batch resume {progress.batch_id}` plays what is left",
                ) from e
            except Exception as e:  # that run failed outside the engine; the batch goes on
                outcome = failed_outcome(pr, e, 0)
            result.outcomes.append(outcome)
            log_outcome(outcome)
            progress.done += 1
            progress.events += outcome.events
    progress.running = 0


# -- in the worker ---------------------------------------------------------------------


def _watch_batch_process(pid: int) -> None:
    """Exit when the batch process is gone: SIGKILLed, it cannot shut its pool down, and
    workers (children of the fork server, not of it) would live on, holding the log."""

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, under another user
        try:  # a zombie has died too; its parent has only not reaped it yet (Linux)
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False

    def watch() -> None:
        while not gone():
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="scenario-lab-batch-watch", daemon=True).start()


def _init(
    db_path: str,
    batch_id: str,
    scratch: str,
    batch_pid: int,
    logs: tuple[Any, int, dict[str, Any]] = (None, logging.WARNING, {}),
) -> None:
    _watch_batch_process(batch_pid)
    lines, level, context = logs
    if lines is not None:
        handler = QueueHandler(lines)
        handler.addFilter(ContextFilter())  # stamped here: the context is this process's
        logging.getLogger().handlers[:] = [handler]
        logging.getLogger().setLevel(level)
    _WORKER["context"] = context
    with bound(**context):
        log.info("batch.worker.start", extra={"pid": os.getpid()})
    open_worker(db_path, batch_id, scratch)


def open_worker(db: str, batch_id: str, scratch: str) -> None:
    """Open the log (``db`` as ``--db`` names it) and the batch's plan for the runs this
    process will play, with ``scratch`` as the folder of its scratch logs. Pool workers
    call it once; a Ray worker (``engine.batch.ray_workers``) before its first run."""
    template = Path(scratch) / _TEMPLATE
    if not template.exists():
        EventStore.open(template).close()
    if "store" in _WORKER:  # a Ray worker that played another batch before this one
        _WORKER["store"].close()
    store = EventStore.open(db, create=False)
    plan = plan_from_document(json.loads(store.batch(batch_id)["config"]), batch_id=batch_id)
    _WORKER.setdefault("context", {})
    _WORKER.update(
        store=store,
        plan=plan,
        runs={r.index: r for r in plan.runs},
        batch_id=batch_id,
        db=db,
        scratch=Path(scratch),
        prices=PriceTable.load(),
    )


def worker_batch() -> tuple[EventStore, BatchPlan, dict[int, PlannedRun]]:
    """The log, plan and planned runs ``open_worker`` opened in this process."""
    return _WORKER["store"], _WORKER["plan"], _WORKER["runs"]


def play_planned(index: int) -> RunOutcome:
    """Play planned run ``index`` of the worker's batch; its events land in one write.

    A run of a batch file is started in the scratch log and created in the shared one
    with all its events. A continuation (a fork recorded with the batch, not yet played)
    is copied into the scratch log as a root run holding its whole timeline, which keeps
    every seq (the fork's own events follow the parent's up to the fork point), played
    there, and its new events appended after its ``RunForked`` in the shared log.
    """
    store: EventStore = _WORKER["store"]
    plan: BatchPlan = _WORKER["plan"]
    batch_id: str = _WORKER["batch_id"]
    pr: PlannedRun = _WORKER["runs"][index]
    with bound(**_WORKER["context"], run=pr.run_id):
        return _play_planned(store, plan, batch_id, pr)


def _play_planned(store: EventStore, plan: BatchPlan, batch_id: str, pr: PlannedRun) -> RunOutcome:
    lease = BatchLease(_WORKER["db"], pr.run_id)
    try:
        lease.acquire()
    except RunLocked as e:
        return skipped_outcome(pr, e)
    try:
        if plan.kind == "continuations":
            timeline = store.read_events(pr.run_id)
            if store.last_seq(pr.run_id) != len(timeline) or store.has_own_event(
                pr.run_id, "TurnStarted"
            ):
                return skipped_outcome(pr, "started by another process")

            def setup(private: EventStore) -> int:
                private.create_run(pr.run_id, events=timeline)
                return len(timeline)
        else:
            try:
                store.run_info(pr.run_id)
            except RunNotFound:
                pass
            else:
                return skipped_outcome(pr, "started by another process")

            def setup(private: EventStore) -> int:
                start_variation(private, batch_id, plan, pr)
                return 0

        state, events, blobs, after = _play_in_scratch(pr, lease, setup)
        if after:
            store.append(pr.run_id, events, expected_seq=after, blobs=blobs or None)
        else:
            store.create_run(pr.run_id, batch_id=batch_id, events=events, blobs=blobs or None)
        return outcome_of(pr, state, len(events), 0.0)
    finally:
        lease.release()


def _play_in_scratch(
    pr: PlannedRun, lease: BatchLease, setup: Callable[[EventStore], int]
) -> tuple[RunState, list[Event], dict[str, bytes], int]:
    """Set the run up in a private scratch log (``setup`` returns the seq its new
    events follow), play it there, and return its state, new events, blobs and that seq."""
    scratch: Path = _WORKER["scratch"] / f"{pr.run_id}.db"
    shutil.copyfile(_WORKER["scratch"] / _TEMPLATE, scratch)
    try:
        with EventStore.open(scratch, create=False, scratch=True) as private:
            after = setup(private)
            player = RunPlayer(
                private,
                pr.run_id,
                client=None,
                prices=_WORKER["prices"],
                lease=lease,
                snapshot_every=0,  # snapshots of the scratch log would be thrown away
            )
            try:
                state = anyio.run(player.play)
            except Exception:
                state = player.state
                if state.status != "failed":  # not recorded as RunFailed: nothing to keep
                    raise
            events = private.read_events(pr.run_id, after_seq=after)
            blobs = private.all_blobs()
    finally:
        for leftover in (
            scratch,
            *(scratch.with_name(scratch.name + s) for s in ("-wal", "-shm")),
        ):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        shutil.rmtree(scratch.with_name(scratch.name + ".locks"), ignore_errors=True)
    return state, events, blobs, after
