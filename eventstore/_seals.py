"""Run metadata in the hash chain.

A run's row in ``runs`` (its id, lineage, fork point, batch, creation time) feeds every
read: the timeline a fork inherits, the batch a run is reported under. It is sealed when
the run is created: ``run_seals`` keeps a copy of the row (so ``verify`` can name the
field that changed), and the run's first own event chains over a seed that covers the
row's digest, so the chain's head (and an exported anchor) vouches for the metadata too.

Runs created before schema 3 (``CHAIN_LEGACY``) keep their chain as it was, so old logs
keep verifying: the migration seals their rows as found, and an anchor carries their
metadata digest beside the head.
"""

from __future__ import annotations

import json
import sqlite3
from hashlib import sha256
from typing import Any

import msgspec

from ._records import RunInfo
from ._runs import RUN_COLS, Runs, run_info_row

CHAIN_LEGACY = 1  # metadata sealed by the schema-3 migration, not in the chain
CHAIN_SEALED = 2  # the first own event chains over the metadata's digest

_SEAL = "INSERT INTO run_seals (run_id, chain, meta) VALUES (?, ?, ?)"


def meta_document(info: RunInfo) -> dict[str, Any]:
    """The run's row as the JSON document that is sealed.

    Every field of ``RunInfo``: a field added to it needs a migration that adds it to
    the seals of existing runs, or every one of them would read as changed.
    """
    doc: dict[str, Any] = msgspec.to_builtins(info)
    return doc


def meta_digest(doc: dict[str, Any]) -> str:
    """sha256 of the document in canonical form (sorted keys, compact)."""
    return sha256(b"scenario-lab run|" + msgspec.json.encode(doc, order="sorted")).hexdigest()


def run_seed(prev: str, digest: str) -> str:
    """What a sealed run's first own event chains over: the hash it would have chained
    over before (GENESIS, or the parent's event at the fork point) and the digest."""
    return sha256(f"{prev}|run|{digest}".encode()).hexdigest()


class Seals(Runs):
    """Sealing a new run's metadata; checking a run's row against its seal."""

    def _write_seal(self, cur: sqlite3.Cursor, info: RunInfo) -> str:
        """Seal ``info`` in the transaction that creates the run; returns its digest."""
        doc = meta_document(info)
        cur.execute(
            _SEAL, (info.run_id, CHAIN_SEALED, msgspec.json.encode(doc, order="sorted").decode())
        )
        return meta_digest(doc)

    def _seal_of(self, run_id: str) -> tuple[int, dict[str, Any]] | None:
        row = self._conn.execute(
            "SELECT chain, meta FROM run_seals WHERE run_id = ?", (run_id,)
        ).fetchone()
        return None if row is None else _seal(row[0], row[1])

    def _seeded(self, run_id: str, prev: str) -> str:
        """``prev`` turned into what the run's first own event chains over."""
        seal = self._seal_of(run_id)
        if seal is None or seal[0] == CHAIN_LEGACY:
            return prev
        return run_seed(prev, meta_digest(meta_document(self.run_info(run_id))))

    def meta_problem(self, info: RunInfo) -> str | None:
        """Why the run's row does not match its seal; None when it does.

        A sealed run whose row and seal were both rewritten passes here; its chain then
        fails at the first own event, since the seed covers the row's digest.
        """
        return _mismatch(info, self._seal_of(info.run_id))

    def meta_problems(self) -> dict[str, str]:
        """``meta_problem`` of every run, by run id (only the runs that have one), in
        one query."""
        cols = ", ".join(f"r.{c.strip()}" for c in RUN_COLS.split(","))
        out = {}
        for row in self._conn.execute(
            f"SELECT {cols}, s.chain, s.meta FROM runs r "
            "LEFT JOIN run_seals s ON s.run_id = r.run_id"
        ):
            info = run_info_row(row)
            seal = None if row[-2] is None else _seal(row[-2], row[-1])
            problem = _mismatch(info, seal)
            if problem is not None:
                out[info.run_id] = problem
        return out

    def meta_digest_of(self, run_id: str) -> str:
        """The digest of the run's current row (what an anchor records)."""
        return meta_digest(meta_document(self.run_info(run_id)))


def _seal(chain: Any, meta: Any) -> tuple[int, dict[str, Any]]:
    try:
        doc = json.loads(meta)
    except (TypeError, ValueError):
        doc = None
    return int(chain), doc if isinstance(doc, dict) else {}


def _mismatch(info: RunInfo, seal: tuple[int, dict[str, Any]] | None) -> str | None:
    if seal is None:
        return f"run {info.run_id} has no sealed metadata (its row was added outside scenario-lab)"
    chain, sealed = seal
    if chain not in (CHAIN_LEGACY, CHAIN_SEALED):
        return f"run {info.run_id}: its seal names an unknown chain version {chain}"
    doc = meta_document(info)
    if doc == sealed:
        return None
    changed = sorted(k for k in set(doc) | set(sealed) if doc.get(k) != sealed.get(k))
    if not changed:
        return None
    shown = ", ".join(f"{k} (sealed {sealed.get(k)!r}, now {doc.get(k)!r})" for k in changed)
    return f"run {info.run_id}: its metadata was changed: {shown}"
