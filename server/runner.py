"""Runs played by the server: tasks of its process, under the same lease as the CLI's.

A run started, resumed or forked over the API is played here in the background, so it
keeps going while clients come and go. Each play holds the run's lease (taken when the
run is recorded), so neither the CLI nor a second server can play it at the same time.
A server that is stopped cancels its plays between two recorded steps; a server killed
outright leaves them interrupted, and ``resume`` (API or CLI) finishes them without
repeating a recorded call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from scenario_lab.app import Lab, ScenarioLabError

log = logging.getLogger("scenario_lab.server")


class Runner:
    """The background plays of one server process."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self._tasks: dict[str, asyncio.Task[None]] = {}

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
        except ScenarioLabError as e:  # recorded in the run's log where it applies
            log.warning("run %s stopped: %s", run_id, e.one_line())
        except Exception:
            log.exception("run %s: unexpected error while playing", run_id)
        finally:
            self._tasks.pop(run_id, None)

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
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.lab.close()
