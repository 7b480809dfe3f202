"""A recorded run's history as it happened: sessions of play, and what came between.

One process plays a run at a time, from ``run`` (or a branch's first play) or a
``resume`` until the engine ends the session (a halt, the run's completion) or the
process stops without the engine deciding so: killed, interrupted (Ctrl-C), or failed
(its ``RunFailed`` is what the dying process said, not a step the engine takes from
the log). Between sessions come events from outside the engine: ``RunResumed``, a
``RunForked``'s changes, a human's answer given with ``decide`` (and the message it
sends), a user's halt, an ``interview`` kept on a branch (its call and answer).

``replay --check`` re-plays each session from the state the log holds at its start,
so a run resumed any number of times is checked the way it was played, not as if it
had been played in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventstore import (
    ActorInterviewed,
    CostIncurred,
    Event,
    HumanDecisionSubmitted,
    InjectQueued,
    MessageSent,
    RunCompleted,
    RunFailed,
    RunForked,
    RunHalted,
    RunResumed,
    WorldUpdateReviewed,
)

# Halts whose cause is outside the log (money, the network): their detail text (amounts
# spent, an endpoint's error) is not something the engine derives from the events.
OUTSIDE_HALTS = ("credit_limit", "budget", "llm_unavailable")


@dataclass(frozen=True)
class Session:
    """Events ``start`` to ``end - 1`` of a timeline, appended by one playing process."""

    start: int
    end: int
    ending: RunHalted | RunCompleted | None  # the engine's last event; None if it stopped

    @property
    def cut(self) -> bool:
        """Whether the process stopped before the engine ended the session: a call in
        flight then has no answer in the log, and the engine's next steps are not in it."""
        return self.ending is None

    @property
    def refusal(self) -> RunHalted | None:
        """The budget's halt that ended the session: every call the log did not answer
        in it was refused (the run halts once the calls in flight with it are in)."""
        e = self.ending
        return e if isinstance(e, RunHalted) and e.reason in ("credit_limit", "budget") else None

    @property
    def outage(self) -> RunHalted | None:
        """The halt of a session no model answered to the end (``llm_unavailable``)."""
        e = self.ending
        return e if isinstance(e, RunHalted) and e.reason == "llm_unavailable" else None


def is_external(events: Sequence[Event], i: int) -> bool:
    """Whether ``events[i]`` came from outside the engine (see the module docstring)."""
    e = events[i]
    if isinstance(
        e,
        RunResumed | RunForked | RunFailed | ActorInterviewed | InjectQueued | WorldUpdateReviewed,
    ):
        return True
    if isinstance(e, CostIncurred):
        return e.purpose == "interview"  # an interview's call, recorded with it
    if isinstance(e, RunHalted):
        return e.reason in ("user", "stopped")  # halted or stopped by a person
    if isinstance(e, HumanDecisionSubmitted):
        # an answer typed at the playing process's own prompt is a step of its session
        return e.submitted_via != "interactive"
    if isinstance(e, MessageSent) and i > 0:
        # a human's reply or coalition answer is recorded with the message it sends
        before = events[i - 1]
        return (
            isinstance(before, HumanDecisionSubmitted)
            and before.submitted_via != "interactive"
            and before.kind != "decision"
            and before.actor == e.sender
        )
    return False


def session_at(events: Sequence[Event], start: int) -> Session:
    """The session whose first event is ``events[start]`` (an event of the engine's)."""
    for i in range(start, len(events)):
        e = events[i]
        if is_external(events, i):
            return Session(start, i, None)
        if isinstance(e, RunCompleted | RunHalted):
            return Session(start, i + 1, e)
    return Session(start, len(events), None)


def setup_end(events: Sequence[Event]) -> int:
    """Where a timeline's checked part starts: after the setup (turn 0), or after a
    branch's ``RunForked`` (what it shares with its parent is the parent's to check)."""
    forks = [i for i, e in enumerate(events) if isinstance(e, RunForked)]
    if forks:
        return forks[-1] + 1
    setup = 0
    while setup < len(events) and events[setup].turn == 0 and not is_external(events, setup):
        setup += 1
    return setup
