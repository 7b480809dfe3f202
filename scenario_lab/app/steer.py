"""Steering a run while it is played: live injects and the white-cell review of world
updates. Both are recorded in the run's log (who gave them included); a run played by
this process takes an inject at its next phase boundary (``Lab.inject``), a run nobody
plays gets it when it plays on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from eventstore import InvalidRequest

from .settings import LabSettings
from .store import open_store

if TYPE_CHECKING:
    from engine.fold.state import RunState


class Inject(msgspec.Struct, frozen=True, kw_only=True):
    """A live inject: an event the facilitator adds to a running exercise, delivered
    like an exogenous event at the run's next phase boundary. ``effects``: variable ->
    change (a world with rules applies them); ``visible_to``: the actors who learn of
    it (empty: everyone); ``injected_by``: who gave it (an id, never a secret)."""

    description: str
    name: str = "Inject"
    effects: dict[str, float] = {}
    visible_to: tuple[str, ...] = ()
    injected_by: str = ""


class InjectQueuedResult(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    inject_id: str
    delivery: str  # "next phase" (played here) or "when the run plays on"


def check_inject(state: RunState, run_id: str, inject: Inject) -> None:
    """Refuse an inject with no text, unknown actors or variables, or into a run that
    has ended."""
    if not inject.description.strip():
        raise InvalidRequest("{description} is empty", field="description", values={})
    actors = state.scenario.get("actors", {})
    unknown = [a for a in inject.visible_to if a not in actors]
    if unknown:
        raise InvalidRequest(
            "{visible_to}: run {run} has no actor {actor!r} (actors: {known})",
            field="visible_to",
            values={"run": run_id, "actor": unknown[0], "known": ", ".join(actors)},
        )
    variables = state.scenario.get("variables") or {}
    wrong = [v for v in inject.effects if v not in variables]
    if wrong:
        raise InvalidRequest(
            "{effects}: run {run} has no variable {name!r} (variables: {known})",
            field="effects",
            values={"run": run_id, "name": wrong[0], "known": ", ".join(variables) or "none"},
        )
    from engine.errors import RunNotPlayable

    if state.status in ("completed", "failed") or state.halt_reason == "stopped":
        ended = "stopped" if state.halt_reason == "stopped" else state.status
        raise RunNotPlayable(f"run {run_id} has {ended}: nothing more happens in it", run_id=run_id)


def queued(inject: Inject, turn: int) -> Any:
    """The ``InjectQueued`` event of ``inject``, with a fresh id."""
    from eventstore import InjectQueued, new_id

    return InjectQueued(
        turn=turn,
        inject_id=new_id(),
        name=inject.name,
        description=inject.description,
        effects=dict(inject.effects),
        visible_to=inject.visible_to,
        injected_by=inject.injected_by,
    )


def inject_idle(settings: LabSettings, run_id: str, inject: Inject) -> InjectQueuedResult:
    """Record an inject into a run nobody plays (``RunLocked`` if a process plays it):
    it is delivered at the first phase boundary once the run plays on."""
    from engine.replay import replay
    from eventstore import RunLease

    with open_store(settings) as store, RunLease(settings.db, run_id):
        state = replay(store, run_id)
        check_inject(state, run_id, inject)
        event = queued(inject, state.turn)
        store.append(run_id, [event], expected_seq=store.last_seq(run_id))
    return InjectQueuedResult(
        run_id=run_id, inject_id=event.inject_id, delivery="when the run plays on"
    )


class WorldReview(msgspec.Struct, frozen=True, kw_only=True):
    """A facilitator's review of the proposed world update (white-cell mode): approve it
    as it is, or give the fields that replace the proposal's."""

    narrative: str | None = None
    key_changes: tuple[str, ...] | None = None
    consequences: tuple[str, ...] | None = None
    variables: dict[str, float] | None = None
    reviewed_by: str = ""


class WorldProposal(msgspec.Struct, frozen=True, kw_only=True):
    """The world update a run waits to have reviewed (``proposal`` None: none waits)."""

    run_id: str
    turn: int
    proposal: Any = None  # the WorldUpdateProposed event
    review: Any = None  # its WorldUpdateReviewed, once given


def world_proposal(settings: LabSettings, run_ref: str) -> WorldProposal:
    """The proposed world update of the run's current turn, and its review if given."""
    from engine.replay import replay

    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        state = replay(store, run_id)
    proposal = state.world_proposal
    if proposal is None or proposal.turn != state.turn or state.turn_progress.world_updated:
        return WorldProposal(run_id=run_id, turn=state.turn)
    review = (
        state.world_review if state.world_review and state.world_review.turn == state.turn else None
    )
    return WorldProposal(run_id=run_id, turn=state.turn, proposal=proposal, review=review)


def review_world(settings: LabSettings, run_ref: str, review: WorldReview) -> WorldProposal:
    """Record the review of the waiting world update (``RunNotPlayable`` when none
    waits or it was reviewed already; variables the scenario lacks are refused)."""
    from engine.errors import RunNotPlayable
    from engine.replay import replay
    from eventstore import RunLease, WorldUpdateReviewed

    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        with RunLease(settings.db, run_id):
            state = replay(store, run_id)
            proposal = state.world_proposal
            if (
                proposal is None
                or proposal.turn != state.turn
                or state.turn_progress.world_updated
                or state.halt_reason != "white_cell"
            ):
                raise RunNotPlayable(
                    f"run {run_id} has no world update waiting for a review", run_id=run_id
                )
            if state.world_review is not None and state.world_review.turn == state.turn:
                raise RunNotPlayable(
                    f"the world update of turn {state.turn} of run {run_id} was reviewed already",
                    hint="resume the run",
                    run_id=run_id,
                )
            known = state.scenario.get("variables") or {}
            wrong = [v for v in (review.variables or {}) if v not in known]
            if wrong:
                raise InvalidRequest(
                    "{variables}: run {run} has no variable {name!r}",
                    field="variables",
                    values={"run": run_id, "name": wrong[0]},
                )
            edited = any(
                v is not None
                for v in (
                    review.narrative,
                    review.key_changes,
                    review.consequences,
                    review.variables,
                )
            )
            event = WorldUpdateReviewed(
                turn=state.turn,
                narrative=review.narrative if review.narrative is not None else proposal.narrative,
                key_changes=review.key_changes
                if review.key_changes is not None
                else proposal.key_changes,
                consequences=review.consequences
                if review.consequences is not None
                else proposal.consequences,
                variables={**proposal.variables, **(review.variables or {})},
                edited=edited,
                reviewed_by=review.reviewed_by,
            )
            store.append(run_id, [event], expected_seq=store.last_seq(run_id))
    return WorldProposal(run_id=run_id, turn=state.turn, proposal=proposal, review=event)
