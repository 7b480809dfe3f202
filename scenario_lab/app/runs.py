"""Runs: start, resume, fork, play and halt.

Recording and playing are two steps, so a front end can answer at once with the run's
id and play it in the background: ``create_run``/``resume_run``/``fork_run`` check
everything (scenario, turns, credit limit, models and their credentials, fork changes)
and record, then ``play_run`` plays until the run completes, halts or fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from eventstore import InvalidRequest

from .models import (
    check_models,
    check_priced,
    load_prices,
    make_client,
    models_needed,
    price_table,
)
from .settings import LabSettings
from .store import open_store
from .verification import require_verified

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import anyio

    from engine.fold.state import RunState
    from engine.play.player import Progress
    from engine.scenario.load import LoadedScenario
    from eventstore import EventStore, RunLease


class StartRun(msgspec.Struct, frozen=True, kw_only=True):
    """A new run of the scenario directory ``scenario``. ``models``: actor -> model
    overrides; ``turns``: default the scenario's; ``credit_limit``: USD, halts the run
    before a model call would cross it."""

    scenario: str
    seed: int = 0
    turns: int | None = None
    credit_limit: float | None = None
    models: dict[str, str] = {}
    world_model: str | None = None
    json_mode: bool = True
    # prompts longer than a model's context window are refused unless this is set
    allow_long_prompts: bool = False
    # actors played by people in this run (their seats wait for answers), whatever the
    # scenario's actor files say
    humans: tuple[str, ...] = ()
    # white-cell mode: each world update waits for a facilitator to approve or edit it
    # (None: as the scenario says, its ``white_cell``)
    white_cell: bool | None = None
    name: str | None = None  # a label for people: `runs`, reports, SQL
    tags: tuple[str, ...] = ()  # labels to find the run by (`runs --tag`, SQL)
    # mark prompts' stable opening for Anthropic models' prompt cache (others cache alone)
    cache_markers: bool = True


class RunCreated(msgspec.Struct, frozen=True, kw_only=True):
    """A run recorded (its setup, turn 0) and ready to play; ``warnings`` of its files."""

    run_id: str
    scenario: str
    warnings: tuple[str, ...] = ()


class ResumeRun(msgspec.Struct, frozen=True, kw_only=True):
    """Go on with a halted, interrupted or finished-early run (``run``: an id or a unique
    prefix). ``interactive``: whoever plays it answers for human seats inline."""

    run: str
    credit_limit: float | None = None
    turns: int | None = None
    interactive: bool = False


class ForkRun(msgspec.Struct, frozen=True, kw_only=True):
    """A branch of ``run`` sharing its turns 0..``at_turn``, with what it changes:
    ``decisions`` (actor -> action in turn at_turn+1), ``inject`` (exogenous events in
    that turn), ``humans``/``ais`` (seats changing hands), models, seed, turns, limit.

    ``count`` asks for that many continuations played as a batch (``play`` must be
    set; seats cannot change hands): with ``decisions``/``inject`` a counterfactual set,
    without them the baseline set. ``paired`` derives the branches' seeds from the
    parent run, ``at_turn`` and the branch's index only, so a baseline and an edited set
    both made with ``paired`` share seeds (common random numbers) in either order.
    ``budget``: USD for the whole set.
    """

    run: str
    at_turn: int
    seed: int | None = None
    turns: int | None = None
    models: dict[str, str] = {}
    decisions: dict[str, str] = {}
    inject: tuple[str, ...] = ()
    humans: tuple[str, ...] = ()
    ais: tuple[str, ...] = ()
    credit_limit: float | None = None
    play: bool = False
    count: int | None = None
    parallel: int | None = None  # branches played at once (None: the batch default)
    paired: bool = False
    budget: float | None = None
    name: str | None = None  # the branch's own name (with ``count``: refused)
    tags: tuple[str, ...] = ()  # added to the run's (with ``count``: to every branch)


class ForkCreated(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    parent_run_id: str
    at_turn: int


class PendingSeat(msgspec.Struct, frozen=True, kw_only=True):
    """A human seat the run waits for in ``turn``: ``kind`` is decision, reply or
    coalition; ``action_name`` an example of its declared actions when the decision must
    name one."""

    actor: str
    kind: str
    turn: int
    action_name: str | None = None


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """Where a run stands after playing: completed, halted (why, and which seats it waits
    for), failed, or running (still played elsewhere)."""

    run_id: str
    status: str
    halt_reason: str | None
    halt_detail: str
    turns_completed: int
    turns: int
    cost_usd: float  # of the calls with a known price
    credit_limit: float | None
    pending: tuple[PendingSeat, ...] = ()
    unpriced_calls: int = 0  # calls of a model with no known price: cost unknown


# (actor, context, prompt messages) -> {action, action_name, reasoning, goals} or None
HumanPrompt = Callable[[str, Any, list[dict[str, str]]], dict[str, Any] | None]


@dataclass
class PlayHooks:
    """What a front end watches and answers while a run plays: ``progress`` is updated
    in place (turn, calls, cost); ``human_prompt`` answers human seats inline (called in
    a worker thread; None defers the seat and the run halts waiting for it)."""

    progress: Progress | None = None
    human_prompt: HumanPrompt | None = None


def pending_seats(state: RunState) -> tuple[PendingSeat, ...]:
    """The human seats the run waits for, each with what it is asked first."""
    from engine.play.session import seat_ask

    out = []
    for actor, requests in state.pending_human.items():
        if not requests:
            continue
        ask = seat_ask(state, actor)
        out.append(
            PendingSeat(
                actor=actor, kind=ask.kind, turn=requests[0].turn, action_name=ask.action_name
            )
        )
    return tuple(out)


def outcome_of(run_id: str, state: RunState) -> RunOutcome:
    """The ``RunOutcome`` of a folded state."""
    return RunOutcome(
        run_id=run_id,
        status=state.status,
        halt_reason=state.halt_reason,
        halt_detail=state.halt_detail,
        turns_completed=max(state.last_completed_turn, 0),
        turns=state.settings.turns,
        cost_usd=state.costs.total_usd,
        credit_limit=state.settings.credit_limit_usd,
        pending=pending_seats(state) if state.status == "halted" else (),
        unpriced_calls=state.costs.unpriced_calls,
    )


def run_models(state: RunState, extra: dict[str, str] | None = None) -> list[str]:
    """The models a recorded run needs from here on (``extra`` overrides on top)."""
    from engine.scenario.model import Scenario

    overrides = {**state.settings.model_overrides, **(extra or {})}
    return models_needed(
        Scenario.from_resolved(state.scenario), overrides, state.settings.world_model
    )


def create_run(
    settings: LabSettings, request: StartRun, lease: RunLease
) -> tuple[RunCreated, EventStore]:
    """Check everything a run needs, then record its setup under ``lease`` (acquired
    here, before the run exists, so it never looks interrupted; ``play_run`` takes it).

    Nothing is written when a check fails: the scenario, the model overrides, turns and
    credit limit, each model's endpoint and credentials, the price file, a price for
    every model under a credit limit (without one, an unpriced model is a warning).

    The log is returned open, for ``play_run`` to play the run on: closing it between
    the two would checkpoint and delete its write-ahead log (fsyncs) only for the first
    append to make it again. The caller closes it.
    """
    from engine.play.session import (
        check_credit_limit,
        check_labels,
        check_overrides,
        check_turns,
        start_run,
    )

    from .scenarios import load

    loaded = with_humans(load(request.scenario), request.humans)
    check_overrides(loaded.scenario, request.models)
    check_turns(
        loaded.scenario, request.turns if request.turns is not None else loaded.scenario.turns
    )
    check_credit_limit(request.credit_limit)
    check_labels(request.name, request.tags)
    from engine.play.limits import check_prompt_sizes

    size_warnings = check_prompt_sizes(
        loaded.scenario,
        turns=request.turns,
        model_overrides=request.models,
        world_model=request.world_model,
        allow=request.allow_long_prompts,
    )
    models = models_needed(loaded.scenario, request.models, request.world_model)
    check_models(settings, models)
    price_warnings = check_priced(price_table(settings), models, request.credit_limit)
    store = open_store(settings, create=True)
    try:
        lease.acquire()
        try:
            start_run(
                store,
                loaded,
                run_id=lease.run_id,
                seed=request.seed,
                turns=request.turns,
                credit_limit_usd=request.credit_limit,
                model_overrides=request.models,
                world_model=request.world_model,
                json_mode=request.json_mode,
                white_cell=request.white_cell,
                name=request.name,
                tags=request.tags,
                cache_markers=request.cache_markers,
            )
        except BaseException:
            lease.release()
            raise
    except BaseException:
        store.close()
        raise
    created = RunCreated(
        run_id=lease.run_id,
        scenario=loaded.scenario.name,
        warnings=(*loaded.warnings, *size_warnings, *price_warnings),
    )
    return created, store


def with_humans(loaded: LoadedScenario, humans: tuple[str, ...]) -> LoadedScenario:
    """``loaded`` with the actors ``humans`` played by people (recorded so in the run's
    scenario); an actor the scenario does not have is refused."""
    if not humans:
        return loaded
    unknown = [a for a in humans if a not in loaded.scenario.actors]
    if unknown:
        raise InvalidRequest(
            "{humans}: scenario {name!r} has no actor {actor!r} (actors: {known})",
            field="humans",
            values={
                "name": loaded.scenario.name,
                "actor": unknown[0],
                "known": ", ".join(loaded.scenario.actors),
            },
        )
    return loaded.with_overrides({f"actors.{a}.control": "human" for a in humans})


def resume_run(settings: LabSettings, request: ResumeRun) -> str:
    """Make a run playable again (records ``RunResumed``); returns its id. Refuses, with
    the reason, a run that cannot go on; checks its models' credentials first."""
    from engine.play.session import prepare_resume
    from engine.replay import replay

    with open_store(settings) as store:
        run_id = store.resolve(request.run)
        require_verified(store, [run_id])
        state = replay(store, run_id)
        models = run_models(state)
        check_models(settings, models)
        limit = request.credit_limit
        check_priced(
            price_table(settings),
            models,
            state.settings.credit_limit_usd if limit is None else limit,
        )
        prepare_resume(
            store,
            run_id,
            credit_limit_usd=request.credit_limit,
            turns=request.turns,
            interactive=request.interactive,
        )
    return run_id


