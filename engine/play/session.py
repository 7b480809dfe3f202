"""Starting, resuming and forking runs: the library calls behind ``run``, ``resume``, ``fork``.

A run records its whole resolved scenario in ``RunStarted``, so resume and fork never
read the scenario files again. Turn 0 is the setup: ``RunStarted``, the initial value
of every rule variable, and ``TurnCompleted(0)``, so a fork at turn 0 restarts the setup.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from engine.errors import HumanInputPending, RunNotPlayable, ScenarioInvalid, SeatAsk
from engine.replay import replay
from engine.scenario.dates import simulated_date
from engine.scenario.load import LoadedScenario
from engine.scenario.model import Scenario
from eventstore import (
    Event,
    EventStore,
    InvalidRequest,
    MetricRecorded,
    RunResumed,
    RunSettings,
    RunStarted,
    TurnCompleted,
    is_held,
)

log = logging.getLogger(__name__)


@functools.cache  # ~2 ms of importlib.metadata per call: once per process is enough
def tool_version() -> str:
    try:
        return version("scenario-lab")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


def check_overrides(scenario: Scenario, model_overrides: Mapping[str, str]) -> None:
    """Refuse a model override for an actor the scenario does not have."""
    for actor in model_overrides:
        if actor not in scenario.actors:
            raise ScenarioInvalid(
                "{models} names actor {actor!r}, which the scenario does not have",
                hint="actors: {actors}",
                field="models",
                values={"actor": actor, "actors": ", ".join(scenario.actors)},
            )


MAX_NAME = 200  # a run's name is a label, not a document
MAX_TAG = 64


def check_labels(name: str | None, tags: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """A run's name and tags as recorded (trimmed, each tag once, in the order given);
    refuses an empty or multi-line name and a tag with spaces, commas or control
    characters (``runs --tag`` and SQL filters match a tag whole)."""
    if name is not None:
        name = name.strip()
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise InvalidRequest(
                "{name} {value!r} must be one printable line of 1 to {n} characters",
                field="name",
                values={"value": name, "n": MAX_NAME},
            )
    out: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip()
        if (
            not tag
            or len(tag) > MAX_TAG
            or not tag.isprintable()
            or any(c.isspace() or c == "," for c in tag)
        ):
            raise InvalidRequest(
                "{tags} {value!r} must be a word of 1 to {n} characters, "
                "without spaces or commas (e.g. exp-3)",
                field="tags",
                values={"value": tag, "n": MAX_TAG},
            )
        out[tag] = None
    return name, tuple(out)


MAX_TURNS = 100_000  # a run longer than this is a mistyped turn count, not an exercise


def check_turns(scenario: Scenario, turns: int) -> None:
    """Refuse a turn count no run can play: under 1, absurdly many, or one whose last
    turn's simulated date falls off the calendar (it would fail hours into the run)."""
    if not 1 <= turns <= MAX_TURNS:
        raise ScenarioInvalid(
            "{turns} {n} is out of range",
            hint="choose from 1 to {most} turns",
            field="turns",
            values={"n": turns, "most": MAX_TURNS},
        )
    try:
        simulated_date(scenario, turns)
    except (ValueError, OverflowError):
        raise ScenarioInvalid(
            "{turns} {n}: turn {n} would fall past the year 9999 "
            "(turn_duration {duration!r} from start_date {start})",
            hint="choose fewer turns",
            field="turns",
            values={"n": turns, "duration": scenario.turn_duration, "start": scenario.start_date},
        ) from None


def check_credit_limit(limit_usd: float | None) -> None:
    """Refuse a credit limit that is negative or not a number (no limit at all)."""
    if limit_usd is not None and not (limit_usd >= 0 and math.isfinite(limit_usd)):
        raise ScenarioInvalid(
            "{credit_limit} {usd} is not an amount of USD >= 0",
            hint="give a limit in USD, >= 0",
            field="credit_limit",
            values={"usd": limit_usd},
        )


