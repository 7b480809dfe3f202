"""Reading runs: the list, one run in detail, its state at a turn, its log.

Each call opens the log for itself (see ``store.py``). Filters that would silently match
nothing (an actor the run does not have, a turn it does not reach, an unknown event
type) are refused with the reason instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from engine.summary import RunSummary
from eventstore import Event, InvalidRequest, RunNotFound, TurnOutOfRange

from .runs import PendingSeat, pending_seats
from .settings import LabSettings
from .store import open_store
from .verification import require_verified

if TYPE_CHECKING:
    from engine.fold.state import RunState
    from eventstore import EventStore, Recorded, RunInfo, TimelineFacts


class ListRuns(msgspec.Struct, frozen=True, kw_only=True):
    """Which runs to list, newest first: filters, and a page (``cursor`` is the id of
    the last run of the previous page; ``limit`` None lists them all)."""

    batch: str | None = None  # a batch id or a unique prefix
    status: str | None = None
    scenario: str | None = None
    parent: str | None = None
    tags: tuple[str, ...] = ()  # only runs carrying every one of these tags
    cursor: str | None = None
    limit: int | None = None


class RunList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of runs; ``next_cursor`` asks for the next one (None: this was the last);
    ``batch_id`` is the batch the list was filtered by, resolved."""

    runs: tuple[RunSummary, ...]
    next_cursor: str | None = None
    batch_id: str | None = None


