"""Runs played by the server: tasks of its process, under the same lease as the CLI's.

A run started, resumed or forked over the API is played here in the background, so it
keeps going while clients come and go. Each play holds the run's lease (taken when the
run is recorded), so neither the CLI nor a second server can play it at the same time.
A server that is stopped cancels its plays between two recorded steps; a server killed
outright leaves them interrupted, and ``resume`` (API or CLI) finishes them without
repeating a recorded call.

A run it played that halts for human seats is watched: whoever answers them (a seat
route here, or ``scenario-lab decide`` in another process, which only appends to the
log), the run goes on here by itself once no seat is waited for. The watch polls the
log's top position, and only when it grew, each watched run's last seq. A server that
starts watches every run its log holds halted for human seats (``watch_halted``): one
it played before a restart, or one whose seats were answered while it was down, goes on
as soon as no seat is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

import anyio

from scenario_lab.app import Lab, ListRuns, ResumeRun, RunNotPlayable, ScenarioLabError

log = logging.getLogger("scenario_lab.server")


class Runner:
    """The background plays of one server process."""

    def __init__(self, lab: Lab, *, poll_interval: float = 0.1):
        self.lab = lab
        self.poll_interval = poll_interval
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._waiting: dict[str, int] = {}  # run halted for human seats -> its last seq
        self._watch: asyncio.Task[None] | None = None
        self._tail = lab.tail()
        self._resuming = threading.Lock()  # a seat route and the watch may both try

    def start(self, run_id: str) -> None:
        """Play ``run_id`` in the background (a run already played here is left alone)."""
        task = self._tasks.get(run_id)
        if task is not None and not task.done():
            return
        self._tasks[run_id] = asyncio.get_running_loop().create_task(self._play(run_id))

    def start_batch(self, batch_id: str, budget: float | None = None) -> None:
        """Play a recorded batch's unfinished runs in the background."""
        key = f"batch:{batch_id}"
        task = self._tasks.get(key)
        if task is not None and not task.done():
            return
        self._tasks[key] = asyncio.get_running_loop().create_task(
            self._play_batch(key, batch_id, budget)
        )

    async def _play_batch(self, key: str, batch_id: str, budget: float | None) -> None:
        try:
            status = await self.lab.play_batch(batch_id, budget=budget)
            log.info("batch %s: %s", batch_id, status.counts)
        except ScenarioLabError as e:
            log.warning("batch %s stopped: %s", batch_id, e.one_line())
        except Exception:
            log.exception("batch %s: unexpected error while playing", batch_id)
        finally:
            self._tasks.pop(key, None)

    async def _play(self, run_id: str) -> None:
        try:
            outcome = await self.lab.play_run(run_id)
            log.info("run %s %s", run_id, outcome.status)
            if outcome.status == "halted" and outcome.halt_reason == "human_input":
                self.wait_for_seats(run_id)
        except ScenarioLabError as e:  # recorded in the run's log where it applies
            log.warning("run %s stopped: %s", run_id, e.one_line())
        except Exception:
            log.exception("run %s: unexpected error while playing", run_id)
        finally:
            self._tasks.pop(run_id, None)

    # -- runs waiting for human seats ---------------------------------------------------

    def halted_for_seats(self) -> list[str]:
        """The runs of the log halted for human seats (blocking: a worker thread)."""
        found: list[str] = []
        cursor: str | None = None
        while True:
            page = self.lab.list_runs(ListRuns(status="halted", cursor=cursor, limit=500))
            found += [r.run_id for r in page.runs if r.halt_reason == "human_input"]
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    async def watch_halted(self) -> None:
        """Watch every run the log holds halted for human seats (at start-up)."""
        try:
            waiting = await anyio.to_thread.run_sync(self.halted_for_seats)
        except ScenarioLabError as e:  # no log yet, or one this version cannot read
            log.warning("runs waiting for seats not watched: %s", e.one_line())
            return
        for run_id in waiting:
            self.wait_for_seats(run_id)

    def wait_for_seats(self, run_id: str) -> None:
        """Watch ``run_id`` (halted for human seats) and play it on once they answered."""
        self._waiting.setdefault(run_id, -1)
        if self._watch is None or self._watch.done():
            self._watch = asyncio.get_running_loop().create_task(self._watch_loop())

    def resume_if_answered(self, run_id: str) -> str:
        """Resume ``run_id`` if it is halted for human seats and none is waited for any
        more (blocking: call from a worker thread); ``resumed``, ``waiting`` (seats left)
        or ``gone`` (not halted for seats: played on or ended elsewhere)."""
        with self._resuming:
            detail = self.lab.run(run_id)
            summary = detail.summary
            if summary.status != "halted" or summary.halt_reason != "human_input":
                return "gone"
            if detail.seats_pending:
                return "waiting"
            try:
                self.lab.resume_run(ResumeRun(run=run_id))
            except RunNotPlayable:  # another process plays or resumed it meanwhile
                return "gone"
            return "resumed"

    def _last_seqs(self, run_ids: list[str]) -> dict[str, int]:
        """Each run's last seq now (blocking: a worker thread)."""
        return {run_id: self._tail.last_seq(run_id) for run_id in run_ids}

    async def _watch_loop(self) -> None:
        top = -1
        while self._waiting:
            await asyncio.sleep(self.poll_interval)
            try:
                now = await anyio.to_thread.run_sync(self._tail.top)
                if now == top:
                    continue
                top = now
                lasts = await anyio.to_thread.run_sync(self._last_seqs, list(self._waiting))
            except Exception:  # a busy or briefly unreadable log: look again next tick
                log.exception("watching runs for their seats failed")
                continue
            # the runs that recorded something since the last look (an answer, maybe)
            grown = [r for r, last in lasts.items() if self._waiting.get(r, last) != last]
            for run_id, last in lasts.items():
                if run_id in self._waiting:
                    self._waiting[run_id] = last
            for run_id in grown:
                try:
                    state = await anyio.to_thread.run_sync(self.resume_if_answered, run_id)
                except ScenarioLabError as e:
                    log.warning("run %s: not resumed: %s", run_id, e.one_line())
                    state = "gone"
                except Exception:
                    log.exception("run %s: unexpected error while resuming", run_id)
                    state = "gone"
                if state == "waiting":
                    continue
                self._waiting.pop(run_id, None)
                if state == "resumed":
                    log.info("run %s: its human seats answered; playing on", run_id)
                    self.start(run_id)

    def playing(self, run_id: str) -> bool:
        task = self._tasks.get(run_id)
        return task is not None and not task.done()

    async def wait(self, run_id: str, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the run's play here to end (tests)."""
        task = self._tasks.get(run_id)
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)

    async def close(self) -> None:
        """Cancel every play (each stops between two recorded steps) and wait for them."""
        self._waiting.clear()
        tasks = list(self._tasks.values())
        if self._watch is not None:
            tasks.append(self._watch)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tail.close()
        self.lab.close()