def start_run(
    store: EventStore,
    loaded: LoadedScenario,
    *,
    seed: int = 0,
    turns: int | None = None,
    credit_limit_usd: float | None = None,
    model_overrides: Mapping[str, str] | None = None,
    world_model: str | None = None,
    json_mode: bool = True,
    temperature: float = 0.7,
    batch_id: str | None = None,
    variation: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    white_cell: bool | None = None,
    name: str | None = None,
    tags: tuple[str, ...] = (),
    cache_markers: bool = True,
) -> str:
    """Record a new run's setup (turn 0) and return its id; play it with ``RunPlayer``.

    ``name`` and ``tags`` label the run for people (``runs --tag``, reports, SQL);
    ``white_cell`` None: the scenario's setting; ``cache_markers`` False sends no
    prompt-cache markers to the models that cache only marked prompts (Anthropic's)."""
    scenario = loaded.scenario
    name, tags = check_labels(name, tags)
    overrides = dict(model_overrides or {})
    check_overrides(scenario, overrides)
    check_turns(scenario, turns if turns is not None else scenario.turns)
    check_credit_limit(credit_limit_usd)
    settings = RunSettings(
        turns=turns if turns is not None else scenario.turns,
        credit_limit_usd=credit_limit_usd,
        json_mode=json_mode,
        temperature=temperature,
        model_overrides=overrides,
        world_model=world_model,
        context_window=scenario.context_window_size,
        batch_id=batch_id,
        variation=dict(variation or {}),
        white_cell=scenario.white_cell if white_cell is None else white_cell,
        cache_markers=cache_markers,
    )
    events: list[Event] = [
        RunStarted(
            turn=0,
            scenario_name=scenario.name,
            scenario=loaded.resolved,
            scenario_sha256=loaded.sha256,
            seed=seed,
            settings=settings,
            tool_version=tool_version(),
            name=name,
            tags=tags,
        )
    ]
    events += [
        MetricRecorded(turn=0, name=name, value=float(var.initial), method="rules")
        for name, var in scenario.variables.items()
    ]
    events.append(TurnCompleted(turn=0))
    run_id = store.create_run(run_id, batch_id=batch_id, events=events)
    log.info("run.start", extra={"run": run_id, "scenario": scenario.name, "seed": seed})
    return run_id


def seat_ask(state: Any, actor: str) -> SeatAsk:
    """What ``actor``'s seat is asked first: a decision (with an example of its declared
    actions where its world's rules need one), a reply to a talk, or a coalition answer."""
    pending = state.pending_human.get(actor, ())
    kind = pending[0].kind if pending else "decision"
    if kind != "decision":
        return SeatAsk(actor, kind)
    scenario = Scenario.from_resolved(state.scenario)
    seat = scenario.actors.get(actor)
    if scenario.variables and seat is not None and seat.actions:
        return SeatAsk(actor, kind, seat.actions[0].name)
    return SeatAsk(actor, kind)


def prepare_resume(
    store: EventStore,
    run_id: str,
    *,
    credit_limit_usd: float | None = None,
    turns: int | None = None,
    interactive: bool = False,
) -> None:
    """Make a halted, interrupted or finished-early run playable again.

    ``interactive``: whoever resumes answers for the human seats inline, so a run
    waiting for human input may go on.

    Appends ``RunResumed`` (with a raised credit limit or more turns; for a run that
    never began a turn, such as a fork recorded without playing, its detail says it
    starts). Refuses what cannot go on, saying why.
    """
    state = replay(store, run_id)
    if turns is not None:
        check_turns(Scenario.from_resolved(state.scenario), turns)
    check_credit_limit(credit_limit_usd)
    if is_held(store.path, run_id):
        log.info("lease.conflict", extra={"run": run_id, "lease": run_id})
        raise RunNotPlayable(
            f"run {run_id} is being played by a live process",
            hint="wait for it, or stop that process first",
            run_id=run_id,
        )
    if state.status == "halted" and state.halt_reason == "white_cell":
        review = state.world_review
        if review is None or review.turn != state.turn:
            raise RunNotPlayable(
                f"the world update of turn {state.turn} of run {run_id} waits for a review",
                hint="approve or edit it first (white-cell mode)",
                run_id=run_id,
            )
    if state.status == "halted" and state.halt_reason == "stopped":
        raise RunNotPlayable(
            f"run {run_id} was stopped for good",
            hint=f"fork it at turn {max(state.last_completed_turn, 0)} to go on from there",
            run_id=run_id,
        )
    if state.status == "failed":
        raise RunNotPlayable(
            f"run {run_id} failed ({state.halt_detail})",
            hint=f"fork it at turn {state.last_completed_turn} to go on from its last complete turn",
            run_id=run_id,
        )
    if state.status == "completed" and (turns is None or turns <= state.last_completed_turn):
        raise RunNotPlayable(
            "run {run} already completed {done} turns",
            hint="pass {turns} N with more turns to extend it, or fork it",
            run_id=run_id,
            field="turns",
            values={"run": run_id, "done": state.last_completed_turn},
        )
    if turns is not None and turns < state.last_completed_turn:
        raise RunNotPlayable(
            "run {run} already completed {done} turns; {turns} {n} is fewer",
            hint="fork it at an earlier turn instead",
            run_id=run_id,
            field="turns",
            values={"run": run_id, "done": state.last_completed_turn, "n": turns},
        )
    if state.status == "halted" and state.halt_reason == "human_input" and not interactive:
        missing = [a for a in state.pending_human if a not in state.turn_progress.decided]
        if missing:
            raise HumanInputPending(run_id, tuple(seat_ask(state, a) for a in missing))
    if (
        state.status == "halted"
        and state.halt_reason == "credit_limit"
        and credit_limit_usd is None
    ):
        limit = state.settings.credit_limit_usd
        raise RunNotPlayable(
            "run {run} halted at its credit limit of ${limit:.4f} (spent ${spent:.4f})",
            hint="resume with a higher {credit_limit}",
            run_id=run_id,
            field="credit_limit",
            values={"run": run_id, "limit": limit, "spent": state.costs.total_usd},
        )
    detail = {"halted": f"after halt ({state.halt_reason})", "completed": "extending the run"}.get(
        state.status, "after interruption"
    )
    if state.status == "running" and not store.has_own_event(run_id, "TurnStarted"):
        detail = "starting it"  # recorded without playing (a fork made without --play)
    store.append(
        run_id,
        [
            RunResumed(
                turn=state.turn,
                credit_limit_usd=credit_limit_usd,
                turns=turns,
                detail=detail,
            )
        ],
        expected_seq=store.last_seq(run_id),
    )
    log.info("run.resume", extra={"run": run_id, "turn": state.turn, "detail": detail})


