"""``Lab``: one method per user operation, the entry point of every front end.

Short reads and writes are plain methods that open the log for the call (safe to call
from worker threads); playing a run or a batch is ``async``. A ``Lab`` remembers the
runs it is playing, so ``halt`` can stop them at a step boundary, and the lease of a run
it created until that run is played (``close`` lets go of any left).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import runs
from .errors import ScenarioLabError
from .settings import LabSettings

if TYPE_CHECKING:
    import anyio
    import pyarrow as pa

    from engine.batch.play import BatchProgress
    from engine.fold.state import RunState
    from engine.play.estimate import Estimate
    from engine.summary import RunSummary
    from eventstore import EventStore, InjectQueued, RunLease
    from projections import Document

    from .after_action import AfterAction
    from .analytics import (
        Comparison,
        ExportRequest,
        ExportResult,
        ProjectOutcome,
        QueryResult,
        SqlRequest,
    )
    from .audit import AuditEntry, AuditQuery, CheckResult
    from .batch_charts import BatchStatistics
    from .batch_compare import BatchComparison, CompareBatches
    from .batches import BatchCreated, BatchPlanView, BatchResume, BatchRunRequest, BatchStatus
    from .interview import InterviewAnswer, InterviewRequest
    from .reads import EventLine, ListRuns, LogPage, LogQuery, RunDetail, RunList
    from .runs import ForkCreated, ForkRun, PlayHooks, ResumeRun, RunCreated, RunOutcome, StartRun
    from .scenario_files import ScenarioFile
    from .scenarios import EstimateRequest, ScenarioDetail, ScenarioEntry, Validation
    from .seats import SeatAnswer, SeatAnswered, SeatQuestion
    from .steer import Inject, InjectQueuedResult, WorldProposal, WorldReview
    from .tail import LogTail
    from .tree import TreeLine
    from .verification import VerifyReport, VerifyRequest
    from .visibility import SeatView, Viewer, VisiblePage


class Lab:
    """The application API over one log (see ``LabSettings``)."""

    def __init__(self, settings: LabSettings):
        self.settings = settings
        self._lock = threading.Lock()
        # runs created here and not played yet: their lease, and the log left open for
        # playing them (opened once per run: see ``runs.create_run``)
        self._created: dict[str, tuple[RunLease, EventStore]] = {}
        self._playing: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}
        self._inboxes: dict[str, list[InjectQueued]] = {}  # live injects of runs played here

    def close(self) -> None:
        """Let go of the leases of runs created here and never played (and close the
        log left open for them)."""
        with self._lock:
            created, self._created = list(self._created.values()), {}
        for lease, store in created:
            store.close()
            lease.release()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- scenarios -----------------------------------------------------------------------

    def validate(self, path: str | Path) -> Validation:
        """Every problem of a scenario directory, with file, field and fix."""
        from . import scenarios

        return scenarios.validate(path)

    def validate_files(self, files: Mapping[str, str]) -> Validation:
        """Every problem of a scenario given as its files (path -> text), with lines."""
        from . import scenarios

        return scenarios.validate_files(files)

    def estimate(self, request: EstimateRequest) -> Estimate:
        """Expected model calls, tokens and cost of a run, by model."""
        from . import scenarios

        return scenarios.estimate(self.settings, request)

    def list_scenarios(self) -> list[ScenarioEntry]:
        """The scenarios offered by folder name (``LabSettings.scenario_dirs``)."""
        from . import scenarios

        return scenarios.list_scenarios(self.settings)

    def scenario(self, name: str) -> ScenarioDetail:
        """One offered scenario, resolved."""
        from . import scenarios

        return scenarios.scenario_detail(self.settings, name)

    def scenario_files(self, name: str) -> list[ScenarioFile]:
        """The text files of an offered scenario as they are on disk (for an editor)."""
        from . import scenario_files

        return scenario_files.read_files(self.settings, name)

    def save_scenario(self, name: str, files: list[ScenarioFile]) -> ScenarioEntry:
        """Save files as a new offered scenario ``name``, once they validate (into the
        first configured scenarios folder)."""
        from . import scenario_files

        return scenario_files.save_scenario(self.settings, name, files)

    # -- runs ----------------------------------------------------------------------------

    def create_run(self, request: StartRun) -> RunCreated:
        """Check and record a new run (its setup); play it with ``play_run``."""
        from eventstore import RunLease, new_id

        lease = RunLease(self.settings.db, new_id())
        created, store = runs.create_run(self.settings, request, lease)
        with self._lock:
            self._created[created.run_id] = (lease, store)
        return created

    def resume_run(self, request: ResumeRun) -> str:
        """Make a halted, interrupted or finished-early run playable again; its id."""
        return runs.resume_run(self.settings, request)

    def fork_run(self, request: ForkRun) -> ForkCreated:
        """Record a branch of a run at a turn (``count`` asks ``create_continuations``)."""
        return runs.fork_run(self.settings, request)

    async def play_run(self, run_id: str, hooks: PlayHooks | None = None) -> RunOutcome:
        """Play a recorded run until it completes, halts (``halt`` too) or fails."""
        import anyio

        with self._lock:
            created = self._created.pop(run_id, None)
            if run_id in self._playing:
                from eventstore import RunLocked

                if created is not None:
                    self._created[run_id] = created
                raise RunLocked(run_id, message=f"run {run_id} is being played here already")
            scope, done = anyio.CancelScope(), anyio.Event()
            self._playing[run_id] = (scope, done)
        lease, store = created if created is not None else (None, None)
        try:
            return await runs.play_run(
                self.settings,
                run_id,
                hooks,
                lease=lease,
                scope=scope,
                inbox=lambda: self._take_injects(run_id),
                store=store,
            )
        finally:
            with self._lock:
                self._playing.pop(run_id, None)
                left = self._inboxes.pop(run_id, [])
            for q in left:  # given while the run was ending: recorded, delivered on resume
                from . import steer

                with contextlib.suppress(ScenarioLabError):  # unless the run has ended
                    steer.inject_idle(
                        self.settings,
                        run_id,
                        steer.Inject(
                            description=q.description,
                            name=q.name,
                            effects=dict(q.effects),
                            visible_to=q.visible_to,
                            injected_by=q.injected_by,
                        ),
                    )
            done.set()

    def _take_injects(self, run_id: str) -> list[InjectQueued]:
        with self._lock:
            return self._inboxes.pop(run_id, [])

    def inject(self, run_ref: str, inject: Inject) -> InjectQueuedResult:
        """A live inject: into a run played here it is recorded and delivered at its next
        phase boundary; into a run nobody plays it is recorded now and delivered when the
        run plays on; a run another process plays is refused (``RunLocked``)."""
        from . import reads, steer
        from .steer import InjectQueuedResult

        run_id = runs.resolve(self.settings, run_ref)
        with self._lock:
            playing = run_id in self._playing
        if not playing:
            return steer.inject_idle(self.settings, run_id, inject)
        state = reads.state_at(self.settings, run_id)
        steer.check_inject(state, run_id, inject)
        event = steer.queued(inject, state.turn)
        with self._lock:
            if run_id in self._playing:
                self._inboxes.setdefault(run_id, []).append(event)
                return InjectQueuedResult(
                    run_id=run_id, inject_id=event.inject_id, delivery="next phase"
                )
        return steer.inject_idle(self.settings, run_id, inject)

    async def halt(self, run_ref: str) -> RunOutcome:
        """Halt a run (reason ``user``): one this ``Lab`` plays stops at its next step
        boundary; one nobody plays is marked halted; one another process plays is
        refused (``RunLocked``). ``resume_run`` + ``play_run`` go on."""
        from . import reads

        run_id = runs.resolve(self.settings, run_ref)
        with self._lock:
            playing = self._playing.get(run_id)
        if playing is None:
            return runs.halt_idle(self.settings, run_id)
        scope, done = playing
        scope.cancel()
        await done.wait()
        return runs.outcome_of(run_id, reads.state_at(self.settings, run_id))

    async def stop(self, run_ref: str) -> RunOutcome:
        """End a run for good: halted with reason ``stopped``, which ``resume_run``
        refuses (a fork of it may still go on). One this ``Lab`` plays stops at its
        next step boundary first; one another process plays is refused (``RunLocked``)."""
        run_id = runs.resolve(self.settings, run_ref)
        with self._lock:
            playing = self._playing.get(run_id)
        if playing is not None:
            scope, done = playing
            scope.cancel()
            await done.wait()
        return runs.stop_idle(self.settings, run_id)

    def world_proposal(self, run_ref: str) -> WorldProposal:
        """The world update the run waits to have reviewed (white-cell mode), if any."""
        from . import steer

        return steer.world_proposal(self.settings, run_ref)

    def review_world(self, run_ref: str, review: WorldReview) -> WorldProposal:
        """Approve or edit the waiting world update; ``resume_run`` then applies it."""
        from . import steer

        return steer.review_world(self.settings, run_ref, review)

    def playing(self) -> tuple[str, ...]:
        """The runs this ``Lab`` is playing now."""
        with self._lock:
            return tuple(self._playing)

    def list_runs(self, query: ListRuns | None = None) -> RunList:
        """Runs, newest first, filtered and paged."""
        from . import reads

        return reads.list_runs(self.settings, query or reads.ListRuns())

    def summary(self, run_ref: str) -> RunSummary:
        """One run's status, cost and lineage ids, without folding its events."""
        from . import reads

        return reads.run_summary(self.settings, run_ref)

    def scenario_path(self, name: str) -> Path:
        """The directory of the offered scenario ``name``."""
        from . import scenarios

        return scenarios.scenario_path(self.settings, name)

    def run_tree(self, query: ListRuns | None = None) -> tuple[TreeLine, ...]:
        """The runs of ``query`` as a tree, each batch folded into one line."""
        from .tree import run_tree

        return run_tree(self.settings, self.list_runs(query).runs)

    def run(self, run_ref: str) -> RunDetail:
        """One run: status, turn, cost, lineage, the seats it waits for."""
        from . import reads

        return reads.run_detail(self.settings, run_ref)

    def state(self, run_ref: str, turn: int | None = None) -> RunState:
        """The folded state at the end of ``turn`` (default: now), no model called."""
        from . import reads

        return reads.state_at(self.settings, run_ref, turn)

    def log(self, query: LogQuery) -> Iterator[EventLine]:
        """The matching events of a run's timeline, streamed."""
        from . import reads

        return reads.log_lines(self.settings, query)

    def log_page(self, query: LogQuery) -> LogPage:
        """A page of the matching events and where the next page starts."""
        from . import reads

        return reads.log_page(self.settings, query)

    def verify(self, request: VerifyRequest | str | None = None) -> VerifyReport:
        """Verify one run (a ``str`` or ``VerifyRequest.run``) or every run: hash chain,
        its end, metadata, blobs; against an anchor, and write one (``VerifyRequest``)."""
        from . import verification
        from .verification import VerifyRequest

        if not isinstance(request, VerifyRequest):
            request = VerifyRequest(run=request)
        return verification.verify(self.settings, request)

    async def interview(self, request: InterviewRequest) -> InterviewAnswer:
        """Ask a model-driven actor a question with its memory at the end of a turn, on
        a branch of the run thrown away unless ``keep`` (then recorded with the call)."""
        from . import interview

        return await interview.interview(self.settings, request)

    # -- human seats ---------------------------------------------------------------------

    def seat_questions(self, run_ref: str, actor: str | None = None) -> tuple[SeatQuestion, ...]:
        """What the run waits for from human seats (only ``actor``'s, if given)."""
        from . import seats

        return seats.seat_questions(self.settings, run_ref, actor)

    def seat_question(self, run_ref: str, actor: str) -> SeatQuestion:
        """What the run asks ``actor`` first (``SeatNotWaiting`` if nothing)."""
        from . import seats

        return seats.seat_question(self.settings, run_ref, actor)

    def answer_seat(self, run_ref: str, answer: SeatAnswer) -> SeatAnswered:
        """Record a human seat's answer (decision, reply or coalition answer)."""
        from . import seats

        return seats.answer(self.settings, run_ref, answer)

    def seat_view(self, run_ref: str, actor: str) -> SeatView:
        """What the person at ``actor``'s seat is shown: briefing, what it may see of
        the run, and what it is asked, in words (never an AI's instructions)."""
        from . import visibility

        return visibility.seat_view(self.settings, run_ref, actor)

    def visible_page(
        self, run_ref: str, viewer: Viewer, *, after: int = 0, limit: int = 1000
    ) -> VisiblePage:
        """A page of the run's events as ``viewer`` may see them (``log --json`` lines)."""
        from . import visibility

        return visibility.visible_page(self.settings, run_ref, viewer, after=after, limit=limit)

    def tail(self) -> LogTail:
        """A follower of the log's end, for live streams (close it when done)."""
        from .tail import LogTail

        return LogTail(self.settings)

    # -- audit ---------------------------------------------------------------------------

    def audit_trail(self, query: AuditQuery) -> tuple[AuditEntry, ...]:
        """Every decision with its prompt, calls, raw answers, parsing, tokens, cost."""
        from . import audit

        return audit.audit(self.settings, query)

    def check_run(self, run_ref: str) -> CheckResult:
        """Re-execute a run offline against its recorded answers (``replay --check``)."""
        from . import audit

        return audit.check(self.settings, run_ref)

    # -- analytics -----------------------------------------------------------------------

    def project(self, *, rebuild: bool = False) -> ProjectOutcome:
        """Bring the analytics file up to date with the log (or rebuild it)."""
        from . import analytics

        return analytics.project(self.settings, rebuild=rebuild)

    def sql(self, request: SqlRequest) -> QueryResult:
        """One read-only SQL statement over the analytics tables (or their schema)."""
        from . import analytics

        return analytics.sql(self.settings, request)

    def after_action(self, run_ref: str) -> AfterAction:
        """The hotwash of a run: key decisions, turning points, injects, failed checks,
        cost (``after_action_markdown`` renders it)."""
        from . import after_action

        return after_action.after_action(self.settings, run_ref)

    def sql_arrow(self, statement: str, params: tuple[Any, ...] | None = None) -> pa.Table:
        """One read-only statement (``?`` bound to ``params``) as an Arrow table."""
        from . import analytics

        return analytics.sql_arrow(self.settings, statement, params)

    def report(self, run_ref: str) -> str:
        """A run's markdown report."""
        from . import analytics

        return analytics.report(self.settings, run_ref)

    def report_document(self, run_ref: str) -> Document:
        """A run's report with its charts: as markdown, SVG files or one HTML page."""
        from . import analytics

        return analytics.report_document(self.settings, run_ref)

    def compare(self, run_refs: tuple[str, ...]) -> Comparison:
        """Two or more runs compared."""
        from . import analytics

        return analytics.compare(self.settings, run_refs)

    def export(self, request: ExportRequest) -> ExportResult:
        """The analytics tables written as files."""
        from . import analytics

        return analytics.export(self.settings, request)

    def batch_report(self, batch_ref: str) -> str:
        """A batch's markdown report (statistics per variation)."""
        from . import analytics

        return analytics.batch_report(self.settings, batch_ref)

    def batch_report_document(self, batch_ref: str) -> Document:
        """A batch's report with its charts: as markdown, SVG files or one HTML page."""
        from . import analytics

        return analytics.batch_report_document(self.settings, batch_ref)

    def compare_batches(self, request: CompareBatches) -> BatchComparison:
        """Two batches compared: per metric and turn, B - A with its 95% CI (paired
        where the batches pair run by run, else Welch), effect size, n per side."""
        from . import batch_compare

        return batch_compare.compare_batches(self.settings, request)

    def batch_comparison_document(self, comparison: BatchComparison) -> Document:
        """A comparison of two batches as a report with both sets' fan charts."""
        from . import batch_compare

        return batch_compare.batch_comparison_document(self.settings, comparison)

    # -- batches -------------------------------------------------------------------------

    def plan_batch(self, request: BatchRunRequest) -> BatchPlanView:
        """The dry run of a batch file: its matrix and estimated cost; writes nothing."""
        from . import batches

        return batches.plan_batch(self.settings, request)

    def create_batch(self, request: BatchRunRequest) -> BatchCreated:
        """Check and record a batch file's runs; play them with ``play_batch``."""
        from . import batches

        return batches.create_batch(self.settings, request)

    def create_continuations(self, request: ForkRun) -> BatchCreated:
        """Record ``count`` continuations of a run as a batch (``fork --count``): a
        counterfactual set with the request's decisions/injections, else a baseline."""
        from . import batches

        return batches.create_continuations(self.settings, request)

    def prepare_batch_resume(self, request: BatchResume) -> BatchCreated:
        """Find a batch to finish and check what finishing it needs."""
        from . import batches

        return batches.prepare_batch_resume(self.settings, request)

    async def play_batch(
        self,
        batch_id: str,
        *,
        parallel: int | None = None,
        budget: float | None = None,
        progress: BatchProgress | None = None,
        executor: str = "process",
        address: str | None = None,
    ) -> BatchStatus:
        """Play the batch's unfinished runs (``executor`` "ray": on the Ray cluster at
        ``address``, or a local one); its status after."""
        from . import batches

        return await batches.play_batch(
            self.settings,
            batch_id,
            parallel=parallel,
            budget=budget,
            progress=progress,
            executor=executor,
            address=address,
        )

    def check_executor(self, executor: str, address: str | None = None) -> None:
        """Refuse an unknown batch executor, or a Ray address without Ray."""
        from . import batches

        batches.check_executor(executor, address)

    def batch_status(self, batch_ref: str) -> BatchStatus:
        """A batch's status per variation, and its runs cut short with why."""
        from . import batches

        return batches.batch_status(self.settings, batch_ref)

    def batch_statistics(self, batch_ref: str) -> BatchStatistics:
        """A batch's statistics per variation (means, 95% CIs, significant pairs) and
        fan charts of its metrics over the turns, as data to draw."""
        from . import batch_charts

        return batch_charts.batch_statistics(self.settings, batch_ref)

    def list_batches(self) -> tuple[BatchStatus, ...]:
        """Every batch, newest first."""
        from . import batches

        return batches.list_batches(self.settings)
