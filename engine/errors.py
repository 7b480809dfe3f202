"""Engine errors: the engine's branches of the scenario-lab error tree.

They derive from :class:`eventstore.ScenarioLabError`; its module docstring holds the
whole tree with every class's ``code`` and ``category``::

    ScenarioInvalid       a scenario or batch file has errors (file, field, fix)
    MissingCredentials    no API key/endpoint for a model, found before anything runs
    LLMUnavailable        a model call failed after every retry
    BudgetExceeded        a credit limit or batch budget would be crossed
    RunNotPlayable        the run cannot be resumed (completed, failed, being played)
      HumanInputPending   it waits for human seats (``seats`` says which, and what for)
    NondeterminismError   a re-execution found a step that differs from the log
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventstore import ScenarioLabError, UsageError


class ScenarioInvalid(UsageError):
    """A scenario (or batch) file, or a setting of a run, has errors. ``problems`` holds
    every one found, one line each."""

    code = "scenario-invalid"
    category = "invalid"

    def __init__(
        self,
        message: str,
        *,
        problems: list[str] | None = None,
        hint: str | None = None,
        field: str | None = None,
        file: str | None = None,
        run_id: str | None = None,
        values: Mapping[str, Any] | None = None,
    ):
        super().__init__(message, hint=hint, field=field, file=file, run_id=run_id, values=values)
        self.problems = problems or [self.message]


class MissingCredentials(UsageError):
    code = "credentials-missing"
    category = "invalid"


class LLMUnavailable(ScenarioLabError):
    code = "llm-unavailable"
    category = "unavailable"


class BudgetExceeded(ScenarioLabError):
    code = "budget-exceeded"
    category = "budget"


class RunNotPlayable(UsageError):
    code = "run-not-playable"
    category = "conflict"


@dataclass(frozen=True)
class SeatAsk:
    """What a human seat is asked first: a ``decision``, a ``reply`` to a talk or a
    ``coalition`` answer; ``action_name`` is an example declared action when the
    decision must name one (a world with rules)."""

    actor: str
    kind: str
    action_name: str | None = None


class HumanInputPending(RunNotPlayable):
    """A run waits for human seats and whoever resumes it will not answer inline."""

    code = "human-input-pending"

    def __init__(self, run_id: str, seats: tuple[SeatAsk, ...]):
        super().__init__(
            "run {run} waits for human input from {actors}",
            hint="answer for the seat, or resume with {interactive} to answer here",
            run_id=run_id,
            values={"run": run_id, "actors": ", ".join(s.actor for s in seats)},
        )
        self.seats = seats


class NondeterminismError(ScenarioLabError):
    code = "replay-diverged"
    category = "integrity"

    def __init__(self, message: str, *, run_id: str, turn: int, actor: str | None, step: str):
        super().__init__(message, run_id=run_id, turn=turn)
        self.actor = actor
        self.step = step
