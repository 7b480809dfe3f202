"""Verification: checking runs against their hash chains (and an exported anchor), and
the cheap check every operation that reads a run's content makes first.

What each operation does with a run that fails verification (docs/verification.md):

- refuse (``IntegrityError``): ``fork_run``, ``create_continuations``, ``resume_run``,
  ``interview`` (they would build on, or branch, the damaged timeline), ``report``,
  ``compare`` (they present a run as the record), ``run_detail``, ``state_at``,
  ``audit``, ``check``: the server's reads of a run go through these.
- warn and go on: ``project``, which ``sql``, ``export``, ``report`` and ``compare``
  call to catch the analytics file up: it holds every run, and one damaged run must
  not block the analysis of every other one. The warning (a log record of
  ``scenario_lab.integrity``, printed by the CLI) names each failing run.
- neither: ``log``/``log_page`` (the log as stored is how damage is examined),
  ``verify`` itself, listing runs.

The check is incremental (``EventStore.verify(..., incremental=True)``): it costs a few
small queries for a run with nothing new since its last verification.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from eventstore import IntegrityError, InvalidRequest, VerifyResult

from .settings import LabSettings
from .store import open_store

if TYPE_CHECKING:
    from eventstore import EventStore

log = logging.getLogger("scenario_lab.integrity")


class VerifyRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Which runs to verify (``run``: one, with its lineage's shared events; None: all),
    an anchor file to check them against, and a file to write their heads to."""

    run: str | None = None
    anchor: str | None = None
    anchor_out: str | None = None


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """Each run checked (chain, end, metadata, blobs; and against the anchor when one
    was given); ``failed`` counts the broken ones. ``anchored``: runs the anchor held;
    ``anchor_written``: the file the heads went to (None when none was asked for, or
    when a run failed: a damaged log is not anchored)."""

    results: tuple[VerifyResult, ...]
    failed: int
    anchored: int = 0
    anchor_written: str | None = None


def verify(settings: LabSettings, request: VerifyRequest) -> VerifyReport:
    """Verify one run or every run fully; check an anchor; write one."""
    from eventstore import parse_anchor

    heads = None
    if request.anchor is not None:
        heads = parse_anchor(_read(request.anchor), request.anchor)
    with open_store(settings) as store:
        run_ids = (
            [store.resolve(request.run)] if request.run else [r.run_id for r in store.list_runs()]
        )
        # heads first: whatever is appended meanwhile is verified too, never anchored
        # unverified
        new_heads = store.chain_heads(run_ids) if request.anchor_out is not None else None
        results = {run: store.verify(run) for run in run_ids}
        anchored = 0
        if heads is not None:
            if request.run is not None:
                if run_ids[0] not in heads:
                    raise InvalidRequest(
                        "run {run} is not in the anchor {file}",
                        hint="verify every run against it (no run id), or use a newer anchor",
                        field="anchor",
                        file=request.anchor,
                        values={"run": run_ids[0], "file": request.anchor},
                    )
                heads = {run_ids[0]: heads[run_ids[0]]}
            anchored = len(heads)
            for checked in store.check_anchor(heads):
                mine = results.get(checked.run_id)
                if not checked.ok and (mine is None or mine.ok):
                    results[checked.run_id] = checked
    ordered = tuple(results[run] for run in sorted(results))
    failed = sum(1 for r in ordered if not r.ok)
    written = None
    if new_heads is not None and request.anchor_out is not None and not failed:
        from eventstore import anchor_bytes

        _write(request.anchor_out, anchor_bytes(new_heads))
        written = request.anchor_out
    return VerifyReport(results=ordered, failed=failed, anchored=anchored, anchor_written=written)


def verdict(result: VerifyResult) -> str:
    """Where a failed result points, and why, in a few words."""
    if result.first_bad_position is not None:
        where = f" at position {result.first_bad_position} (seq {result.first_bad_seq})"
    elif result.first_bad_seq is not None:
        where = f" at seq {result.first_bad_seq}"  # events missing: no position
    else:
        where = ""  # its metadata
    return f"BROKEN{where}: {result.reason}"


def require_verified(store: EventStore, run_ids: Iterable[str]) -> None:
    """Refuse (``IntegrityError``) a run whose timeline fails verification (incremental)."""
    for run in run_ids:
        result = store.verify(run, incremental=True)
        if not result.ok:
            raise IntegrityError(
                f"run {run} fails verification, {verdict(result)}",
                hint=f"nothing was done; inspect it with `scenario-lab verify {run}`",
                run_id=run,
            )


def warn_unverified(store: EventStore) -> list[VerifyResult]:
    """Verify what changed since the last check in every run; log a warning for each run
    that fails (its rows stay in what is read); the failures."""
    failed = [r for r in store.verify_changed() if not r.ok]
    for r in failed:
        log.warning(
            "warning: run %s fails verification, %s (its rows are included; "
            "inspect it with `scenario-lab verify %s`)",
            r.run_id,
            verdict(r),
            r.run_id,
        )
    return failed


def _read(file: str) -> bytes:
    try:
        return Path(file).read_bytes()
    except OSError as e:
        raise InvalidRequest(
            "cannot read the anchor {file}: {why}",
            hint="give a file that `scenario-lab verify` wrote with {anchor_out}",
            field="anchor",
            file=file,
            values={"file": file, "why": e.strerror or str(e)},
        ) from e


def _write(file: str, data: bytes) -> None:
    """Write the anchor whole or not at all (a half-written anchor would fail later)."""
    path = Path(file)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InvalidRequest(
            "cannot write the anchor {file}: {why}",
            hint="choose a writable path whose folder exists",
            field="anchor_out",
            file=file,
            values={"file": file, "why": e.strerror or str(e)},
        ) from e