class RunLink(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    fork_turn: int | None


class RunDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One run: its summary, where it stands, its lineage and the seats it waits for."""

    summary: RunSummary
    turn: int  # the current turn, or the last one started
    turns: int  # how many it plays
    lineage: tuple[RunLink, ...]  # root first, this run last
    children: tuple[RunLink, ...]  # its direct branches
    seats_pending: tuple[PendingSeat, ...]


class LogQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which events of a run's timeline (inherited events of a fork included): only
    ``turn``, only about ``actor``, only of event ``type``, only after log position
    ``after``; at most ``limit``."""

    run: str
    turn: int | None = None
    actor: str | None = None
    type: str | None = None
    after: int = 0
    limit: int | None = None


class EventLine(msgspec.Struct, frozen=True, kw_only=True):
    """An event as the log holds it (the ``log --json`` line): where it is, its hash,
    and the event itself as ``payload``."""

    position: int
    run_id: str
    seq: int
    turn: int
    type: str
    schema_version: int
    actor: str | None
    event_id: str
    recorded_at: str
    hash: str
    payload: Event


class LogPage(msgspec.Struct, frozen=True, kw_only=True):
    """Events of a log query, and the position to ask ``after`` for the next page."""

    run_id: str
    events: tuple[EventLine, ...]
    next_after: int


def _summarize(settings: LabSettings, store: EventStore, info: Any) -> RunSummary:
    from engine.summary import summarize

    return summarize(store, info, settings.db)


# the last lifecycle event each status is derived from (running, not_started and
# interrupted differ by the run's lease and whether a fork began a turn)
_PLAYING = ("RunStarted", "RunForked", "RunResumed")
_LIFECYCLE = {
    "running": _PLAYING,
    "not_started": ("RunForked",),
    "interrupted": _PLAYING,
    "halted": ("RunHalted",),
    "completed": ("RunCompleted",),
    "failed": ("RunFailed",),
}
_ALL_PAGE = 1000  # runs read per query when the whole listing is asked for


class _FactsCache:
    """Timeline facts of runs by (log, run), kept while the run's last own event is the
    same: a listing in a long-lived process (the server) reads the facts of the runs
    that recorded something since, not of every run of the page. Bounded."""

    def __init__(self, size: int = 20_000):
        self._facts: dict[tuple[str, str], tuple[tuple[int, str] | None, TimelineFacts]] = {}
        self._size = size
        self._lock = threading.Lock()

    def facts(self, store: EventStore, infos: list[RunInfo]) -> dict[str, TimelineFacts]:
        tips = store.tips([i.run_id for i in infos])
        log = str(store.path)
        out: dict[str, TimelineFacts] = {}
        for info in infos:
            key, tip = (log, info.run_id), tips.get(info.run_id)
            with self._lock:
                hit = self._facts.get(key)
            if hit is not None and hit[0] == tip:
                out[info.run_id] = hit[1]
                continue
            facts = out[info.run_id] = store.timeline_facts(info.run_id)
            with self._lock:
                if len(self._facts) >= self._size:
                    self._facts.clear()
                self._facts[key] = (tip, facts)
        return out


_facts_cache = _FactsCache()


def list_runs(settings: LabSettings, query: ListRuns) -> RunList:
    """A page of runs matching ``query``, newest first (``limit`` None: all of them).

    The filters are conditions of the store's query (a keyset page), so a page costs
    the same however many runs the log holds; only "running", "not_started" and
    "interrupted" are told apart here, by the runs' leases and a fork's own turns.
    """
    from engine.summary import summary_of

    if query.status is not None and query.status not in _LIFECYCLE:
        raise InvalidRequest(
            "unknown status {status!r} (known: {known})",
            field="status",
            values={"status": query.status, "known": ", ".join(_LIFECYCLE)},
        )
    want = query.limit
    with open_store(settings) as store:
        batch_id = store.batch(query.batch)["batch_id"] if query.batch is not None else None
        if query.cursor is not None:
            try:
                store.run_info(query.cursor)
            except RunNotFound:
                raise InvalidRequest(
                    f"cursor {query.cursor!r} names no run of this listing", field="cursor"
                ) from None
        page: list[RunSummary] = []
        before = query.cursor
        while want is None or len(page) <= want:
            chunk = _ALL_PAGE if want is None else want + 1 - len(page)
            if query.status in ("running", "not_started", "interrupted"):
                chunk = max(chunk, 50)  # the lease decides: some may not match
            infos = store.list_runs_page(
                limit=chunk,
                before=before,
                batch_id=batch_id,
                parent=query.parent,
                lifecycle=_LIFECYCLE[query.status] if query.status is not None else None,
                scenario=query.scenario,
                tags=query.tags,
            )
            facts = _facts_cache.facts(store, infos)
            for info in infos:
                row = summary_of(info, facts[info.run_id], settings.db)
                if query.status is None or row.status == query.status:
                    page.append(row)
            if len(infos) < chunk:
                break
            before = infos[-1].run_id
    more = want is not None and len(page) > want
    runs = tuple(page[:want] if want is not None else page)
    return RunList(runs=runs, next_cursor=runs[-1].run_id if more else None, batch_id=batch_id)


def run_summary(settings: LabSettings, run_ref: str) -> RunSummary:
    """One run's line of the listing (status, cost...), without folding its events."""
    with open_store(settings) as store:
        return _summarize(settings, store, store.run_info(store.resolve(run_ref)))


def lineage_order(runs: tuple[RunSummary, ...]) -> list[tuple[int, RunSummary]]:
    """Runs in tree order (each root, then its branches depth-first) with their depth."""
    from engine.summary import lineage_tree

    return lineage_tree(list(runs))


def run_detail(settings: LabSettings, run_ref: str) -> RunDetail:
    """A run's status, turn, cost, lineage and the seats it waits for."""
    from engine.replay import replay

    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        require_verified(store, [run_id])
        state = replay(store, run_id)
        return RunDetail(
            summary=_summarize(settings, store, store.run_info(run_id)),
            turn=state.turn,
            turns=state.settings.turns,
            lineage=tuple(
                RunLink(run_id=i.run_id, fork_turn=i.fork_turn) for i in store.lineage(run_id)
            ),
            children=tuple(
                RunLink(run_id=c.run_id, fork_turn=c.fork_turn) for c in store.children(run_id)
            ),
            seats_pending=pending_seats(state),
        )


def state_at(settings: LabSettings, run_ref: str, turn: int | None = None) -> RunState:
    """The folded state at the end of ``turn`` (default: after every event), no model
    call made. ``state_document`` turns it into the JSON ``replay --json`` prints."""
    from engine.replay import replay

    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        require_verified(store, [run_id])
        if turn is not None:
            done = store.completed_turns(run_id)
            last = done[-1] if done else 0
            if turn < 0 or turn > last:
                raise TurnOutOfRange(run_id, turn, last)
        return replay(store, run_id, to_turn=turn)


def state_document(state: RunState) -> dict[str, Any]:
    """The state as JSON-ready builtins, without the resolved scenario (which is in the
    run's ``RunStarted`` event)."""
    from engine.fold.state import to_builtins

    data = to_builtins(state)
    data.pop("scenario", None)
    return data


def check_actor(store: EventStore, run_id: str, actor: str | None) -> None:
    """A filter on an actor the run does not have matches nothing by mistake: refuse it."""
    if actor is None:
        return
    from engine.play.human import check_actor as check
    from engine.replay import replay

    check(replay(store, run_id), run_id, actor)


def check_turn(store: EventStore, run_id: str, turn: int | None) -> None:
    """A turn the run's timeline does not reach matches nothing by mistake: refuse it."""
    if turn is None:
        return
    last = max((r.turn for r in store.iter_events(run_id)), default=0)
    if not 0 <= turn <= last:
        raise TurnOutOfRange(run_id, turn, last)


def check_event_type(type_name: str | None) -> None:
    from eventstore import EVENT_TYPES

    if type_name is not None and type_name not in EVENT_TYPES:
        raise InvalidRequest(
            "unknown event type {name!r} (known: {known})",
            field="type",
            values={"name": type_name, "known": ", ".join(sorted(EVENT_TYPES))},
        )


def event_line(rec: Recorded) -> EventLine:
    return EventLine(
        position=rec.position,
        run_id=rec.run_id,
        seq=rec.seq,
        turn=rec.turn,
        type=rec.type,
        schema_version=rec.schema_version,
        actor=rec.actor,
        event_id=rec.event_id,
        recorded_at=rec.recorded_at,
        hash=rec.hash,
        payload=rec.event,
    )


def _checked(store: EventStore, query: LogQuery) -> str:
    check_event_type(query.type)
    run_id = store.resolve(query.run)
    check_actor(store, run_id, query.actor)
    check_turn(store, run_id, query.turn)
    return run_id


def _matching(store: EventStore, run_id: str, query: LogQuery) -> Iterator[Recorded]:
    # start where `after` falls in the timeline: the events before it are not read
    start = store.seq_at_position(run_id, query.after) if query.after > 0 else 0
    for rec in store.iter_events(run_id, to_turn=query.turn, after_seq=start):
        if rec.position <= query.after:
            continue
        if query.turn is not None and rec.turn != query.turn:
            continue
        if query.actor is not None and rec.actor != query.actor:
            continue
        if query.type is not None and rec.type != query.type:
            continue
        yield rec


def log_lines(settings: LabSettings, query: LogQuery) -> Iterator[EventLine]:
    """Every event matching ``query``, streamed (the filters are checked first)."""
    with open_store(settings) as store:
        run_id = _checked(store, query)

    def lines() -> Iterator[EventLine]:
        with open_store(settings) as store:
            for n, rec in enumerate(_matching(store, run_id, query)):
                if query.limit is not None and n >= query.limit:
                    return
                yield event_line(rec)

    return lines()


def log_page(settings: LabSettings, query: LogQuery) -> LogPage:
    """Up to ``query.limit`` events matching ``query`` and where the next page starts."""
    with open_store(settings) as store:
        run_id = _checked(store, query)
        events: list[EventLine] = []
        for rec in _matching(store, run_id, query):
            if query.limit is not None and len(events) >= query.limit:
                break
            events.append(event_line(rec))
    last = events[-1].position if events else query.after
    return LogPage(run_id=run_id, events=tuple(events), next_after=last)