def check_fork(request: ForkRun) -> None:
    """Refuse fork requests that contradict themselves, before anything is read."""
    if set(request.humans) & set(request.ais):
        raise InvalidRequest(
            "an actor cannot be both {humans} and {ais}", field="humans", values={}
        )
    if request.count is not None:
        if request.name is not None:
            raise InvalidRequest(
                "{name} names one run and {count} makes many: label them with {tags}",
                field="name",
                values={},
            )
        if request.count < 1:
            raise InvalidRequest(
                "{count} {n} must be at least 1", field="count", values={"n": request.count}
            )
        if not request.play:
            raise InvalidRequest("{count} needs {play}", field="count", values={})
        if request.humans or request.ais:
            raise InvalidRequest(
                "{count} branches play unattended: drop {humans}/{ais}",
                field="count",
                values={},
            )
    elif request.paired:
        raise InvalidRequest(
            "{paired} pairs a set of branches: give {count} too", field="paired", values={}
        )
    elif request.budget is not None:
        raise InvalidRequest(
            "{budget} is the budget of a set of branches: give {count} too",
            field="budget",
            values={},
        )


def check_turns_left(store: EventStore, parent: str, request: ForkRun) -> None:
    """Refuse to play a branch that has no turn left: forked at the last turn of the
    run's length (its own, or ``request.turns``), playing it would record an empty
    branch. Checked before anything is written."""
    if not request.play:
        return
    from engine.errors import RunNotPlayable
    from engine.replay import replay

    state = replay(store, parent, to_turn=request.at_turn)
    turns = request.turns if request.turns is not None else state.settings.turns
    if request.at_turn >= turns and state.last_completed_turn >= request.at_turn:
        raise RunNotPlayable(
            "a branch of run {run} at turn {at} has no turn left to play (the run has {n})",
            hint="fork at an earlier turn, or give {turns} N above {at} to play more turns",
            run_id=parent,
            field="at_turn",
            values={"run": parent, "at": request.at_turn, "n": turns},
        )


