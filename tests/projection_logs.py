"""Synthetic but realistic runs for the projection tests and benchmark.

``turn_events`` writes a turn the way the engine records one (talks, concurrent
decisions with their requests and costs, the world update, metrics, validation), with
contents drawn from a seeded ``random.Random`` so the same arguments give the same log.
Run ids are given by the caller; only event ids and ``recorded_at`` come from the store.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any

from eventstore import (
    Attempt,
    CostIncurred,
    DecisionFailed,
    DecisionMade,
    DecisionRequested,
    Event,
    EventStore,
    ExogenousEventTriggered,
    HumanDecisionSubmitted,
    HumanInputRequested,
    MessageSent,
    MetricRecorded,
    ModelCall,
    RunCompleted,
    RunHalted,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
)

ACTOR_MODEL = "openai/gpt-4o-mini"
WORLD_MODEL = "anthropic/claude-3.5-haiku"
_WORDS = [
    "patrol",
    "lanes",
    "ceasefire",
    "talks",
    "sanctions",
    "exports",
    "tariffs",
    "summit",
    "coalition",
    "mediator",
    "incident",
    "fleet",
    "drills",
    "harbour",
    "convoy",
    "guarantee",
    "inspection",
    "corridor",
    "treaty",
    "pressure",
    "de-escalation",
    "leverage",
    "signal",
    "resolve",
    "credibility",
    "backchannel",
    "deadline",
    "verification",
]


def scenario_dict(
    name: str = "Strait Crisis",
    actors: tuple[str, ...] = ("north", "south", "mediator"),
    metrics: tuple[str, ...] = ("tension", "trade_flow"),
    actor_metric: str | None = "resolve",
    turns: int = 10,
) -> dict[str, Any]:
    """A resolved scenario as ``RunStarted`` records it (the keys the model uses)."""
    metric_defs: list[dict[str, Any]] = [
        {
            "name": m,
            "description": f"The {m.replace('_', ' ')} of the turn",
            "type": "continuous",
            "range": [0.0, 10.0],
            "actor_specific": False,
            "extraction": {"type": "llm", "prompt": f"Rate {m} 0-10."},
        }
        for m in metrics
    ]
    if actor_metric:
        metric_defs.append(
            {
                "name": actor_metric,
                "description": "How firmly each actor holds its line",
                "type": "continuous",
                "range": [0.0, 10.0],
                "actor_specific": True,
                "extraction": {"type": "keyword", "keywords": ["resolve", "firm"]},
            }
        )
    return {
        "name": name,
        "description": "Two powers and a mediator around a contested strait.",
        "system_prompt": "This is a policy simulation.",
        "initial_world_state": (
            "A collision between a patrol boat and a freighter has closed the strait.\n"
            "Insurers have suspended cover; both navies are on alert."
        ),
        "turn_duration": "1 month",
        "start_date": "2031-03-01",
        "turns": turns,
        "world_state_model": WORLD_MODEL,
        "actors": {
            a: {
                "name": a.replace("-", " ").title(),
                "short_name": a,
                "llm_model": ACTOR_MODEL,
                "role": "Participant",
                "goals": [f"Secure {a}'s interests", "Avoid open conflict"],
                "control": "ai",
            }
            for a in actors
        },
        "metrics": metric_defs,
        "exogenous_events": [
            {"name": "Storm", "type": "scheduled", "turn": 2, "effects": {"tension": -0.5}}
        ],
    }


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


# The blobs the synthetic calls name, by sha256: appended with the events naming them,
# as the engine does (verify checks every named blob is in the log).
_BLOBS: dict[str, bytes] = {}


def _blob(rng: random.Random) -> str:
    data = f"synthetic text {rng.getrandbits(256):064x}".encode()
    sha = hashlib.sha256(data).hexdigest()
    _BLOBS[sha] = data
    return sha


def _named(events: list[Event]) -> dict[str, bytes]:
    from eventstore._blobrefs import blob_refs

    return {sha: _BLOBS[sha] for ev in events for sha in blob_refs(ev)}


def _call(rng: random.Random, model: str, inp: int, out: int) -> ModelCall:
    cost = round((inp * 0.15 + out * 0.6) / 1e6, 8)
    return ModelCall(
        model=model,
        prompt_hash=_blob(rng),
        response_hash=_blob(rng),
        temperature=0.7,
        seed=rng.getrandbits(31),
        input_tokens=inp,
        output_tokens=out,
        cost_usd=cost,
        latency_ms=round(rng.uniform(300, 2500), 1),
        attempts=(Attempt(outcome="ok", latency_ms=round(rng.uniform(300, 2500), 1)),),
        parse_method="json_schema",
    )


def _cost(turn: int, call: ModelCall, purpose: str, actor: str | None, rid: str) -> CostIncurred:
    return CostIncurred(
        turn=turn,
        model=call.model,
        purpose=purpose,
        actor=actor,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        cost_usd=call.cost_usd,
        request_id=rid,
    )


@dataclass
class RunShape:
    """What a synthetic run looks like; the defaults give every kind of row."""

    actors: tuple[str, ...] = ("north", "south", "mediator")
    metrics: tuple[str, ...] = ("tension", "trade_flow")
    actor_metric: str | None = "resolve"
    human: str | None = None  # an actor whose decisions a human submits
    fail_turns: tuple[int, ...] = ()  # turns where the first actor's call fails once
    talk: bool = True
    words: int = 40  # length of reasoning and narratives
    scenario: dict[str, Any] = field(default_factory=dict)


def setup_events(
    shape: RunShape, seed: int, turns: int, *, name: str = "Strait Crisis", **settings: Any
) -> list[Event]:
    scenario = shape.scenario or scenario_dict(
        name, shape.actors, shape.metrics, shape.actor_metric, turns
    )
    rng = random.Random(seed)
    events: list[Event] = [
        RunStarted(
            turn=0,
            scenario_name=scenario["name"],
            scenario=scenario,
            scenario_sha256=hashlib.sha256(
                json.dumps(scenario, sort_keys=True).encode()
            ).hexdigest(),
            seed=seed,
            settings=RunSettings(turns=turns, **settings),
            tool_version="0.1.0",
        )
    ]
    events += [
        MetricRecorded(turn=0, name=m, value=round(rng.uniform(2, 8), 3), method="rules")
        for m in shape.metrics
    ]
    events.append(TurnCompleted(turn=0))
    return events


def turn_events(shape: RunShape, turn: int, seed: int, *, tag: str = "") -> list[Event]:
    """One played turn in the engine's order; ``tag`` varies a branch's contents."""
    rng = random.Random(f"{seed}:{turn}:{tag}")
    t = turn
    events: list[Event] = [TurnStarted(turn=t, simulated_date=f"2031-{(t % 12) + 1:02d}-01")]
    if t % 3 == 2:
        events.append(
            ExogenousEventTriggered(
                turn=t,
                name="Storm",
                description="Heavy weather slows shipping for the month.",
                kind="scheduled",
                source_index=0,
                effects={"tension": -0.5, "trade_flow": -3.0},
            )
        )
    if shape.talk and len(shape.actors) >= 2:
        a, b = shape.actors[0], shape.actors[1]
        call = _call(rng, ACTOR_MODEL, 600, 80)
        events += [
            MessageSent(
                turn=t,
                message_id=f"m{t}-1{tag}",
                sender=a,
                recipients=(b,),
                channel="bilateral",
                visibility="private",
                kind="talk",
                content=_text(rng, 25),
                thread_id=f"talk-{t}",
                call=call,
            ),
            _cost(t, call, "communication", a, f"c{t}-{a}"),
            MessageSent(
                turn=t,
                message_id=f"m{t}-2{tag}",
                sender=shape.actors[-1],
                recipients=(),
                channel="public",
                visibility="public",
                kind="statement",
                content=_text(rng, 20),
            ),
        ]
    for i, actor in enumerate(shape.actors):
        rid = f"d{t}-{actor}"
        if actor == shape.human:
            events += [
                HumanInputRequested(turn=t, actor=actor, request_id=rid),
                HumanDecisionSubmitted(
                    turn=t,
                    actor=actor,
                    request_id=rid,
                    long_term_goals=("Keep the strait open",),
                    reasoning=_text(rng, shape.words // 2),
                    action=f"{actor} {_text(rng, 8).lower()}{tag}",
                    submitted_by="analyst",
                ),
            ]
            continue
        events.append(
            DecisionRequested(
                turn=t, actor=actor, request_id=rid, model=ACTOR_MODEL, temperature=0.7, seed=t
            )
        )
        if i == 0 and t in shape.fail_turns:
            events.append(
                DecisionFailed(
                    turn=t,
                    actor=actor,
                    request_id=rid,
                    error="the answer was not JSON",
                    error_kind="unparsable",
                )
            )
        call = _call(rng, ACTOR_MODEL, rng.randint(1200, 2400), rng.randint(150, 400))
        events += [
            _cost(t, call, "decision", actor, rid),
            DecisionMade(
                turn=t,
                actor=actor,
                request_id=rid,
                long_term_goals=(f"Secure {actor}'s interests", "Avoid open conflict"),
                short_term_priorities=(_text(rng, 5),),
                reasoning=_text(rng, shape.words),
                action=f"{actor} {_text(rng, 10).lower()}{tag}",
                parse_method="json_schema",
                call=call,
            ),
        ]
    call = _call(rng, WORLD_MODEL, rng.randint(2000, 4000), rng.randint(300, 600))
    events += [
        WorldUpdated(
            turn=t,
            narrative=_text(rng, shape.words * 2),
            key_changes=(_text(rng, 8), _text(rng, 8)),
            consequences=(_text(rng, 10),),
            variables={"tension": round(rng.uniform(0, 10), 3), "trade_flow": rng.randint(0, 99)},
            call=call,
        ),
        _cost(t, call, "world_update", None, f"w{t}"),
    ]
    for m in shape.metrics:
        call = _call(rng, WORLD_MODEL, 500, 20)
        events += [
            MetricRecorded(
                turn=t, name=m, value=round(rng.uniform(0, 10), 3), method="llm", call=call
            ),
            _cost(t, call, "metric", None, f"m{t}-{m}"),
        ]
    if shape.actor_metric:
        for actor in shape.actors:
            events.append(
                MetricRecorded(
                    turn=t,
                    name=shape.actor_metric,
                    value=float(rng.randint(0, 5)),
                    actor=actor,
                    method="keyword",
                )
            )
    call = _call(rng, WORLD_MODEL, 800, 60)
    passed = rng.random() > 0.2
    events += [
        ValidationRecorded(
            turn=t,
            check="actor_consistency",
            passed=passed,
            severity="medium",
            issues=() if passed else (_text(rng, 6),),
            explanation=_text(rng, 12),
            call=call,
        ),
        _cost(t, call, "validation", None, f"v{t}"),
        TurnCompleted(turn=t),
    ]
    return events


def completed(turn: int, events: list[Event]) -> RunCompleted:
    total = sum(e.cost_usd for e in events if isinstance(e, CostIncurred))
    return RunCompleted(turn=turn, turns_completed=turn, total_cost_usd=round(total, 8))


def write_run(
    store: EventStore,
    run_id: str,
    *,
    turns: int = 3,
    seed: int = 7,
    shape: RunShape | None = None,
    finish: str = "completed",  # completed, halted, running
    **settings: Any,
) -> str:
    """A root run of ``turns`` played turns, appended one turn per transaction."""
    shape = shape or RunShape()
    events = setup_events(shape, seed, turns, **settings)
    store.create_run(
        run_id, events=events, batch_id=settings.get("batch_id"), blobs=_named(events) or None
    )
    continue_run(store, run_id, range(1, turns + 1), seed=seed, shape=shape, finish=finish)
    return run_id


def continue_run(
    store: EventStore,
    run_id: str,
    turns: range,
    *,
    seed: int = 7,
    shape: RunShape | None = None,
    tag: str = "",
    finish: str = "completed",
) -> None:
    """Play ``turns`` of a run (or a branch) and finish it as ``finish`` says."""
    shape = shape or RunShape()
    played: list[Event] = []
    for t in turns:
        batch = turn_events(shape, t, seed, tag=tag)
        played += batch
        store.append(run_id, batch, expected_seq=store.last_seq(run_id), blobs=_named(batch))
    last = turns[-1] if len(turns) else 0
    end: Event | None = None
    if finish == "completed":
        end = completed(last, played)
    elif finish == "halted":
        end = RunHalted(turn=last, reason="credit_limit", detail="the next call would cross $1")
    if end is not None:
        store.append(run_id, [end], expected_seq=store.last_seq(run_id))


def family(store: EventStore) -> dict[str, str]:
    """A root, a branch of it with changes, a branch of the branch, and an unrelated run.

    The root has a human seat and a failed-then-retried decision; the root's branch
    forces a decision and changes the seed; ``unrelated`` plays the same scenario alone.
    """
    shape = RunShape(human="mediator", fail_turns=(2,))
    root = write_run(store, "root-a", turns=4, seed=7, shape=shape, variation={"temperature": 0.7})
    branch = store.fork(
        root,
        2,
        new_run_id="branch-b",
        changes={
            "seed": 8,
            "forced_decisions": {"north": "North withdraws its fleet."},
            "variation": {"temperature": 0.3},
        },
    )
    continue_run(store, branch, range(3, 5), seed=8, shape=shape, tag="-b")
    twig = store.fork(branch, 3, new_run_id="twig-c", changes={"model_overrides": {"south": "x/y"}})
    continue_run(store, twig, range(4, 6), seed=8, shape=shape, tag="-c", finish="halted")
    unrelated = write_run(store, "other-d", turns=3, seed=11, shape=shape)
    return {"root": root, "branch": branch, "twig": twig, "unrelated": unrelated}
