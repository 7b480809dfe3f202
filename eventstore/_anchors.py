"""Anchors: the heads of the chains, exported, and a log checked against them later.

Everything in the log file can be rewritten by someone who has it, hashes included: a
run's tail deleted and its tip rolled back, or a whole chain recomputed, still verifies
on its own. An anchor kept elsewhere (``verify`` with ``anchor_out``) records each run's head:
its last own event (seq, global position, hash) and its metadata digest. Since each
hash covers everything before it in the timeline, any rollback or rewrite at or before
an anchored head changes or removes that hash (``verify`` with ``anchor``).

The file is canonical JSON (sorted keys, compact, one trailing newline), so the same
log gives the same bytes in every process::

    {"format":"scenario-lab-anchor","runs":{"<run>":{"head":"<sha256>","meta":"<sha256>",
     "position":40,"seq":18}},"version":1}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from ._errors import InvalidRequest
from ._hashing import GENESIS
from ._integrity import Integrity
from ._records import ChainHead, VerifyResult

ANCHOR_FORMAT = "scenario-lab-anchor"
ANCHOR_VERSION = 1


class _AnchorFile(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    runs: dict[str, ChainHead]


def anchor_bytes(heads: Mapping[str, ChainHead]) -> bytes:
    """The anchor file for ``heads`` (canonical JSON)."""
    doc = {"format": ANCHOR_FORMAT, "version": ANCHOR_VERSION, "runs": dict(heads)}
    return msgspec.json.encode(doc, order="sorted") + b"\n"


def parse_anchor(data: bytes, file: str) -> dict[str, ChainHead]:
    """The heads of an anchor file; ``InvalidRequest`` naming the file and what is wrong."""
    try:
        doc = msgspec.json.decode(data, type=_AnchorFile)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise InvalidRequest(
            "{file} is not a scenario-lab anchor ({why})",
            hint="give a file that `scenario-lab verify` wrote with {anchor_out}",
            field="anchor",
            file=file,
            values={"file": file, "why": str(e)},
        ) from e
    if doc.format != ANCHOR_FORMAT or doc.version != ANCHOR_VERSION:
        raise InvalidRequest(
            "{file} is not a scenario-lab anchor of version {version} "
            "(format {format!r}, version {found})",
            hint="give a file that `scenario-lab verify` wrote with {anchor_out}",
            field="anchor",
            file=file,
            values={
                "file": file,
                "version": ANCHOR_VERSION,
                "format": doc.format,
                "found": doc.version,
            },
        )
    return doc.runs


class Anchors(Integrity):
    """The chain heads of runs, and checking the log against heads recorded before."""

    def chain_heads(self, run_ids: Iterable[str] | None = None) -> dict[str, ChainHead]:
        """Each run's head (all runs when ``run_ids`` is None), by run id."""
        infos = self.run_infos(run_ids) if run_ids is not None else None
        ids = sorted(infos) if infos is not None else [i.run_id for i in self.list_runs()]
        out: dict[str, ChainHead] = {}
        for run in sorted(ids):
            row = self._conn.execute(
                "SELECT seq, position, hash FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                (run,),
            ).fetchone()
            if row is None:  # a run with no events yet: its head is its chain's start
                info = self.run_info(run)
                seq, position, head = info.fork_seq or 0, 0, self._seeded(run, GENESIS)
            else:
                seq, position, head = int(row[0]), int(row[1]), str(row[2])
            out[run] = ChainHead(
                seq=seq, position=position, head=head, meta=self.meta_digest_of(run)
            )
        return out

    def check_anchor(self, heads: Mapping[str, ChainHead]) -> list[VerifyResult]:
        """One result per anchored run: ok when the log still holds its head unchanged;
        otherwise the reason (missing run, rollback, rewrite, moved, metadata)."""
        present = self.run_infos(heads)
        out = []
        for run in sorted(heads):
            out.append(self._against(run, heads[run], run in present))
        return out

    def _against(self, run: str, h: ChainHead, exists: bool) -> VerifyResult:
        def bad(reason: str) -> VerifyResult:
            return VerifyResult(
                run_id=run,
                ok=False,
                checked=0,
                first_bad_position=h.position or None,
                first_bad_seq=h.seq,
                reason=reason,
            )

        where = f"seq {h.seq}, position {h.position}"
        if not exists:
            return bad(f"the anchor has this run (head at {where}) but the log does not")
        if h.meta != self.meta_digest_of(run):
            return bad("its metadata (lineage, batch or creation time) differs from the anchor's")
        if h.position:  # 0: the run had no events; its metadata (above) is its start
            row = self._conn.execute(
                "SELECT position, hash FROM events WHERE run_id = ? AND seq = ?", (run, h.seq)
            ).fetchone()
            if row is None:
                last = self._conn.execute(
                    "SELECT max(seq) FROM events WHERE run_id = ?", (run,)
                ).fetchone()[0]
                return bad(
                    f"rolled back past the anchor: its head at {where} is gone "
                    f"(the run's own events now end at seq {last or 0})"
                )
            if row[1] != h.head:
                return bad(f"rewritten at or before the anchor's head ({where})")
            if row[0] != h.position:
                return bad(f"the anchor's head ({where}) was moved to position {row[0]}")
        return VerifyResult(run_id=run, ok=True, checked=0)
