"""The one adapter between the routes and the library.

Routes call only this module; it calls today's library functions (the store's reads,
``engine.replay``, ``engine.summary``, ``engine.audit``, the projections' report, the
human-seat queries). When the application layer (``scenario_lab.app.Lab``) lands, these
methods become calls to it and no route changes.

Every event handed out passes through :func:`engine.visibility.see` for its viewer.
The methods are blocking (SQLite, DuckDB); FastAPI runs sync routes in worker threads,
and each thread reads through its own connection to the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.visibility import STAFF, Seat, Staff, Viewer, briefing, see
from eventstore import EventStore, Recorded, RunInfo, TurnOutOfRange, UsageError
from server.settings import Settings

_RUN_FIELDS = (
    "run_id",
    "parent_run_id",
    "fork_seq",
    "fork_turn",
    "root_run_id",
    "depth",
    "created_at",
    "batch_id",
)
_RUN_COLS = ", ".join(_RUN_FIELDS)


def event_line(rec: Recorded, viewer: Viewer) -> dict[str, Any] | None:
    """The ``log --json`` object of ``rec`` as ``viewer`` may see it, or None."""
    from cli.event_lines import as_json  # the lead moves it out of cli/ (see report)

    if isinstance(viewer, Staff):
        return as_json(rec)
    payload = see(viewer, rec)
    if payload is None:
        return None
    line = as_json(rec)
    line["payload"] = payload
    return line


def _encode_cursor(created_at: str, rowid: int) -> str:
    raw = json.dumps([created_at, rowid]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, rowid = json.loads(raw)
        return str(created_at), int(rowid)
    except (binascii.Error, ValueError, TypeError):
        raise UsageError(
            f"cursor {cursor!r} is not one this server gave out",
            hint="pass back the next_cursor of the previous page",
        ) from None


class Lab:
    """Read operations over the log, for the routes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._local = threading.local()
        self._report_lock = threading.Lock()  # one DuckDB catch-up at a time

    # -- the log -------------------------------------------------------------------------

    def store(self) -> EventStore:
        """This thread's connection to the log (opened on first use)."""
        store: EventStore | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = EventStore.open(self.settings.db, create=False)
        return store

    def check_run(self, run_id: str) -> None:
        self.store().run_info(run_id)

    # -- runs ----------------------------------------------------------------------------

    def list_runs(
        self,
        *,
        status: str | None = None,
        scenario: str | None = None,
        batch: str | None = None,
        parent: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """A page of runs, newest first, and the cursor of the next page (or None).

        Runs are read a page at a time (keyset on creation time), so the first page of
        a log with 10k runs costs one page of summaries, not 10k.
        """
        from engine.summary import summarize

        store = self.store()
        after = _decode_cursor(cursor) if cursor is not None else None
        page: list[dict[str, Any]] = []
        while True:
            # one row past the page says whether there is a next one, without a query
            chunk = self._run_rows(batch=batch, parent=parent, after=after, limit=limit + 1)
            for rowid, info in chunk[:limit]:
                after = (info.created_at, rowid)
                row = summarize(store, info, self.settings.db)
                if status is not None and row["status"] != status:
                    continue
                if scenario is not None and row["scenario"] != scenario:
                    continue
                page.append(row)
                if len(page) == limit:
                    break
            if len(chunk) <= limit:  # the listing is exhausted
                last = (chunk[-1][1].created_at, chunk[-1][0]) if chunk else None
                more = len(page) == limit and after != last
                break
            if len(page) == limit:
                more = True
                break
        cursor_out = _encode_cursor(*after) if more and after is not None else None
        return {"runs": page, "next_cursor": cursor_out}

    def _run_rows(
        self,
        *,
        batch: str | None,
        parent: str | None,
        after: tuple[str, int] | None,
        limit: int,
    ) -> list[tuple[int, RunInfo]]:
        """Up to ``limit`` runs after the keyset ``after``, newest first.

        SQL of its own until the store offers a paged listing (see the report): the
        store's ``list_runs`` reads every run.
        """
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if batch is not None:
            where.append("batch_id = ?")
            params.append(batch)
        if parent is not None:
            where.append("parent_run_id = ?")
            params.append(parent)
        if after is not None:
            where.append("(created_at < ? OR (created_at = ? AND rowid < ?))")
            params += [after[0], after[0], after[1]]
        rows = self.store().connection.execute(
            f"SELECT rowid, {_RUN_COLS} FROM runs WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            [*params, limit],
        )
        return [(r[0], RunInfo(**dict(zip(_RUN_FIELDS, r[1:], strict=True)))) for r in rows]

    def run(self, run_id: str) -> dict[str, Any]:
        """A run's status, turn, cost, lineage and the seats it waits for."""
        from engine.replay import replay
        from engine.summary import summarize

        store = self.store()
        info = store.run_info(run_id)
        row = summarize(store, info, self.settings.db)
        state = replay(store, run_id)
        row["turn"] = state.turn
        row["turns"] = state.settings.turns
        row["lineage"] = [
            {"run_id": i.run_id, "fork_turn": i.fork_turn} for i in store.lineage(run_id)
        ]
        row["children"] = [
            {"run_id": c.run_id, "fork_turn": c.fork_turn} for c in store.children(run_id)
        ]
        # the fold keeps the unanswered requests: no second pass over the log
        row["seats_pending"] = [
            {"actor": p.actor, "kind": p.kind, "turn": p.turn}
            for requests in state.pending_human.values()
            for p in requests
        ]
        return row

    def state(self, run_id: str, turn: int | None) -> dict[str, Any]:
        """The folded state at the end of ``turn`` (default: now)."""
        from engine.fold.state import to_builtins
        from engine.replay import replay

        store = self.store()
        store.run_info(run_id)
        if turn is not None:
            last = replay(store, run_id).turn
            if not 0 <= turn <= last:
                raise TurnOutOfRange(run_id, turn, last)
        return to_builtins(replay(store, run_id, to_turn=turn))

    def _seq_at(self, run_id: str, position: int) -> int:
        """The last seq of the run's timeline at or before global ``position``.

        Along one timeline position grows with seq (a fork's own events come after its
        parent's prefix), so 'after position P' is 'after this seq'.
        """
        if position <= 0:
            return 0
        best = 0
        conn = self.store().connection
        for seg_run, lo, hi in self.store().segments(run_id):
            sql = "SELECT max(seq) FROM events WHERE run_id = ? AND position <= ? AND seq > ?"
            params: list[Any] = [seg_run, position, lo]
            if hi is not None:
                sql += " AND seq <= ?"
                params.append(hi)
            found = conn.execute(sql, params).fetchone()[0]
            if found is not None:
                best = max(best, int(found))
        return best

    def records_after(self, run_id: str, position: int) -> Iterator[Recorded]:
        """The run's timeline events after global ``position``, in order."""
        return self.store().iter_events(run_id, after_seq=self._seq_at(run_id, position))

    def events(
        self, run_id: str, viewer: Viewer, *, after: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        """Up to ``limit`` events after ``after`` that ``viewer`` may see, as ``log --json``
        lines, and the position to ask after for the next page."""
        self.check_run(run_id)
        out: list[dict[str, Any]] = []
        last = after
        for scanned, rec in enumerate(self.records_after(run_id, after), 1):
            last = rec.position
            line = event_line(rec, viewer)
            if line is not None:
                out.append(line)
            # a seat sees few events: bound the scan, the client pages on from `last`
            if len(out) == limit or scanned >= 20 * limit:
                break
        return {"events": out, "next_after": last}

    def finished(self, run_id: str) -> bool:
        """Whether the run completed or failed (its stream can end)."""
        from engine.summary import summarize

        row = summarize(self.store(), self.store().run_info(run_id), self.settings.db)
        return row["status"] in ("completed", "failed")

    def audit(self, run_id: str) -> list[dict[str, Any]]:
        from engine.audit.trail import audit

        self.check_run(run_id)
        return audit(self.store(), run_id)

    def verify(self, run_id: str) -> dict[str, Any]:
        import msgspec

        self.check_run(run_id)
        return msgspec.to_builtins(self.store().verify(run_id))  # type: ignore[no-any-return]

    def report(self, run_id: str) -> str:
        """The run's markdown report, after bringing the analytics file up to date."""
        from projections import analytics_path, open_readonly, project, run_report

        self.check_run(run_id)
        path = analytics_path(self.settings.db, self.settings.analytics)
        with self._report_lock:
            project(self.store(), path, check_leases=True)
            with open_readonly(path) as con:
                return run_report(con, run_id)

    # -- a seat ------------------------------------------------------------------------

    def seat(self, run_id: str, actor: str) -> dict[str, Any]:
        """What the person at ``actor``'s seat is shown: briefing, what happened that it
        may see, and the question it is asked, in words (never the AI's instructions)."""
        from engine.play.human import declared_actions, find_message, pending_inputs
        from engine.replay import replay
        from engine.summary import summarize

        store = self.store()
        info = store.run_info(run_id)
        state = replay(store, run_id)
        actors = state.scenario.get("actors", {})
        if actor not in actors:
            raise UsageError(
                f"run {run_id} has no actor {actor!r}",
                hint=f"actors: {', '.join(actors)}",
                run_id=run_id,
            )
        viewer = Seat(actor)
        history, messages, own = [], [], []
        for rec in store.iter_events(run_id):
            payload = see(viewer, rec)
            if payload is None or rec.type in ("RunStarted", "RunForked"):
                continue
            if rec.type == "MessageSent":
                messages.append(payload)
            elif payload.get("actor") == actor:
                own.append(payload)
            else:
                history.append(payload)
        pending = pending_inputs(store, run_id)
        questions = []
        for p in pending:
            if p.actor != actor:
                continue
            q: dict[str, Any] = {"kind": p.kind, "turn": p.turn, "request_id": p.request_id}
            if p.kind == "decision":
                choices = declared_actions(state, actor)
                q["question"] = f"What does {actors[actor].get('name', actor)} do in turn {p.turn}?"
                q["choices"] = [{"name": n, "description": d} for n, d in choices.items()]
                q["answer_with"] = ["action_name", "action"] if choices else ["action"]
            else:
                m = find_message(state, p.about)
                q["message"] = {
                    "message_id": m.message_id,
                    "sender": m.sender,
                    "channel": m.channel,
                    "content": m.content,
                }
                if p.kind == "reply":
                    q["question"] = f"{m.sender} wrote to you privately. What do you reply?"
                    q["answer_with"] = ["reply"]
                else:
                    q["question"] = f"{m.sender} invites you to a coalition. Do you join?"
                    q["answer_with"] = ["accept", "reasoning"]
            questions.append(q)
        row = summarize(store, info, self.settings.db)
        return {
            "run_id": run_id,
            "actor": actor,
            "status": row["status"],
            "turn": state.turn,
            "turns": state.settings.turns,
            "briefing": briefing(state.scenario, actor),
            "history": history,
            "messages": messages,
            "own": own,
            "pending": questions,
            "waiting_for": sorted({p.actor for p in pending}),
        }

    # -- scenarios ---------------------------------------------------------------------

    def _scenario_dirs(self) -> dict[str, tuple[Path, str]]:
        """Offered scenarios by folder name: bundled first, then each --scenarios DIR."""
        found: dict[str, tuple[Path, str]] = {}
        roots = [(self.settings.bundled_scenarios, "bundled")] + [
            (d, "configured") for d in self.settings.scenario_dirs
        ]
        for root, source in roots:
            if root is None or not root.is_dir():
                continue
            for sub in sorted(root.iterdir()):
                if (sub / "scenario.yaml").is_file() and sub.name not in found:
                    found[sub.name] = (sub, source)
        return found

    def scenarios(self) -> list[dict[str, Any]]:
        from engine.scenario.load import validate_scenario

        out = []
        for name, (path, source) in self._scenario_dirs().items():
            problems = [p for p in validate_scenario(path) if p.severity == "error"]
            entry: dict[str, Any] = {"name": name, "source": source, "valid": not problems}
            if problems:
                entry["problems"] = [str(p) for p in problems]
            else:
                entry.update(self._describe(path))
            out.append(entry)
        return out

    def _describe(self, path: Path) -> dict[str, Any]:
        from engine.scenario.load import load_scenario

        sc = load_scenario(path).scenario
        return {
            "title": sc.name,
            "description": sc.description,
            "turns": sc.turns,
            "actors": [
                {"short_name": k, "name": a.name, "role": a.role, "control": a.control}
                for k, a in sc.actors.items()
            ],
        }

    def scenario(self, name: str) -> dict[str, Any]:
        """One offered scenario, resolved (every file's content), by folder name."""
        from engine.scenario.load import load_scenario

        dirs = self._scenario_dirs()
        if name not in dirs:
            raise UsageError(
                f"no scenario {name!r}",
                hint=f"offered: {', '.join(dirs)}" if dirs else "no scenario folders configured",
            )
        path, source = dirs[name]
        loaded = load_scenario(path)
        return {
            "name": name,
            "source": source,
            "sha256": loaded.sha256,
            "warnings": loaded.warnings,
            "scenario": loaded.resolved,
        }


__all__ = ["STAFF", "Lab", "event_line"]
