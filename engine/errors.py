"""Engine errors: the engine's branches of the scenario-lab error tree.

They derive from :class:`eventstore.ScenarioLabError` (see its module docstring for the
whole tree)::

    ScenarioInvalid       a scenario or batch file has errors (file, field, fix)
    MissingCredentials    no API key/endpoint for a model, found before anything runs
    LLMUnavailable        a model call failed after every retry
    BudgetExceeded        a credit limit or batch budget would be crossed
    RunNotPlayable        the run cannot be resumed (completed, failed, waiting on a human)
    NondeterminismError   `replay --check` found a step that differs from the log
"""

from __future__ import annotations

from eventstore import ScenarioLabError, UsageError


class ScenarioInvalid(UsageError):
    """A scenario (or batch) file has errors. ``problems`` holds every one found."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems or [message]


class MissingCredentials(UsageError):
    pass


class LLMUnavailable(ScenarioLabError):
    pass


class BudgetExceeded(ScenarioLabError):
    pass


class RunNotPlayable(UsageError):
    pass


class NondeterminismError(ScenarioLabError):
    def __init__(self, message: str, *, run_id: str, turn: int, actor: str | None, step: str):
        super().__init__(message, run_id=run_id)
        self.turn = turn
        self.actor = actor
        self.step = step
