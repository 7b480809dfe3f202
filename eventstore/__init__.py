"""The run log: events, the SQLite store, blobs, fork lineage and integrity.

The event catalogue (events, codec, hashing, records, errors) is imported eagerly; the
store and the run leases load on first use of their names. So ``engine.fold``, which
needs only the events, imports no database driver, ``fcntl`` or SQLAlchemy
(``tests/test_import_isolation.py`` and an import-linter contract hold that).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._codec import UPCASTERS, canonical_json, decode, encode, upcaster
from ._collector import collector_paused
from ._errors import (
    CATEGORY_STATUS,
    ConcurrencyConflict,
    ForkError,
    IntegrityError,
    InvalidRequest,
    NotFound,
    RunLocked,
    RunNotFound,
    ScenarioLabError,
    SeatNotWaiting,
    StoreError,
    StoreWriteFailed,
    TurnOutOfRange,
    UsageError,
)
from ._events import (
    EVENT_TYPES,
    ActorInterviewed,
    AnyEvent,
    Attempt,
    CallFailed,
    CostIncurred,
    DecisionFailed,
    DecisionMade,
    DecisionRequested,
    Event,
    ExogenousEventTriggered,
    HaltReason,
    HumanDecisionSubmitted,
    HumanInputRequested,
    InjectQueued,
    MessageSent,
    MetricRecorded,
    ModelCall,
    RunCompleted,
    RunFailed,
    RunForked,
    RunHalted,
    RunResumed,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
    WorldUpdateProposed,
    WorldUpdateReviewed,
    event_actor,
    event_type,
)
from ._hashing import blob_hash
from ._records import (
    AppendResult,
    ChainHead,
    RawEvent,
    Recorded,
    RunInfo,
    TimelineFacts,
    VerifyResult,
)

if TYPE_CHECKING:  # the real types for mypy; at run time they load in __getattr__
    from ._anchors import anchor_bytes, parse_anchor
    from ._lease import RunLease, is_held
    from ._pg import is_url, log_location
    from ._store import EventStore, new_id

# name -> module that defines it, imported when the name is first asked for
_LAZY = {
    "anchor_bytes": "eventstore._anchors",
    "parse_anchor": "eventstore._anchors",
    "EventStore": "eventstore._store",
    "new_id": "eventstore._store",
    "RunLease": "eventstore._lease",
    "is_url": "eventstore._pg",
    "log_location": "eventstore._pg",
    "is_held": "eventstore._lease",
}

__all__ = [
    "CATEGORY_STATUS",
    "EVENT_TYPES",
    "UPCASTERS",
    "ActorInterviewed",
    "AnyEvent",
    "AppendResult",
    "Attempt",
    "CallFailed",
    "ChainHead",
    "ConcurrencyConflict",
    "CostIncurred",
    "DecisionFailed",
    "DecisionMade",
    "DecisionRequested",
    "Event",
    "EventStore",
    "ExogenousEventTriggered",
    "ForkError",
    "HaltReason",
    "HumanDecisionSubmitted",
    "HumanInputRequested",
    "InjectQueued",
    "IntegrityError",
    "InvalidRequest",
    "MessageSent",
    "MetricRecorded",
    "ModelCall",
    "NotFound",
    "RawEvent",
    "Recorded",
    "RunCompleted",
    "RunFailed",
    "RunForked",
    "RunHalted",
    "RunInfo",
    "RunLease",
    "RunLocked",
    "RunNotFound",
    "RunResumed",
    "RunSettings",
    "RunStarted",
    "ScenarioLabError",
    "SeatNotWaiting",
    "StoreError",
    "StoreWriteFailed",
    "TimelineFacts",
    "TurnCompleted",
    "TurnOutOfRange",
    "TurnStarted",
    "UsageError",
    "ValidationRecorded",
    "VerifyResult",
    "WorldUpdateProposed",
    "WorldUpdateReviewed",
    "WorldUpdated",
    "anchor_bytes",
    "blob_hash",
    "canonical_json",
    "collector_paused",
    "decode",
    "encode",
    "event_actor",
    "event_type",
    "is_held",
    "is_url",
    "log_location",
    "new_id",
    "parse_anchor",
    "upcaster",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'eventstore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute: no second lookup
    return value
