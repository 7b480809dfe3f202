"""Batches: a recorded plan of runs (its config document and hash); the runs point at
their batch by id."""

from __future__ import annotations

from typing import Any

from ._errors import UsageError
from ._ids import check_ref
from ._runs import _CANDIDATES, Runs, ids_from, new_id, now


class Batches(Runs):
    """Recording a batch's plan and finding it again by id or prefix."""

    def create_batch(
        self, name: str, config: bytes, config_sha256: str, *, batch_id: str | None = None
    ) -> str:
        batch_id = batch_id or new_id()
        self._conn.execute(
            "INSERT INTO batches (batch_id, name, config, config_sha256, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (batch_id, name, config, config_sha256, now()),
        )
        return batch_id

    def batch(self, batch_id: str) -> dict[str, Any]:
        """The batch whose id is ``batch_id`` or the only one starting with it (the exact
        id by its key, then a range of the key: no scan, as for runs)."""
        check_ref(batch_id, "batch")
        cols = "SELECT batch_id, name, config, config_sha256, created_at FROM batches "
        b = self._conn.execute(cols + "WHERE batch_id = ?", (batch_id,)).fetchone()
        if b is None:
            ids = ids_from(self._conn, "batches", "batch_id", batch_id, _CANDIDATES + 1)
            if not ids:
                raise UsageError(
                    f"no batch {batch_id!r} in the log",
                    hint="list batches with `scenario-lab batch list`",
                )
            if len(ids) > 1:
                more = ", ..." if len(ids) > _CANDIDATES else ""
                raise UsageError(
                    f"batch id prefix {batch_id!r} is ambiguous: "
                    f"{'at least ' if more else ''}{min(len(ids), _CANDIDATES)} batches "
                    f"start with it ({', '.join(ids[:_CANDIDATES])}{more})",
                    hint="give more characters of the batch id",
                )
            b = self._conn.execute(cols + "WHERE batch_id = ?", (ids[0],)).fetchone()
        return {
            "batch_id": b[0],
            "name": b[1],
            "config": bytes(b[2]),
            "config_sha256": b[3],
            "created_at": b[4],
        }

    def list_batches(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT batch_id, name, config_sha256, created_at FROM batches ORDER BY created_at DESC"
        )
        return [
            {"batch_id": r[0], "name": r[1], "config_sha256": r[2], "created_at": r[3]}
            for r in rows
        ]
