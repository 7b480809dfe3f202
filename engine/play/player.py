"""Playing a run: the turn loop, step by step, deciding each step from the folded state.

The player holds the run's lease, keeps the folded state in memory (it is the only
writer), and appends each step's events before starting the next. After a crash,
``resume`` replays the log and the same loop sees which steps of the open turn are
recorded and does only the rest: a recorded model response is never requested again.

A turn is four rounds of model calls, each waiting for the one before: talks,
decisions, the world update, then metrics and validation checks together (both judge
the world update and nothing else, so neither waits for the other). The phases live in
``phase_*``; they see the player only through ``phase.Play``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import anyio
import msgspec

from engine.errors import LLMUnavailable, NondeterminismError
from engine.fold.handlers import apply
from engine.fold.state import RunState
from engine.llm import LLMClient, PriceTable
from engine.observe import step
from engine.play import ordering
from engine.play.calls import Budget, ModelCaller
from engine.play.phase import Halt
from engine.play.phase_decisions import Decisions, HumanPrompt
from engine.play.phase_start import start_turn
from engine.play.phase_talks import Talks
from engine.replay import replay, save_snapshot
from engine.scenario.model import Scenario
from eventstore import (
    Event,
    EventStore,
    ExogenousEventTriggered,
    InjectQueued,
    RunCompleted,
    RunFailed,
    RunHalted,
    RunLease,
    StoreWriteFailed,
    TurnCompleted,
)

__all__ = ["HumanPrompt", "Progress", "RunPlayer"]

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Counters a progress display reads while a run plays."""

    turn: int = 0
    total_turns: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    status: str = "running"


