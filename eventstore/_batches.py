"""Batches: a recorded plan of runs (its config document and hash); the runs point at
their batch by id."""

from __future__ import annotations

from typing import Any

from ._errors import UsageError
from ._ids import check_ref
from ._runs import Runs, like_prefix, new_id, now


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
        check_ref(batch_id, "batch")
        row = self._conn.execute(
            "SELECT batch_id, name, config, config_sha256, created_at FROM batches "
            "WHERE batch_id = ? OR batch_id LIKE ? ESCAPE '\\' ORDER BY batch_id = ? DESC LIMIT 2",
            (batch_id, like_prefix(batch_id), batch_id),
        ).fetchall()
        if not row or (len(row) > 1 and row[0][0] != batch_id):
            raise UsageError(
                f"no batch {batch_id!r} in the log"
                if not row
                else f"batch id {batch_id!r} is ambiguous",
                hint="list batches with `scenario-lab batch list`",
            )
        b = row[0]
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
