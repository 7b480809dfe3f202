"""Integrity: recompute a run's hash chain and compare its end with the recorded tip.

The chain shows that each event follows the one before it, unchanged; the tip (written
with each append) shows that the chain still ends where the last append left it, which
catches events cut from, or forged onto, the end of a run.
"""

from __future__ import annotations

from ._hashing import GENESIS, chain_hash
from ._reads import Reads
from ._records import VerifyResult


class Integrity(Reads):
    """``verify``: names the first event that was changed, removed, added or moved."""

    def verify(self, run_id: str) -> VerifyResult:
        """Recompute the hash chain of the run's whole timeline.

        Names the first event that was changed, removed, inserted or reordered.
        """
        prev = GENESIS
        count = 0
        last_position: dict[str, int] = {}
        own: tuple[int, int, str] | None = None  # (seq, position, hash) of the last own event
        cols = "position, run_id, seq, turn, type, schema_version, actor, event_id, recorded_at"
        rows = self._segment_query(cols + ", payload, hash", run_id, None, 0)
        for checked, r in enumerate(rows):
            position, run, seq, turn, type_name, version, actor, eid, at, payload, stored = r
            if isinstance(payload, str):  # SQL edits (replace(), ||) turn a BLOB into TEXT
                payload = payload.encode()
            reason = ""
            if seq != checked + 1:
                what = "missing" if seq > checked + 1 else "duplicated"
                reason = f"event seq {checked + 1} is {what} (found seq {seq} of run {run})"
            elif position <= last_position.get(run, 0):
                reason = "events are out of order (positions do not follow seq)"
            elif not isinstance(payload, bytes) or stored != chain_hash(
                prev, run, seq, turn, type_name, version, actor, eid, at, payload
            ):
                reason = f"event seq {seq} ({type_name}) was changed or moved"
            if reason:
                return VerifyResult(
                    run_id=run_id,
                    ok=False,
                    checked=checked,
                    first_bad_position=position,
                    first_bad_seq=seq,
                    reason=reason,
                )
            prev = stored
            last_position[run] = position
            count = checked + 1
            if run == run_id:
                own = (seq, position, stored)
        broken = self._tip_mismatch(run_id, own)
        if broken is not None:
            seq, position, reason = broken
            return VerifyResult(
                run_id=run_id,
                ok=False,
                checked=count,
                first_bad_position=position,
                first_bad_seq=seq,
                reason=reason,
            )
        return VerifyResult(run_id=run_id, ok=True, checked=count)

    def _tip_mismatch(
        self, run_id: str, own: tuple[int, int, str] | None
    ) -> tuple[int, int | None, str] | None:
        """(seq, position, why) when the run's last own event is not the one recorded.

        The chain proves each event follows the one before; only the tip written with
        each append shows that the chain still ends where the run's last append left it.
        """
        row = self._conn.execute(
            "SELECT seq, hash FROM run_tips WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            if own is None:
                return None
            return own[0], own[1], f"event seq {own[0]} was added outside scenario-lab"
        tip_seq, tip_hash = row
        last = own[0] if own is not None else (self.run_info(run_id).fork_seq or 0)
        if last < tip_seq:
            return (
                last + 1,
                None,
                f"events seq {last + 1}..{tip_seq} are missing from the end of the run",
            )
        assert own is not None  # last >= tip_seq >= 1 means the run has own events
        if last > tip_seq:
            return tip_seq + 1, None, f"events after seq {tip_seq} were added outside scenario-lab"
        if own[2] != tip_hash:
            return own[0], own[1], f"event seq {own[0]} was replaced (not the one appended)"
        return None