class RunPlayer:
    """Plays one run to its end, a halt, or a failure."""

    def __init__(
        self,
        store: EventStore,
        run_id: str,
        *,
        client: LLMClient | None,
        prices: PriceTable,
        limiter: anyio.CapacityLimiter | None = None,
        batch_budget: Budget | None = None,
        human_prompt: HumanPrompt | None = None,
        progress: Progress | None = None,
        snapshot_every: int = 10,
        lease: RunLease | None = None,
        inbox: Callable[[], list[InjectQueued]] | None = None,
    ):
        self.store = store
        self.run_id = run_id
        self.client = client
        self.prices = prices
        self.limiter = limiter or anyio.CapacityLimiter(8)
        self.human_prompt = human_prompt
        self.progress = progress or Progress()
        self.snapshot_every = snapshot_every
        # a lease the caller already holds (taken before the run was even created)
        self.lease = lease
        # live injects given while the run plays, taken at each phase boundary
        self.inbox = inbox
        self.state: RunState = replay(store, run_id)
        self.seq = store.last_seq(run_id)
        self.scenario = Scenario.from_resolved(self.state.scenario)
        self.budget = Budget(
            limit_usd=self.state.settings.credit_limit_usd,
            spent_usd=self.state.costs.total_usd,
            batch=batch_budget,
        )

    # -- what the phases use (phase.Play) ------------------------------------------------

    def append(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        """Append now, or, inside ``in_order``, when every earlier task's events are in."""
        ordering.append(events, blobs, self._write)

    def _write(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        """The one place events reach the store; they are folded as they are written."""
        result = self.store.append(self.run_id, events, expected_seq=self.seq, blobs=blobs)
        self.seq = result.last_seq
        state = self.state
        for ev in events:
            state = apply(state, ev)
        self.state = state
        self.progress.cost_usd = state.costs.total_usd
        self.progress.calls = state.costs.calls

    async def in_order(self, items: Sequence[T], work: Callable[[T], Awaitable[None]]) -> None:
        """Run ``work(item)`` for every item concurrently; their events land in item order
        (see ``ordering``)."""
        await ordering.in_order(items, work, self._write)

    def caller(self) -> ModelCaller:
        if self.client is None:
            raise LLMUnavailable(
                "this scenario needs a model but no LLM client was configured",
                hint="pass --llm-base-url or set OPENROUTER_API_KEY",
            )
        return ModelCaller(self.client, self.prices, self.limiter, self.budget)

    def control(self, actor_id: str) -> str:
        return self.state.control_overrides.get(actor_id) or self.scenario.actors[actor_id].control

    def model_for(self, actor_id: str) -> str:
        return (
            self.state.settings.model_overrides.get(actor_id)
            or self.scenario.actors[actor_id].llm_model
            or ""
        )

    def world_model(self) -> str | None:
        model = self.state.settings.world_model or self.scenario.world_state_model
        return None if model in (None, "", "rules") else model

    # -- the loop ----------------------------------------------------------------------

    async def play(self) -> RunState:
        """Play until the run completes, halts or fails. Holds the run's lease."""
        with step("run", run=self.run_id), self.lease or RunLease(self.store.path, self.run_id):
            log.info("run.play", extra={"turn": self.state.turn, "seq": self.seq})
            try:
                await self._loop()
            except Halt as h:
                halted = RunHalted(
                    turn=self.state.turn,
                    reason=h.reason,
                    detail=h.detail,
                    waiting_for=h.waiting_for,
                )
                self.append([halted])
                log.info("run.halt", extra={"reason": h.reason, "detail": h.detail})
            except NondeterminismError:
                raise  # replay --check: the scratch log is thrown away, nothing to record
            except StoreWriteFailed:
                # The disk refused the last step, not the run: record nothing more (a
                # full disk may take a last small event or not, and a failed run could
                # not be resumed). Every step before it is in the log and the lease
                # goes with this process, so the run stands interrupted: `resume` goes
                # on from the refused step once the disk has room.
                raise
            except Exception as e:  # the run cannot go on: record why, then re-raise
                failed = RunFailed(
                    turn=self.state.turn, error=str(e) or repr(e), error_type=type(e).__name__
                )
                self.append([failed])
                log.info("run.fail", extra={"error_type": type(e).__name__, "error": str(e)})
                raise
        self.progress.status = self.state.status
        return self.state

    async def _loop(self) -> None:
        self.progress.total_turns = self.state.settings.turns
        while self.state.status == "running":
            st = self.state
            turn = st.turn if st.turn_open else st.last_completed_turn + 1
            self.progress.turn = turn
            if not st.turn_open and turn > st.settings.turns:
                done = RunCompleted(
                    turn=st.last_completed_turn,
                    turns_completed=st.last_completed_turn,
                    total_cost_usd=round(st.costs.total_usd, 8),
                )
                self.append([done])
                log.info(
                    "run.complete",
                    extra={"turns": done.turns_completed, "cost_usd": done.total_cost_usd},
                )
                return
            with step("turn", turn=turn):
                await self._turn(turn, start=not st.turn_open)
            if self.snapshot_every and turn % self.snapshot_every == 0:
                save_snapshot(self.store, self.run_id, self.state, self.seq)

    async def _turn(self, turn: int, *, start: bool) -> None:
        """The turn's phases, from its start (``start``) or from where the log left it."""
        if start:
            with step("phase", phase="start"):
                start_turn(self, turn)
        self._deliver_injects(turn)
        with step("phase", phase="talks"):
            await Talks(self, turn).play()
        self._deliver_injects(turn)
        with step("phase", phase="decisions"):
            await Decisions(self, turn, self.human_prompt).play()
        self._deliver_injects(turn)
        # the phases after the decisions load when first played, not before the run's
        # first model call (~8 ms of its start; see benchmarks/README.md)
        from engine.play.phase_world import update_world

        with step("phase", phase="world_update"):
            await update_world(self, turn)
        with step("phase", phase="measure"):
            await self._measure_and_check(turn)
        self.append([TurnCompleted(turn=turn)])

    def _deliver_injects(self, turn: int) -> None:
        """Record the injects given meanwhile, then deliver every pending one into the
        open turn as an exogenous event (the phases after this boundary see it)."""
        given = self.inbox() if self.inbox is not None else []
        if given:
            self.append([msgspec.structs.replace(q, turn=turn) for q in given])
        if self.state.pending_injects:
            self.append([delivered(q, turn) for q in self.state.pending_injects])

    async def _measure_and_check(self, turn: int) -> None:
        """Metrics and validation checks in one round of calls (under the same cap).

        Both judge the world update and the decisions and nothing else, so neither waits
        for the other; the log still has every metric before every check, in their
        order, as if one ran after the other.
        """
        from engine.play.phase_metrics import Metrics
        from engine.play.phase_validation import Validation

        metrics = Metrics(self, turn)
        checks = Validation(self, turn)
        metrics.record_computed()
        try:
            await self.in_order([*metrics.calls(), *checks.calls()], _call)
        except Halt:
            # A metric halted (the credit limit) once the last check was recorded: weigh
            # the verdicts now, a resume would not (they are recorded). A halt they call
            # for comes first; the metric's comes again on resume if it still holds.
            checks.halt_if_failed()
            raise
        checks.halt_if_failed()


async def _call(work: Callable[[], Awaitable[None]]) -> None:
    await work()


def delivered(q: InjectQueued, turn: int) -> ExogenousEventTriggered:
    """The exogenous event that delivers a live inject in ``turn``."""
    return ExogenousEventTriggered(
        turn=turn,
        name=q.name,
        description=q.description,
        kind="injected",
        effects=dict(q.effects),
        inject_id=q.inject_id,
        visible_to=q.visible_to,
    )
