"""The one error tree of scenario-lab.

Every error a user can cause or meet derives from :class:`ScenarioLabError`. It lives in
the lowest layer (``eventstore``) so that every package can raise and catch it; the
engine adds its own subclasses. Details sit on attributes, and ``hint`` says the fix
where one is known, so the CLI can print one line and exit non-zero::

    ScenarioLabError
    ├── UsageError              a bad argument (the CLI exits 2)
    │   ├── RunNotFound         no run with that id in the log
    │   ├── TurnOutOfRange      a turn the run does not have
    │   └── ForkError           fork of a turn the run has not completed
    ├── StoreError              the log file is missing, not a log, or unreadable
    ├── ConcurrencyConflict     another writer appended to the run first
    ├── IntegrityError          the hash chain does not verify
    ├── RunLocked               another live process is playing the run
    └── (engine) ScenarioInvalid, BudgetExceeded, LLMUnavailable, ...
"""

from __future__ import annotations


class ScenarioLabError(Exception):
    """Base of every scenario-lab error. ``hint`` is the fix, when one is known."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, run_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.run_id = run_id

    def one_line(self) -> str:
        """The message and its fix on one line, as the CLI prints it."""
        text = self.message.replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(ScenarioLabError):
    """The user asked for something that does not exist or is not allowed."""

    exit_code = 2


class RunNotFound(UsageError):
    def __init__(self, run_id: str):
        super().__init__(
            f"no run {run_id!r} in the log",
            hint="list the runs with `scenario-lab runs`",
            run_id=run_id,
        )


class TurnOutOfRange(UsageError):
    def __init__(self, run_id: str, turn: int, last_turn: int):
        super().__init__(
            f"run {run_id} has no turn {turn}",
            hint=f"choose a turn from 0 to {last_turn}",
            run_id=run_id,
        )
        self.turn = turn
        self.last_turn = last_turn


class ForkError(UsageError):
    """A fork point the run does not have (an unfinished or missing turn)."""


class StoreError(ScenarioLabError):
    """The log file cannot be used: missing, not a scenario-lab log, or corrupt."""


class ConcurrencyConflict(ScenarioLabError):
    """Another writer appended to the run since the caller last read it."""

    def __init__(self, run_id: str, expected_seq: int, actual_seq: int):
        super().__init__(
            f"run {run_id}: expected last seq {expected_seq} but the log has {actual_seq}",
            hint="another process appended first; re-read the run and retry",
            run_id=run_id,
        )
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq


class IntegrityError(ScenarioLabError):
    """The hash chain of a run does not verify."""


class RunLocked(ScenarioLabError):
    """A live process is already playing this run."""

    def __init__(self, run_id: str, *, message: str | None = None):
        super().__init__(
            message or f"run {run_id} is being played by another live process",
            hint="wait for it to finish or stop that process first",
            run_id=run_id,
        )
