"""Concurrent work whose events land in a fixed order, whatever order answers arrive in.

A round of model calls (one per actor, metric or check) runs concurrently so the calls
overlap, and the answers come back in any order. The log must not depend on that order
(same scenario + seed + answers => same log), so the events of task ``i`` are held
until task ``i`` and every task before it have finished, then written in task order. A
finished task's events wait only for the tasks before it. When a task finishes,
everything now in order is written in one append (one commit): a commit costs more than
the Python around it, and when several answers are in at once, one transaction keeps
the event loop free for the calls in flight. The events and their order are the same
as task by task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TypeVar

import anyio

from engine.play.phase import Halt
from eventstore import Event

T = TypeVar("T")
Write = Callable[[Sequence[Event], dict[str, bytes] | None], None]


class _InOrder:
    """The held events of one ``in_order`` call."""

    def __init__(self, size: int, write: Write):
        self.write = write
        self.held: list[list[tuple[list[Event], dict[str, bytes] | None]]] = [
            [] for _ in range(size)
        ]
        self.done = [False] * size
        self.next = 0  # the first task not finished

    def add(self, index: int, events: Sequence[Event], blobs: dict[str, bytes] | None) -> None:
        self.held[index].append((list(events), blobs))

    def finish(self, index: int) -> None:
        """Write every task's events that are now in order, in one append."""
        self.done[index] = True
        events: list[Event] = []
        blobs: dict[str, bytes] = {}
        while self.next < len(self.done) and self.done[self.next]:
            for batch, batch_blobs in self.held[self.next]:
                events += batch
                if batch_blobs:
                    blobs.update(batch_blobs)
            self.held[self.next] = []
            self.next += 1
        if events:
            self.write(events, blobs or None)


class Unfinished(BaseException):
    """Raised by a task that stops without finishing, as if its process had stopped.

    ``replay --check`` raises it for a call the recorded run never got an answer to
    because it was killed while that call was in flight. As in the killed process, the
    task's events and every later task's stay unwritten, while the tasks before it
    write theirs. A ``BaseException``: no phase or player handler may record it as a
    halt or a failure (the process that stopped recorded neither).
    """


_SLOT: ContextVar[tuple[_InOrder, int] | None] = ContextVar("scenario_lab_slot", default=None)


def append(events: Sequence[Event], blobs: dict[str, bytes] | None, write: Write) -> None:
    """``write`` the events now, or, inside ``in_order``, when it is their turn."""
    slot = _SLOT.get()
    if slot is None:
        write(events, blobs)
    else:
        order, index = slot
        order.add(index, events, blobs)


async def in_order(items: Sequence[T], work: Callable[[T], Awaitable[None]], write: Write) -> None:
    """Run ``work(item)`` for every item concurrently; their events land in item order.

    Every task runs to its end even if another halts, so nothing paid for is dropped
    while it can still be written; once one fails, no more events are written (the run
    fails there). Then the first failure in item order, not in time order (the log must
    not depend on timing), is raised as itself: an error, then an ``Unfinished``, then
    a ``Halt``.
    """
    if not items:
        return  # no task group: entering one yields to the event loop for nothing
    order = _InOrder(len(items), write)
    halts: dict[int, Halt] = {}
    errors: dict[int, Exception] = {}
    stopped: dict[int, Unfinished] = {}

    async def one(index: int, item: T) -> None:
        token = _SLOT.set((order, index))
        try:
            await work(item)
        except Unfinished as u:  # never finishes: its events and later ones stay held
            stopped[index] = u
            return
        except Halt as h:
            halts[index] = h
        except Exception as e:  # re-raised below as itself, not as an exception group
            errors[index] = e
        finally:
            _SLOT.reset(token)
        if not errors:
            try:
                order.finish(index)
            except Unfinished as u:
                stopped[index] = u
            except Exception as e:  # an append failed: surface it as itself
                errors[index] = e

    async with anyio.create_task_group() as tg:
        for index, item in enumerate(items):
            tg.start_soon(one, index, item)
    if errors:
        raise errors[min(errors)]
    if stopped:
        raise stopped[min(stopped)]
    if halts:
        raise halts[min(halts)]