def fork_run(settings: LabSettings, request: ForkRun) -> ForkCreated:
    """Record a branch (not played: ``play_run`` plays it)."""
    from engine.play.session import fork_run as record_fork

    check_fork(request)
    if request.count is not None:
        raise InvalidRequest(
            "{count} branches play as a batch: continue the run instead of forking it once",
            field="count",
            values={},
        )
    controls = {a: "human" for a in request.humans} | {a: "ai" for a in request.ais}
    with open_store(settings) as store:
        parent = store.resolve(request.run)
        require_verified(store, [parent])
        check_turns_left(store, parent, request)
        if request.play:  # what playing it would refuse, refused before it is recorded
            from engine.replay import replay

            state = replay(store, parent)
            limit = request.credit_limit
            check_priced(
                price_table(settings),
                run_models(state, request.models),
                state.settings.credit_limit_usd if limit is None else limit,
            )
        branch = record_fork(
            store,
            parent,
            request.at_turn,
            seed=request.seed,
            turns=request.turns,
            model_overrides=request.models,
            forced_decisions=request.decisions,
            injections=request.inject,
            control_changes=controls,
            credit_limit_usd=request.credit_limit,
            name=request.name,
            tags=request.tags,
        )
    return ForkCreated(run_id=branch, parent_run_id=parent, at_turn=request.at_turn)


