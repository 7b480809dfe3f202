"""Replay: the state of a run at any turn, from the log and the snapshot cache.

Snapshots are states at turn boundaries, encoded with msgspec. They are a cache: the
``kind`` names the state layout version, so a changed layout simply misses, and
dropping every snapshot changes no result, only speed.
"""

from __future__ import annotations

import contextlib
import sqlite3

import msgspec

from eventstore import EventStore, StoreError

from .fold import replay_events
from .state import RunState

SNAPSHOT_KIND = "runstate-v1"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RunState)


def replay(
    store: EventStore, run_id: str, to_turn: int | None = None, *, use_snapshots: bool = True
) -> RunState:
    """The state at the end of ``to_turn`` (default: after the last event)."""
    state: RunState | None = None
    after = 0
    if use_snapshots:
        snap = store.get_snapshot(run_id, to_turn, SNAPSHOT_KIND)
        if snap is not None:
            try:
                state = _decoder.decode(snap[2])
                after = snap[1]
            except msgspec.DecodeError:
                state, after = None, 0  # a stale or damaged cache entry: fold from the start
    events = store.read_events(run_id, to_turn=to_turn, after_seq=after)
    return replay_events(events, state)


def save_snapshot(store: EventStore, run_id: str, state: RunState, seq: int) -> None:
    """Cache ``state`` (at a turn boundary, after ``seq``); failures only cost speed."""
    if state.turn_open:
        return
    # a full disk or a busy file must not stop a run for the sake of a cache
    with contextlib.suppress(StoreError, OSError, sqlite3.Error):
        store.put_snapshot(
            run_id, state.last_completed_turn, seq, SNAPSHOT_KIND, _encoder.encode(state)
        )
