"""``replay --check``: re-execute the engine over a recorded run and compare.

The engine runs again, into a scratch log, session by session as the run was played
(``sessions``): each session of play starts from the state the log holds where it
started, and what came from outside the engine between sessions (a resume, a human's
answer, a fork's changes) is copied across. Each call is served what the log recorded
for it in the same session (``recorded``), so every request must be one the log
recorded (the same prompt, byte for byte), and every event the engine appends must
equal the original event at the same place. A session whose process stopped (killed,
interrupted, failed) ends where the log does: the engine must agree up to there, and
what it would have done next is not in the log to compare with. The first difference
raises ``NondeterminismError`` naming run, turn, actor and step.

The check spends nothing and decides no spending: a budget's halt is in the log, and a
call its session left unanswered was the one refused. Costs are the recorded ones (a
run's prices are part of what it was played with, like its answers).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec

from engine.audit.recorded import CallSite, SessionAnswers
from engine.audit.sessions import OUTSIDE_HALTS, Session, is_external, session_at, setup_end
from engine.errors import NondeterminismError
from engine.llm import ChatRequest, PriceTable
from engine.play.calls import Budget, CallResult, ModelCaller, call_result
from engine.play.ordering import Unfinished
from engine.play.phase_decisions import HumanPrompt
from engine.play.player import RunPlayer
from engine.play.prompts import DecisionContext
from engine.play.session import tool_version
from eventstore import (
    CostIncurred,
    Event,
    EventStore,
    HumanDecisionSubmitted,
    MessageSent,
    RunHalted,
    RunStarted,
    event_actor,
    event_type,
)


class _CheckingCaller(ModelCaller):
    """Serves each call its recorded answer, at its recorded cost."""

    def __init__(self, answers: SessionAnswers):
        self.answers = answers

    async def call(
        self, request: ChatRequest, *, turn: int, actor: str | None, request_id: str
    ) -> CallResult:
        # A real call waits for the network: the other calls of its round start meanwhile
        # and read the state they decide from, as they did when the run was played.
        await anyio.lowlevel.checkpoint()
        served = self.answers.serve(request, CallSite(turn, actor, request_id))
        await anyio.lowlevel.checkpoint()
        return call_result(
            request,
            served.response,
            served.cost_usd,
            turn=turn,
            actor=actor,
            request_id=request_id,
            cache_saving_usd=served.cache_saving_usd,
        )


class _CheckingPlayer(RunPlayer):
    """A player for one session, whose every append must match the original log."""

    def __init__(
        self,
        scratch: EventStore,
        scratch_id: str,
        *,
        original: Sequence[Event],
        origin_run: str,
        session: Session,
        answers: SessionAnswers,
    ):
        super().__init__(
            scratch,
            scratch_id,
            client=None,
            prices=PriceTable({}),
            snapshot_every=0,
            human_prompt=_typed_in(original, session),
        )
        self.budget = Budget(limit_usd=None)  # the log's own halts say where money ran out
        self.original = original
        self.origin_run = origin_run
        self.session = session
        self.answers = answers

    def caller(self) -> ModelCaller:
        return _CheckingCaller(self.answers)

    def _write(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        end = self.session.end
        for offset, event in enumerate(events):
            index = self.seq + offset  # 0-based index of this event in the timeline
            if index >= end:
                if self.session.cut:
                    # the recorded process stopped here: write what it wrote, then stop
                    if offset:
                        super()._write(events[:offset], blobs)
                    raise Unfinished()
                raise self._differs(index, event, None, "past the end of its session")
            expected = self.original[index]
            if not _same(expected, event):
                raise self._differs(index, event, expected)
        super()._write(events, blobs)

    def _differs(
        self, index: int, event: Event, expected: Event | None, where: str = ""
    ) -> NondeterminismError:
        got = _named(event)
        if expected is not None:
            said = f" but the log has {_named(expected)}" + _first_field_difference(expected, event)
        else:
            said = f" {where}"
        return NondeterminismError(
            f"run {self.origin_run}: at seq {index + 1} (turn {event.turn}) the engine "
            f"produced {got}{said}",
            run_id=self.origin_run,
            turn=event.turn,
            actor=event_actor(event),
            step=event_type(event),
        )


def _typed_in(original: Sequence[Event], session: Session) -> HumanPrompt:
    """The answers humans typed at the session's own prompt (``--interactive``), given
    again; a seat that typed nothing leaves the run waiting, as it did."""
    typed = {
        (e.turn, e.actor): e
        for e in original[session.start : session.end]
        if isinstance(e, HumanDecisionSubmitted) and e.submitted_via == "interactive"
    }

    def answer(
        actor: str, ctx: DecisionContext, _messages: list[dict[str, str]]
    ) -> dict[str, Any] | None:
        e = typed.pop((ctx.turn, actor), None)
        if e is None:
            return None
        return {
            "action": e.action,
            "reasoning": e.reasoning,
            "goals": e.long_term_goals,
            "action_name": e.action_name,
            "submitted_by": e.submitted_by,
        }

    return answer


def _named(event: Event) -> str:
    actor = event_actor(event)
    return event_type(event) + (f" for {actor}" if actor else "")


def _comparable(expected: Event, event: Event) -> dict[str, Any]:
    """``event`` as compared with ``expected``: what an older engine did not record,
    and the detail text of halts caused outside the log, left out."""
    data: dict[str, Any] = msgspec.to_builtins(event)
    if isinstance(expected, CostIncurred) and expected.prompt_hash is None:
        for key in ("prompt_hash", "response_hash", "finish_reason"):
            data.pop(key, None)
    elif isinstance(expected, MessageSent) and expected.call is None:
        data.pop("call", None)
    elif isinstance(expected, RunHalted) and expected.reason in OUTSIDE_HALTS:
        data.pop("detail", None)
    return data


def _same(expected: Event, event: Event) -> bool:
    return type(expected) is type(event) and _comparable(expected, expected) == _comparable(
        expected, event
    )


def _first_field_difference(expected: Event, got: Event) -> str:
    if type(expected) is not type(got):
        return ""
    a, b = _comparable(expected, expected), _comparable(expected, got)
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f" (field {key} differs)"
    return ""


def check_run(store: EventStore, run_id: str) -> int:
    """Re-execute ``run_id`` against its recorded answers; returns the events checked."""
    original = store.read_events(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = EventStore.open(Path(tmp) / "check.db")
        try:
            _check(store, scratch, run_id, original)
        except NondeterminismError as error:
            _name_the_version(error, original)
            raise
        finally:
            scratch.close()
    return len(original)


def _name_the_version(error: NondeterminismError, original: Sequence[Event]) -> None:
    """Say so when another version recorded the run: prompts are part of what a version
    builds (the prompt-caching layout changed them in 0.2.0), so a run recorded by an
    older one differs at its first request without any nondeterminism."""
    recorded = next((e.tool_version for e in original if isinstance(e, RunStarted)), None)
    current = tool_version()
    if recorded is not None and recorded != current and error.hint_template is None:
        error.hint_template = (
            f"the run was recorded by scenario-lab {recorded} and this is {current}, whose "
            "prompts may differ: check it with the version that recorded it"
        )


def _check(store: EventStore, scratch: EventStore, run_id: str, original: list[Event]) -> None:
    start = setup_end(original)
    scratch_id = scratch.create_run(run_id, events=original[:start])
    position = start
    while position < len(original):
        if is_external(original, position):
            scratch.append(scratch_id, [original[position]], expected_seq=position)
            position += 1
            continue
        session = session_at(original, position)
        _play(store, scratch, scratch_id, run_id, original, session)
        position = session.end


def _play(
    store: EventStore,
    scratch: EventStore,
    scratch_id: str,
    run_id: str,
    original: list[Event],
    session: Session,
) -> None:
    """Play one session again; raise the first difference from what it recorded."""
    answers = SessionAnswers(store, run_id, original, session)
    player = _CheckingPlayer(
        scratch,
        scratch_id,
        original=original,
        origin_run=run_id,
        session=session,
        answers=answers,
    )
    pending: NondeterminismError | None = None
    try:
        anyio.run(player.play)
    except Unfinished as stopped:
        # a call the log has no answer for, in a session its process cut short: fine if
        # everything the session recorded came before it
        if stopped.args and isinstance(stopped.args[0], NondeterminismError):
            pending = stopped.args[0]
    reached = scratch.last_seq(scratch_id)
    if reached >= session.end:
        return
    if pending is not None:
        raise pending
    missing = original[reached]
    raise NondeterminismError(
        f"run {run_id}: at seq {reached + 1} the log has {_named(missing)}, which the "
        "engine does not produce from the state before it",
        run_id=run_id,
        turn=missing.turn,
        actor=event_actor(missing),
        step=event_type(missing),
    )
