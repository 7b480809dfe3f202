"""Replay: the state of a run at any turn, from the log and the snapshot cache.

A snapshot is a ``RunState`` at a turn boundary (right after a ``TurnCompleted``),
msgpack-encoded. It is a cache: its ``kind`` names the state layout version, so a
changed layout simply misses; an unreadable one is ignored; dropping them all changes
no result, only speed. Snapshots are written by the player as it plays and, every
``snapshot_every`` turns, by a replay that had to fold turns the cache lacked.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import msgspec

from engine.fold.handlers import replay_events
from engine.fold.state import STATE_VERSION, RunState
from eventstore import EventStore, TurnCompleted, collector_paused

SNAPSHOT_KIND = f"runstate-v{STATE_VERSION}"
SNAPSHOT_EVERY = 10
# A replay that folded many uncached turns writes only the latest few boundaries: a
# snapshot is as big as the state, so caching every boundary of a long run would cost
# space quadratic in its length. Later replays to earlier turns cache their own.
MAX_WRITES = 3

log = logging.getLogger(__name__)

_encoder = msgspec.msgpack.Encoder()


@functools.cache
def _decoder() -> msgspec.msgpack.Decoder[RunState]:
    # built at the first snapshot read (~3 ms: every type of the state): a new run, and
    # one shorter than SNAPSHOT_EVERY turns, never reads one
    return msgspec.msgpack.Decoder(RunState)


def encode_state(state: RunState) -> bytes:
    """The bytes a snapshot stores for ``state``."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> RunState:
    return _decoder().decode(data)


def replay(
    store: EventStore,
    run_id: str,
    to_turn: int | None = None,
    *,
    use_snapshots: bool = True,
    snapshot_every: int = SNAPSHOT_EVERY,
) -> RunState:
    """The state after every event of turns up to ``to_turn`` (default: all events).

    With ``use_snapshots`` it starts from the latest cached state at or before
    ``to_turn`` and caches the state every ``snapshot_every`` turns it folds past that
    (0: never); a cache that cannot be read or written only costs speed.
    """
    state: RunState | None = None
    after = 0
    if use_snapshots:
        cached = _cached(store, run_id, to_turn)
        if cached is not None:
            after, state = cached
    marking = use_snapshots and snapshot_every > 0
    # Kept states at turn boundaries worth caching; with persistent values that costs a
    # reference each, not a copy.
    marks: list[tuple[int, RunState]] = []
    since = state.last_completed_turn if state is not None else 0
    s = state
    done = 0  # events folded so far
    # chunk by chunk: the store fetches the next chunk while this one is folded
    with collector_paused():
        for chunk in store.iter_event_chunks(run_id, to_turn=to_turn, after_seq=after):
            start = 0
            if marking:
                for i, event in enumerate(chunk):
                    if type(event) is TurnCompleted:
                        turn = event.turn
                        if turn > since and turn % snapshot_every == 0:
                            s = replay_events(chunk[start : i + 1], s)
                            marks.append((done + i, s))
                            start = i + 1
            if start < len(chunk):
                s = replay_events(chunk[start:] if start else chunk, s)
            done += len(chunk)
    if s is None:
        raise ValueError(f"run {run_id} has no events")
    if marks:
        _write_marks(store, run_id, to_turn, after, marks[-MAX_WRITES:])
    return s


def save_snapshot(store: EventStore, run_id: str, state: RunState, seq: int) -> bool:
    """Cache ``state``, the state after event ``seq``, if it is at a turn boundary.

    Returns whether it was written. Never raises for the store's sake: a full disk or a
    busy file must not stop a run for a cache.
    """
    if state.turn_open:
        return False
    try:
        store.put_snapshot(
            run_id, state.last_completed_turn, seq, SNAPSHOT_KIND, encode_state(state)
        )
    except Exception as e:  # any backend's failure: the cache is optional
        log.debug("snapshot of run %s at seq %s not written: %s", run_id, seq, e)
        return False
    return True


def _cached(store: EventStore, run_id: str, to_turn: int | None) -> tuple[int, RunState] | None:
    try:
        found = store.get_snapshot(run_id, to_turn, SNAPSHOT_KIND)
    except Exception as e:  # an unreadable cache is a miss, never a failed replay
        log.debug("snapshot lookup for run %s failed: %s", run_id, e)
        return None
    if found is None:
        return None
    _turn, seq, data = found
    try:
        return seq, decode_state(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        log.debug("snapshot of run %s at seq %s unreadable: %s", run_id, seq, e)
        return None


def _write_marks(
    store: EventStore,
    run_id: str,
    to_turn: int | None,
    after: int,
    marks: list[tuple[int, RunState]],
) -> None:
    """Write the kept states, each under the run of the timeline segment that owns it.

    A timeline's seq has no gaps, so the i-th event read is seq ``after + i + 1`` when
    nothing was filtered out. With ``to_turn`` an event of a later turn could in
    principle sit before one of an earlier turn; the seq of the last kept boundary,
    asked of the store, proves that did not happen before it.
    """
    try:
        if to_turn is not None:
            last_i, last_state = marks[-1]
            if store.fork_point(run_id, last_state.last_completed_turn) != after + last_i + 1:
                return
        segments = store.segments(run_id)
    except Exception as e:
        log.debug("snapshots of run %s not written: %s", run_id, e)
        return
    for i, state in marks:
        seq = after + i + 1
        owner = _owner(segments, seq) or run_id
        if not save_snapshot(store, owner, state, seq):
            return


def _owner(segments: list[tuple[str, int, Any]], seq: int) -> str | None:
    """The run whose own events include ``seq``: a fork's prefix belongs to its parent.

    Caching a prefix state under its owner lets every branch of that parent use it.
    """
    for run, lo, hi in segments:
        if lo < seq and (hi is None or seq <= hi):
            return run
    return None
