"""Live event streams: one tail of the log shared by every subscriber.

The log is the only channel: the CLI playing a run in another process appends to the
same log, so the server tails it: on SQLite by polling, on PostgreSQL woken by the
NOTIFY each append sends (LISTEN), with the poll as the fallback. One task polls for all runs: each
tick costs one ``max(position)`` query, and only when the log grew does it read the new
events of the runs somebody watches. Each subscriber has its own bounded queue; one
that falls behind is dropped (its client reconnects with ``Last-Event-ID`` and loses
nothing) rather than holding the others back or growing without bound.

A subscriber first registers, then reads what it missed (after its last position) from
the log, then takes the queue; positions grow along a timeline, so anything the queue
repeats from the backlog is skipped: no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import anyio
from sse_starlette import ServerSentEvent

from scenario_lab.app import EventLine, Lab, LogQuery, Viewer, canonical_json, visible_line

log = logging.getLogger("scenario_lab.server")
FINAL_TYPES = frozenset({"RunCompleted", "RunFailed"})


def is_final(line: EventLine) -> bool:
    """Whether the run ends with ``line``: completed, failed or stopped for good."""
    if line.type == "RunHalted":
        return getattr(line.payload, "reason", None) == "stopped"
    return line.type in FINAL_TYPES


_BACKLOG_PAGE = 1000


@dataclass(frozen=True)
class Message:
    """One message of a stream: an event (position, type, JSON line, and its SSE and
    WebSocket frames, encoded once for every subscriber that shares the viewer), or
    ``end`` or a ``heartbeat`` (position None)."""

    kind: str
    position: int | None = None
    data: str = ""
    sse: bytes = b""
    ws: str = ""


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[EventLine | None]
    dropped: bool = False


@dataclass(eq=False)
class _Tail:
    last_seq: int
    subscribers: set[_Subscriber] = field(default_factory=set)


class Hub:
    """Tails the log for every run that has subscribers and fans events out."""

    def __init__(self, lab: Lab, *, poll_interval: float, queue_size: int):
        self.lab = lab
        self.tail = lab.tail()
        self.poll_interval = poll_interval
        self.queue_size = queue_size
        self._tails: dict[str, _Tail] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_max = -1
        self._rendered: dict[tuple[int, Viewer], Message | None] = {}
        self.polls = 0  # ticks that queried the log (for tests and benchmarks)

    # -- subscribing -------------------------------------------------------------------

    async def _subscribe(self, run_id: str) -> _Subscriber:
        tail = self._tails.get(run_id)
        if tail is None:
            last = await anyio.to_thread.run_sync(self.tail.last_seq, run_id)
            tail = self._tails.get(run_id)  # another subscriber may have won the race
            if tail is None:
                tail = self._tails[run_id] = _Tail(last_seq=last)
        sub = _Subscriber(asyncio.Queue(self.queue_size))
        tail.subscribers.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll_loop())
        return sub

    def _unsubscribe(self, run_id: str, sub: _Subscriber) -> None:
        tail = self._tails.get(run_id)
        if tail is None:
            return
        tail.subscribers.discard(sub)
        if not tail.subscribers:
            del self._tails[run_id]

    def subscribers(self, run_id: str) -> int:
        tail = self._tails.get(run_id)
        return len(tail.subscribers) if tail else 0

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.tail.close()

    # -- polling -----------------------------------------------------------------------

    def _poll(self, runs: dict[str, int]) -> dict[str, list[EventLine]]:
        """New events of each watched run since its last seq: one query when none."""
        top = self.tail.top()
        if top == self._last_max:
            return {}
        self.polls += 1
        self._last_max = top
        return {rid: self.tail.after_seq(rid, seq) for rid, seq in runs.items()}

    async def _poll_loop(self) -> None:
        notifies = True  # until the log says it cannot (SQLite)
        while self._tails:
            if notifies:
                # PostgreSQL: woken by the NOTIFY of an append, the interval a fallback
                woke = await anyio.to_thread.run_sync(
                    self.tail.wait_for_appends, self.poll_interval
                )
                notifies = woke is not None
            if not notifies:
                await asyncio.sleep(self.poll_interval)
            runs = {rid: t.last_seq for rid, t in self._tails.items()}
            try:
                new = await anyio.to_thread.run_sync(self._poll, runs)
            except Exception:  # a busy or briefly unreadable log: try again next tick
                log.exception("stream poll failed")
                continue
            for rid, records in new.items():
                tail = self._tails.get(rid)
                if tail is None or not records:
                    continue
                tail.last_seq = max(tail.last_seq, records[-1].seq)
                for sub in list(tail.subscribers):
                    self._offer(sub, records)

    def _offer(self, sub: _Subscriber, records: list[EventLine]) -> None:
        if sub.dropped:
            return
        for rec in records:
            try:
                sub.queue.put_nowait(rec)
            except asyncio.QueueFull:
                # too slow: end its stream; it resumes from its last id without a gap
                sub.dropped = True
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(None)
                return

    # -- following ---------------------------------------------------------------------

    def render(self, rec: EventLine, viewer: Viewer) -> Message | None:
        """The message of ``rec`` for ``viewer`` (None: hidden), encoded once per event
        and kind of viewer however many subscribers share them."""
        key = (rec.position, viewer)
        if key not in self._rendered:
            if len(self._rendered) > 20_000:
                self._rendered.clear()
            line = visible_line(rec, viewer)
            if line is None:
                self._rendered[key] = None
            else:
                data = canonical_json(line)
                sse = ServerSentEvent(data=data, event=rec.type, id=str(rec.position)).encode()
                ws = f'{{"event": {json.dumps(rec.type)}, "id": {rec.position}, "data": {data}}}'
                self._rendered[key] = Message(rec.type, rec.position, data, sse, ws)
        return self._rendered[key]

    def _backlog(self, run_id: str, after: int) -> list[EventLine]:
        return list(
            self.lab.log_page(LogQuery(run=run_id, after=after, limit=_BACKLOG_PAGE)).events
        )

    async def follow(
        self,
        run_id: str,
        viewer: Viewer,
        after: int = 0,
        *,
        heartbeat: float | None = None,
    ) -> AsyncGenerator[Message, None]:
        """The run's events after position ``after`` that ``viewer`` may see, then live
        ones; ``end`` once the run completed or failed. A ``heartbeat`` every
        ``heartbeat`` seconds of silence when asked for."""
        sub = await self._subscribe(run_id)
        sent = after
        try:
            while True:  # what the client missed, page by page
                page = await anyio.to_thread.run_sync(self._backlog, run_id, sent)
                for rec in page:
                    sent = rec.position
                    msg = self._message(rec, viewer)
                    if msg is not None:
                        yield msg
                if len(page) < _BACKLOG_PAGE:
                    break
            if await anyio.to_thread.run_sync(self.finished, run_id):
                # its last events may have landed after the backlog was read
                for rec in await anyio.to_thread.run_sync(self._backlog, run_id, sent):
                    msg = self._message(rec, viewer)
                    if msg is not None:
                        yield msg
                yield Message("end")
                return
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), heartbeat)
                except TimeoutError:
                    yield Message("heartbeat")
                    continue
                if item is None:
                    return  # dropped for falling behind
                if item.position <= sent:
                    continue
                sent = item.position
                msg = self._message(item, viewer)
                if msg is not None:
                    yield msg
                if is_final(item):
                    yield Message("end")
                    return
        finally:
            self._unsubscribe(run_id, sub)

    def finished(self, run_id: str) -> bool:
        """Whether the run has ended (completed, failed or stopped): its stream can end."""
        summary = self.lab.summary(run_id)
        return summary.status in ("completed", "failed") or summary.halt_reason == "stopped"

    def _message(self, rec: EventLine, viewer: Viewer) -> Message | None:
        return self.render(rec, viewer)
