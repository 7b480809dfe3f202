"""How the runs of a batch end: the counters a session shows while it plays, each run's
outcome, and what the log says about runs earlier sessions stopped.

Shared by the in-process session (``engine.batch.play``) and the worker processes
(``engine.batch.workers``); it imports neither, so they do not import each other.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eventstore import EventStore, RunFailed, RunHalted, ScenarioLabError

if TYPE_CHECKING:  # types only: these load the scenario model and the LLM layer
    from engine.batch.plan import PlannedRun
    from engine.fold.state import RunState
    from engine.play.calls import Budget

log = logging.getLogger(__name__)

# lifecycle events after which a batch run is, or is no longer, stopped
_ENDS = ("RunHalted", "RunFailed", "RunResumed", "RunCompleted")


@dataclass
class BatchProgress:
    """Counters a progress display reads while a batch plays (this session's runs)."""

    batch_id: str = ""
    total: int = 0  # runs this session will try to play
    done: int = 0
    running: int = 0
    events: int = 0  # appended by this session
    cost_usd: float = 0.0  # of the whole batch, earlier sessions included
    budget_usd: float | None = None
    partial: float = 0.0  # the running runs' completed fraction, summed
    started_at: float = field(default_factory=time.monotonic)

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; None before anything finished."""
        progressed = self.done + self.partial
        if progressed <= 0 or self.total <= 0:
            return None
        elapsed = time.monotonic() - self.started_at
        return max(0.0, elapsed * (self.total - progressed) / progressed)


@dataclass(frozen=True)
class RunOutcome:
    """How one run of the batch ended in this session."""

    index: int
    run_id: str
    variation: int
    status: str  # completed, halted, failed, or skipped (not played by this session)
    reason: str | None = None  # the halt reason, or the error type of a failure
    detail: str = ""
    events: int = 0  # appended by this session
    cost_usd: float = 0.0  # the run's own cost so far

    @property
    def batch_budget(self) -> bool:
        """Halted because the next call would have crossed the batch budget."""
        return self.status == "halted" and is_batch_budget(self.reason, self.detail)


@dataclass
class BatchResult:
    """What one session of a batch did: each run's outcome, and the runs it never
    started because the budget was spent."""

    batch_id: str
    outcomes: list[RunOutcome] = field(default_factory=list)
    not_started: list[PlannedRun] = field(default_factory=list)  # the budget was spent
    budget_spent: bool = False
    stopped: bool = False  # asked to stop (Ctrl-C, a cancelled task): start no more runs


def is_batch_budget(reason: str | None, detail: str) -> bool:
    """Whether a halt came from the batch budget (not the run's own credit limit)."""
    return reason == "budget" or (reason == "credit_limit" and "batch budget" in detail)


def budget_left(budget: Budget, result: BatchResult) -> bool:
    """Whether another run may start: the batch was not stopped and its budget is not
    spent; marks ``result`` once the budget is spent."""
    if result.stopped:
        return False
    if budget.limit_usd is None:
        return True
    if budget.spent_usd + budget.reserved_usd >= budget.limit_usd - 1e-12:
        result.budget_spent = True
    return not result.budget_spent


def outcome_of(pr: PlannedRun, state: RunState, events: int, cost: float) -> RunOutcome:
    """The outcome of a run this session played, from its folded state."""
    status = state.status if state.status != "running" else "halted"
    return RunOutcome(
        index=pr.index,
        run_id=pr.run_id,
        variation=pr.variation,
        status=status,
        reason=state.halt_reason,
        detail=state.halt_detail,
        events=events,
        cost_usd=cost,
    )


def log_outcome(outcome: RunOutcome) -> None:
    """One line for a batch run this session finished with: a warning if it failed."""
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    fields = {"run": outcome.run_id, "status": outcome.status, "reason": outcome.reason}
    more = {"detail": outcome.detail, "events": outcome.events, "cost_usd": outcome.cost_usd}
    log.log(level, "batch.run", extra={**fields, **more})


def skipped_outcome(pr: PlannedRun, why: Exception | str) -> RunOutcome:
    """A run this session did not play (another process holds it, or it cannot start)."""
    detail = why.one_line() if isinstance(why, ScenarioLabError) else str(why)
    return RunOutcome(pr.index, pr.run_id, pr.variation, "skipped", None, detail)


def failed_outcome(pr: PlannedRun, e: Exception, events: int) -> RunOutcome:
    """A run that failed outside the engine (which records its own failures)."""
    detail = e.one_line() if isinstance(e, ScenarioLabError) else str(e) or repr(e)
    return RunOutcome(pr.index, pr.run_id, pr.variation, "failed", type(e).__name__, detail, events)


def own_costs(store: EventStore, batch_id: str) -> dict[str, float]:
    """Each batch run's own spending (a fork's inherited calls are its parent's)."""
    return store.own_costs(batch_id)


def run_ends(store: EventStore, batch_id: str) -> dict[str, tuple[str | None, str]]:
    """Why each batch run that is halted or failed now stopped: (reason or error type,
    detail). A halt the run was later resumed from does not count."""
    out: dict[str, tuple[str | None, str]] = {}
    for rec in store.batch_events(batch_id, _ENDS):
        event = rec.event
        if isinstance(event, RunHalted):
            out[rec.run_id] = (event.reason, event.detail)
        elif isinstance(event, RunFailed):
            out[rec.run_id] = (event.error_type, event.error)
        else:
            out.pop(rec.run_id, None)
    return out
