"""What the store hands back: an event with its place in the log."""

from __future__ import annotations

import msgspec

from ._events import Event


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
