"""Interviewing an actor: a question put to it with its memory at a turn, outside play.

The actor is asked on a branch of the run forked at the end of ``at_turn``: its prompt
is the one the engine would build for its decision in the branch's first turn (the
same sections, what it knows and what it was told, nothing more), with the question in
place of the decision task. The branch is thrown away unless it is kept; kept, it holds
the exchange as any call is held (a ``CostIncurred`` linking the prompt and the raw
answer blobs, then ``ActorInterviewed``) and halts, so a resume plays on from there.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from engine.fold.state import RunState
from engine.llm import ChatRequest
from engine.play.calls import CallResult, ModelCaller
from engine.play.human import check_actor
from engine.play.phase import decision_context
from engine.play.prompts import cache_prefix_chars, decision_messages
from engine.play.session import fork_run
from engine.replay import replay
from engine.rng import llm_seed
from engine.scenario.model import Scenario
from eventstore import ActorInterviewed, EventStore, InvalidRequest, RunHalted, RunLease

MAX_QUESTION = 4000  # characters: a question, not a document
ANSWER_TOKENS = 1200


@dataclass(frozen=True)
class Interview:
    """An interview ready to ask: whom, with which memory, and the request to send."""

    run_id: str
    actor: str
    at_turn: int
    question: str
    model: str
    request: ChatRequest
    request_id: str

    @property
    def turn(self) -> int:
        """The branch's first turn, where the exchange is recorded."""
        return self.at_turn + 1


def interview_task(question: str) -> str:
    """The task that replaces the decision's: answer the interviewer, in character."""
    return (
        "An interviewer outside the exercise asks you a question. Your answer changes "
        "nothing in the exercise. Answer in your own voice, as yourself at this point, "
        f'in plain text (no JSON).\n\nQuestion: "{question}"'
    )


def prepare(store: EventStore, run_id: str, actor: str, at_turn: int, question: str) -> Interview:
    """Check the request and build the actor's prompt at the end of ``at_turn``.

    Refused: an empty or huge question, a turn the run has not completed, an actor the
    run does not have, and a rule-, script- or human-driven actor (no model to ask)."""
    question = question.strip()
    if not question or len(question) > MAX_QUESTION:
        raise InvalidRequest(
            "the {question} must be 1 to {n} characters",
            field="question",
            values={"n": MAX_QUESTION},
        )
    store.fork_point(run_id, at_turn)  # refuses a turn the run has not completed
    state = replay(store, run_id, to_turn=at_turn)
    check_actor(state, run_id, actor)
    scenario = Scenario.from_resolved(state.scenario)
    control = state.control_overrides.get(actor) or scenario.actors[actor].control
    if control != "ai":
        raise InvalidRequest(
            "{actor} {name} is {control}-driven at turn {turn}: only an actor a model "
            "plays has a memory to interview",
            field="actor",
            run_id=run_id,
            values={"name": actor, "control": control, "turn": at_turn},
        )
    model = state.settings.model_overrides.get(actor) or scenario.actors[actor].llm_model or ""
    request = ChatRequest(
        model=model,
        messages=_messages(state, scenario, actor, at_turn, question),
        temperature=state.settings.temperature,
        seed=llm_seed(state.seed, at_turn + 1, f"interview:{actor}"),
        max_tokens=ANSWER_TOKENS,
        purpose="interview",
        cache_prefix_chars=cache_prefix_chars(
            scenario, scenario.actors[actor], model, state.settings
        ),
    )
    digest = hashlib.sha256(question.encode()).hexdigest()[:8]
    return Interview(
        run_id=run_id,
        actor=actor,
        at_turn=at_turn,
        question=question,
        model=model,
        request=request,
        request_id=f"i{at_turn + 1}-{actor}-{digest}",
    )


def _messages(
    state: RunState, scenario: Scenario, actor: str, at_turn: int, question: str
) -> list[dict[str, str]]:
    ctx = decision_context(state, scenario, actor, at_turn + 1)
    # after the last turn the branch would play one more: say so rather than "turn 5 of 4"
    ctx = dataclasses.replace(ctx, total_turns=max(ctx.total_turns, at_turn + 1))
    return decision_messages(scenario, scenario.actors[actor], ctx, task=interview_task(question))


async def ask(interview: Interview, caller: ModelCaller) -> tuple[CallResult, ActorInterviewed]:
    """Ask the model; the call's record and the exchange as an event."""
    result = await caller.call(
        interview.request,
        turn=interview.turn,
        actor=interview.actor,
        request_id=interview.request_id,
    )
    event = ActorInterviewed(
        turn=interview.turn,
        actor=interview.actor,
        request_id=interview.request_id,
        at_turn=interview.at_turn,
        question=interview.question,
        answer=result.response.text.strip(),
        call=result.call,
    )
    return result, event


def keep(
    store: EventStore, interview: Interview, result: CallResult, event: ActorInterviewed
) -> str:
    """Record the branch the interview was asked on, with the exchange; its id.

    The branch halts after it (a user's halt): ``resume`` plays it on from the turn
    after ``at_turn``, the actor's interview not part of its memory."""
    branch = fork_run(
        store,
        interview.run_id,
        interview.at_turn,
        name=f"interview of {interview.actor} after turn {interview.at_turn}",
        tags=("interview",),
    )
    halted = RunHalted(
        turn=interview.turn,
        reason="user",
        detail=f"kept after an interview of {interview.actor}; resume to play on",
    )
    with RunLease(store.path, branch):
        store.append(
            branch,
            [result.cost, event, halted],
            expected_seq=store.last_seq(branch),
            blobs=result.blobs,
        )
    return branch
