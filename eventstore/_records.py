"""What the store hands back: events with their place in the log, runs, the results of
appends and verification, and facts of a timeline (typed records, never raw rows)."""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from ._events import Event

# An event row as stored, for bulk readers that decode many payloads at once (see
# ``EventStore.iter_raw``): (position, run_id, seq, turn, type, schema_version, actor,
# event_id, recorded_at, payload). The payload is the event's JSON under its row's
# schema_version; ``decode(type, schema_version, payload)`` upgrades and decodes it. (A
# log edited by hand in SQL may hold a payload as text: bulk readers accept that too.)
RawEvent: TypeAlias = tuple[int, str, int, int, str, int, str | None, str, str, bytes]


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored: global ``position``, per-run ``seq``, and its hash link.

    For a fork, events inherited from the parent keep the parent's ``run_id``.
    """

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
    event: Event


class RunInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A run's identity and lineage (status, cost and progress come from its events)."""

    run_id: str
    parent_run_id: str | None
    fork_seq: int | None
    fork_turn: int | None
    root_run_id: str
    depth: int
    created_at: str
    batch_id: str | None = None


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """Where an appended batch landed; a retried identical batch returns the same."""

    run_id: str
    first_seq: int
    last_seq: int
    first_position: int
    last_position: int


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of recomputing a run's hash chain."""

    run_id: str
    ok: bool
    checked: int
    first_bad_position: int | None = None
    first_bad_seq: int | None = None
    reason: str = ""


class ChainHead(msgspec.Struct, frozen=True, kw_only=True):
    """Where a run's own chain ends (an anchor records one per run): the last own
    event's ``seq``, global ``position`` (0: no events yet) and ``head`` hash, and the
    digest of the run's metadata (``meta``)."""

    seq: int
    position: int
    head: str
    meta: str


class TimelineFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What a list of runs shows of one timeline (inherited events included), read
    with a few aggregates instead of folding every event."""

    run_id: str
    scenario_name: str | None  # of its RunStarted
    turns_completed: int  # the highest turn with a TurnCompleted (0 before any)
    cost_usd: float  # every CostIncurred, inherited ones included
    last_lifecycle: str | None  # the type of its last lifecycle event (RunStarted, ...)
    halt_reason: str | None  # that event's reason when it is a RunHalted
    name: str | None = None  # of the run's own RunStarted or RunForked
    tags: tuple[str, ...] = ()  # of every RunStarted/RunForked of the timeline, in order
    # a fork that has recorded nothing of a turn since it was made: its last lifecycle
    # event is its RunForked and it has no TurnStarted of its own (made without playing)
    fresh_fork: bool = False
