"""Blobs (large text stored once by content hash) and snapshots (a cache of folded
state at turn boundaries: safe to drop, rebuilt from the log)."""

from __future__ import annotations

from typing import Any

from ._errors import StoreError
from ._hashing import blob_hash
from ._runs import Runs


class Blobs(Runs):
    """Content-addressed blobs and per-run snapshots."""

    def put_blob(self, data: bytes | str) -> str:
        """Store large text once by content; returns its sha256."""
        raw = data.encode() if isinstance(data, str) else data
        sha = blob_hash(raw)
        self._conn.execute("INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?, ?)", (sha, raw))
        return sha

    def get_blob(self, sha256: str) -> bytes:
        """The blob stored under ``sha256``; ``StoreError`` when the log has none."""
        row = self._conn.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            raise StoreError(f"blob {sha256} is not in the log")
        return bytes(row[0])

    def all_blobs(self) -> dict[str, bytes]:
        """Every blob of the log by sha256 (a batch worker copies a scratch log's)."""
        return {
            str(sha): bytes(data)
            for sha, data in self._conn.execute("SELECT sha256, data FROM blobs")
        }

    def put_snapshot(self, run_id: str, turn: int, seq: int, kind: str, data: bytes) -> None:
        """Keep ``data`` (state of ``kind`` at the end of ``turn``, event ``seq``)."""
        self._conn.execute(
            "INSERT OR REPLACE INTO snapshots (run_id, kind, turn, seq, data) VALUES (?, ?, ?, ?, ?)",
            (run_id, kind, turn, seq, data),
        )

    def get_snapshot(
        self, run_id: str, max_turn: int | None, kind: str
    ) -> tuple[int, int, bytes] | None:
        """The latest snapshot valid for the run's timeline at or before ``max_turn``."""
        for seg_run, _lo, hi in reversed(self.segments(run_id)):
            sql = "SELECT turn, seq, data FROM snapshots WHERE run_id = ? AND kind = ?"
            params: list[Any] = [seg_run, kind]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            if max_turn is not None:
                sql += " AND turn <= ?"
                params.append(max_turn)
            row = self._conn.execute(sql + " ORDER BY turn DESC LIMIT 1", params).fetchone()
            if row is not None:
                return int(row[0]), int(row[1]), bytes(row[2])
        return None

    def drop_snapshots(self, run_id: str | None = None) -> None:
        """Forget the run's snapshots (every run's with no ``run_id``)."""
        if run_id is None:
            self._conn.execute("DELETE FROM snapshots")
        else:
            self._conn.execute("DELETE FROM snapshots WHERE run_id = ?", (run_id,))
