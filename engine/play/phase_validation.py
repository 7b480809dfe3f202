"""The validation checks of a turn: a model judges the world update and the decisions.

Each enabled check is one call; its verdict is a ``ValidationRecorded``. A check that
could not run (no model answered, or its answer stayed unreadable or cut off after a
re-ask) is recorded as failed with low severity beside the ``CallFailed`` of its call,
so it is visible and not asked again. Once the turn's last check is recorded, the verdicts may halt the run: a failed
check of high severity (``halt_on_critical``), or too many failed checks since the run
was last resumed (``max_issues_before_halt``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from engine.play.outputs import ValidationOut
from engine.play.phase import Halt, Play, ask_structured, turn_decisions
from engine.play.prompts import validation_messages
from eventstore import ModelCall, ValidationRecorded


class Validation:
    """One turn's checks not yet recorded; what to check is read when it is made."""

    def __init__(self, p: Play, turn: int):
        self.p = p
        self.turn = turn
        self.config = cfg = p.scenario.validation
        st = p.state
        self.world = st.world.narrative
        self.decisions = turn_decisions(st, p.scenario)
        self.todo: list[tuple[str, Any]] = []
        if cfg is not None and cfg.run_after_each_turn:
            done = st.turn_progress.validations
            self.todo = [(n, c) for n, c in cfg.checks.items() if c.enabled and n not in done]

    def calls(self) -> list[Callable[[], Awaitable[None]]]:
        """One call per check not yet recorded, in check order, for a round of calls."""
        return [functools.partial(self._check, name, check) for name, check in self.todo]

    def halt_if_failed(self) -> None:
        """Halt the run if the verdicts call for it (see the module docstring).

        Only once this step recorded the turn's last check: if every check was recorded
        before a halt or a crash, the halt they called for was decided then, and a
        resume must not halt on them again.
        """
        cfg = self.config
        st = self.p.state
        recorded = st.turn_progress.validations
        if cfg is None or not self.todo or any(n not in recorded for n, _ in self.todo):
            return
        failed_now = [v for v in st.validation.latest if v.turn == self.turn and not v.passed]
        if cfg.halt_on_critical and any(v.severity == "high" for v in failed_now):
            names = ", ".join(v.check for v in failed_now if v.severity == "high")
            raise Halt("validation", f"critical validation failed in turn {self.turn}: {names}")
        limit = cfg.max_issues_before_halt
        if limit is not None and st.validation.failed_since_resume >= limit:
            raise Halt(
                "max_issues",
                f"{st.validation.failed_since_resume} validation issues (limit {limit})",
            )

    async def _check(self, name: str, check: Any) -> None:
        p, turn, cfg = self.p, self.turn, self.config
        assert cfg is not None  # there is nothing to check without a configuration
        model = (
            cfg.validation_model or p.world_model() or p.model_for(next(iter(p.scenario.actors)))
        )
        messages = validation_messages(
            name, check, turn=turn, world=self.world, decisions=self.decisions
        )
        answer = await ask_structured(
            p,
            ValidationOut,
            model,
            messages,
            purpose="validation",
            turn=turn,
            actor=None,
            request_id=check_request_id(turn, name),
            seed_key=f"validation:{name}",
            max_tokens=500,
            temperature=0.0,
        )
        parsed = answer.parsed
        if parsed is None:
            assert answer.failure is not None
            failure = answer.failure
            issue = (
                "check could not run"
                if failure.error_kind == "llm_unavailable"
                else "unparsable check answer"
            )
            answer.record_failure(p, _failed(turn, name, issue, failure.error, answer.call))
            return
        event = ValidationRecorded(
            turn=turn,
            check=name,
            passed=parsed.passed,
            severity=parsed.severity,
            issues=tuple(parsed.issues),
            explanation=parsed.explanation,
            call=answer.call,
        )
        answer.record(p, [event])


def check_request_id(turn: int, name: str) -> str:
    """The request id of a check's call (its ``CostIncurred`` and ``CallFailed``)."""
    return f"v{turn}-{name}"


def _failed(
    turn: int, name: str, issue: str, explanation: str, call: ModelCall | None = None
) -> ValidationRecorded:
    """A check recorded as failed, with low severity: it was not judged, but must show."""
    return ValidationRecorded(
        turn=turn,
        check=name,
        passed=False,
        severity="low",
        issues=(issue,),
        explanation=explanation,
        call=call,
    )
