"""The hash chain: each event's hash covers its content and the previous event's hash.

The first event of a fork chains over the parent's event at the fork point, so a
branch's chain also vouches for the prefix it shares.
"""

from __future__ import annotations

from hashlib import sha256

GENESIS = "0" * 64


def chain_hash(
    prev: str,
    run_id: str,
    seq: int,
    turn: int,
    type_name: str,
    schema_version: int,
    actor: str | None,
    event_id: str,
    recorded_at: str,
    payload: bytes,
) -> str:
    head = f"{prev}|{run_id}|{seq}|{turn}|{type_name}|{schema_version}|{actor or ''}|{event_id}|{recorded_at}|"
    return sha256(head.encode() + payload).hexdigest()


def blob_hash(data: bytes) -> str:
    return sha256(data).hexdigest()