def fork_run(
    store: EventStore,
    run_id: str,
    at_turn: int,
    *,
    seed: int | None = None,
    turns: int | None = None,
    model_overrides: Mapping[str, str] | None = None,
    forced_decisions: Mapping[str, str] | None = None,
    injections: tuple[str, ...] = (),
    control_changes: Mapping[str, str] | None = None,
    credit_limit_usd: float | None = None,
    batch_id: str | None = None,
    variation: Mapping[str, Any] | None = None,
    name: str | None = None,
    tags: tuple[str, ...] = (),
) -> str:
    """Create a branch at ``at_turn`` recording what it changes; returns the branch id.

    ``name`` is the branch's own; ``tags`` add to those its timeline has already."""
    name, tags = check_labels(name, tags)
    state = replay(store, run_id, to_turn=at_turn)
    scenario = Scenario.from_resolved(state.scenario)
    for label, field, names in (
        ("{models}", "models", model_overrides or {}),
        ("{decisions}", "decisions", forced_decisions or {}),
        ("{humans}/{ais}", "humans", control_changes or {}),
    ):
        for actor in names:
            if actor not in scenario.actors:
                raise ScenarioInvalid(
                    label + " names actor {actor!r}, which run {run} does not have",
                    hint="actors: {actors}",
                    field=field,
                    run_id=run_id,
                    values={"actor": actor, "run": run_id, "actors": ", ".join(scenario.actors)},
                )
    if turns is not None:
        check_turns(scenario, turns)
    check_credit_limit(credit_limit_usd)
    if any(not text.strip() for text in injections):
        raise ScenarioInvalid(
            "{inject} needs the event's text",
            hint='{inject} "What happens."',
            field="inject",
            values={},
        )
    if scenario.variables:
        for actor, text in (forced_decisions or {}).items():
            declared = [a.name for a in scenario.actors[actor].actions]
            # one word in a rule-driven world is meant as an action's name: a typo of one
            # would silently become free text with no effects
            if declared and " " not in text.strip() and text.strip() not in declared:
                raise ScenarioInvalid(
                    "{decisions} {actor}={text}: {text!r} is not one of {actor}'s actions",
                    hint="actions: {actions}; a free-text decision is a sentence",
                    field="decisions",
                    run_id=run_id,
                    values={"actor": actor, "text": text, "actions": ", ".join(declared)},
                )
    changes: dict[str, Any] = {
        "seed": seed,
        "turns": turns,
        "model_overrides": dict(model_overrides or {}),
        "forced_decisions": dict(forced_decisions or {}),
        "injections": tuple(injections),
        "control_changes": dict(control_changes or {}),
        "credit_limit_usd": credit_limit_usd,
        "variation": dict(variation or {}),
        "name": name,
        "tags": tags,
    }
    branch = store.fork(run_id, at_turn, changes=changes, batch_id=batch_id)
    log.info("run.fork", extra={"run": branch, "parent": run_id, "at_turn": at_turn})
    return branch