async def play_run(
    settings: LabSettings,
    run_id: str,
    hooks: PlayHooks | None = None,
    *,
    lease: RunLease | None = None,
    scope: anyio.CancelScope | None = None,
    inbox: Callable[[], list[Any]] | None = None,
    store: EventStore | None = None,
) -> RunOutcome:
    """Play a recorded run until it completes, halts or fails, and say where it stands.

    Cancelling ``scope`` (``Lab.halt``) stops it between two recorded steps (each step's
    events are appended atomically) and records a halt by request; calls in flight are
    abandoned and asked again on resume. ``store``: the log already open (``create_run``
    leaves it so); it is closed here either way, and the log is opened once.
    """
    import anyio

    from engine.play.player import RunPlayer
    from engine.replay import replay
    from eventstore import RunHalted

    hooks = hooks or PlayHooks()
    try:
        if store is None:
            store = open_store(settings)
        state = replay(store, run_id)
        models = run_models(state)
        client = make_client(settings, models)
    except BaseException:
        if store is not None:
            store.close()
        if lease is not None:
            lease.release()
        raise
    scope = scope or anyio.CancelScope()
    try:
        prices = await load_prices(settings, client)
        # the checks before recording used the static table; this one has the live list
        check_priced(prices, models, state.settings.credit_limit_usd)
        player = RunPlayer(
            store,
            run_id,
            client=client,
            prices=prices,
            limiter=anyio.CapacityLimiter(settings.concurrency),
            human_prompt=hooks.human_prompt,
            progress=hooks.progress,
            lease=lease,
            inbox=inbox,
        )
        with scope:
            return outcome_of(run_id, await player.play())
        # cancelled: the player let go of the run (and its lease) at a step boundary
        halted = RunHalted(turn=player.state.turn, reason="user", detail="halted on request")
        _append_halt(settings, store, run_id, halted)
        return outcome_of(run_id, replay(store, run_id))
    finally:
        store.close()
        if lease is not None:
            lease.release()
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()


def _append_halt(settings: LabSettings, store: EventStore, run_id: str, halted: Any) -> None:
    from eventstore import RunLease

    with RunLease(settings.db, run_id):
        store.append(run_id, [halted], expected_seq=store.last_seq(run_id))
    log.info("run.halt", extra={"run": run_id, "reason": halted.reason, "detail": halted.detail})


def halt_idle(settings: LabSettings, run_ref: str) -> RunOutcome:
    """Halt a run no process plays (``RunLocked`` if one does): an interrupted run is
    marked halted by request; a halted one stays as it is; an ended one is refused."""
    from engine.errors import RunNotPlayable
    from engine.replay import replay
    from eventstore import RunHalted, is_held

    with open_store(settings) as store:
        run_id = store.resolve(run_ref)
        if is_held(settings.db, run_id):
            from eventstore import RunLocked

            raise RunLocked(run_id)
        state = replay(store, run_id)
        if state.status in ("completed", "failed"):
            raise RunNotPlayable(f"run {run_id} has already {state.status}", run_id=run_id)
        if state.status != "halted":
            halted = RunHalted(turn=state.turn, reason="user", detail="halted on request")
            _append_halt(settings, store, run_id, halted)
            state = replay(store, run_id)
        return outcome_of(run_id, state)


def resolve(settings: LabSettings, run_ref: str) -> str:
    """The full id of the run ``run_ref`` names (an id or a unique prefix)."""
    with open_store(settings) as store:
        return store.resolve(run_ref)


def stop_idle(settings: LabSettings, run_id: str) -> RunOutcome:
    """End a run nobody plays for good (``RunLocked`` if a process plays it): it is
    halted with reason ``stopped``, which ``resume`` refuses. A stopped run stays as it
    is; a completed or failed one is refused."""
    from engine.errors import RunNotPlayable
    from engine.replay import replay
    from eventstore import RunHalted, RunLocked, is_held

    with open_store(settings) as store:
        if is_held(settings.db, run_id):
            raise RunLocked(run_id)
        state = replay(store, run_id)
        if state.status in ("completed", "failed"):
            raise RunNotPlayable(f"run {run_id} has already {state.status}", run_id=run_id)
        if not (state.status == "halted" and state.halt_reason == "stopped"):
            stopped = RunHalted(turn=state.turn, reason="stopped", detail="stopped for good")
            _append_halt(settings, store, run_id, stopped)
            state = replay(store, run_id)
        return outcome_of(run_id, state)
