"""The one error tree of scenario-lab.

Every error a user can cause or meet derives from :class:`ScenarioLabError`. It lives in
the lowest layer (``eventstore``) so that every package can raise and catch it; the
engine and the analytics layer add their branches. Each class has a stable ``code`` (for
programs: the server's problem+json carries it) and a ``category`` a front end maps to
its own terms: the CLI to an exit code, the server to an HTTP status.

======================  ===========================  ============  ======
class                   code                         category      HTTP
======================  ===========================  ============  ======
ScenarioLabError        scenario-lab-error           internal      500
UsageError              usage-error                  usage         400
  InvalidRequest        invalid-request              invalid       422
  NotFound              not-found                    not-found     404
    RunNotFound         run-not-found                not-found     404
    TurnOutOfRange      turn-out-of-range            not-found     404
  ForkError             fork-point-invalid           conflict      409
  SeatNotWaiting        seat-not-waiting             conflict      409
  (engine)
  ScenarioInvalid       scenario-invalid             invalid       422
  MissingCredentials    credentials-missing          invalid       422
  RunNotPlayable        run-not-playable             conflict      409
    HumanInputPending   human-input-pending          conflict      409
StoreError              store-unavailable            unavailable   503
ConcurrencyConflict     concurrency-conflict         conflict      409
IntegrityError          integrity-broken             integrity     500
RunLocked               run-locked                   conflict      409
(engine)
LLMUnavailable          llm-unavailable              unavailable   503
BudgetExceeded          budget-exceeded              budget        402
NondeterminismError     replay-diverged              integrity     500
(projections)
AnalyticsError          analytics-unavailable        unavailable   503
QueryError              query-invalid                invalid       422
  QueryLimitExceeded    query-limit-exceeded         invalid       422
======================  ===========================  ============  ======

``CATEGORY_STATUS`` holds the last column. Every ``UsageError`` is the user's to fix
(the CLI exits 2 for them, 1 for the rest).

Errors carry their data on attributes: ``run_id``, ``turn``, ``file``, ``field`` (the
request field at fault, named as the application API's requests name it, e.g.
``turns``), ``hint`` (the fix, when one is known), and whatever a class adds. A message
never names a front end's spelling of a field (a CLI flag, a JSON key): one that
mentions fields is a *template* whose ``{name}`` placeholders are either ``values`` of
the error or field names, and each front end renders it with its own names::

    e = InvalidRequest("{turns} {n} is out of range", field="turns", values={"n": 0})
    e.message                        # 'turns 0 is out of range'
    e.one_line({"turns": "--turns"})  # '--turns 0 is out of range'

User-supplied text goes in ``values``, never into the template itself, so braces in it
are never read as placeholders. An error built without ``values`` has a plain message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

CATEGORY_STATUS: dict[str, int] = {
    "usage": 400,
    "invalid": 422,
    "not-found": 404,
    "conflict": 409,
    "budget": 402,
    "unavailable": 503,
    "integrity": 500,
    "internal": 500,
}


class _Namespace(dict[str, Any]):
    """Values of the error first; any other placeholder is a field, shown by its name."""

    def __init__(self, values: Mapping[str, Any], names: Mapping[str, str]):
        super().__init__(values)
        self._names = names

    def __missing__(self, key: str) -> str:
        return self._names.get(key, key)


# A line a person can read: a message quoting hostile input (a 100,000-character name)
# keeps its start, where the problem is named, and its end, where the fix is.
MAX_LINE = 2_000


def _shorten(line: str) -> str:
    if len(line) <= MAX_LINE:
        return line
    cut = len(line) - MAX_LINE
    head, tail = line[: MAX_LINE * 3 // 4], line[-(MAX_LINE // 4) :]
    return f"{head} [... {cut:,} characters cut ...] {tail}"


class ScenarioLabError(Exception):
    """Base of every scenario-lab error. ``hint`` is the fix, when one is known."""

    code: ClassVar[str] = "scenario-lab-error"
    category: ClassVar[str] = "internal"
    exit_code: ClassVar[int] = 1  # what a command line exits with: 2 for usage errors

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        run_id: str | None = None,
        turn: int | None = None,
        file: str | None = None,
        field: str | None = None,
        values: Mapping[str, Any] | None = None,
    ):
        self.template = message
        self.hint_template = hint
        self.values = dict(values) if values is not None else None
        self.run_id = run_id
        self.turn = turn
        self.file = file
        self.field = field
        super().__init__(self.message)

    def _render(self, text: str, names: Mapping[str, str] | None) -> str:
        if self.values is None:
            return text
        return text.format_map(_Namespace(self.values, names or {}))

    def message_for(self, names: Mapping[str, str] | None = None) -> str:
        """The message with fields named by ``names`` (field -> a front end's word)."""
        return self._render(self.template, names)

    def hint_for(self, names: Mapping[str, str] | None = None) -> str | None:
        """The fix, fields named by ``names``; None when no fix is known."""
        return None if self.hint_template is None else self._render(self.hint_template, names)

    @property
    def message(self) -> str:
        """The message, fields named as the application API names them."""
        return self.message_for()

    @property
    def hint(self) -> str | None:
        return self.hint_for()

    def one_line(self, names: Mapping[str, str] | None = None) -> str:
        """The message and its fix on one line, fields named by ``names``; the CLI
        passes its flags."""
        text = self.message_for(names).replace("\n", " ")
        hint = self.hint_for(names)
        return _shorten(f"{text} ({hint})" if hint else text)

    def __str__(self) -> str:
        return self.message


class UsageError(ScenarioLabError):
    """The user asked for something that does not exist or is not allowed."""

    code = "usage-error"
    category = "usage"
    exit_code = 2


class InvalidRequest(UsageError):
    """A request's field has a value no operation can use (``field`` names it)."""

    code = "invalid-request"
    category = "invalid"


class NotFound(UsageError):
    """The request names something (a batch, a scenario, an actor) that does not exist."""

    code = "not-found"
    category = "not-found"


class RunNotFound(NotFound):
    code = "run-not-found"

    def __init__(self, run_id: str):
        super().__init__(
            f"no run {run_id!r} in the log",
            hint="list the runs with `scenario-lab runs`",
            run_id=run_id,
        )


class TurnOutOfRange(NotFound):
    code = "turn-out-of-range"

    def __init__(self, run_id: str, turn: int, last_turn: int):
        super().__init__(
            f"run {run_id} has no turn {turn}",
            hint=f"choose a turn from 0 to {last_turn}",
            run_id=run_id,
            turn=turn,
            field="turn",
        )
        self.last_turn = last_turn


class ForkError(UsageError):
    """A fork point the run does not have (an unfinished or missing turn)."""

    code = "fork-point-invalid"
    category = "conflict"


class SeatNotWaiting(UsageError):
    """An answer for a seat the run is not waiting for (again, too early, not human)."""

    code = "seat-not-waiting"
    category = "conflict"


class StoreError(ScenarioLabError):
    """The log file cannot be used: missing, not a scenario-lab log, or corrupt."""

    code = "store-unavailable"
    category = "unavailable"


class ConcurrencyConflict(ScenarioLabError):
    """Another writer appended to the run since the caller last read it."""

    code = "concurrency-conflict"
    category = "conflict"

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

    code = "integrity-broken"
    category = "integrity"


class RunLocked(ScenarioLabError):
    """A live process is already playing this run."""

    code = "run-locked"
    category = "conflict"

    def __init__(self, run_id: str, *, message: str | None = None):
        super().__init__(
            message or f"run {run_id} is being played by another live process",
            hint="wait for it to finish or stop that process first",
            run_id=run_id,
        )
