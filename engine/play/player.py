"""Playing a run: the turn loop, step by step, deciding each step from the folded state.

The player holds the run's lease, keeps the folded state in memory (it is the only
writer), and appends each step's events before starting the next. After a crash,
``resume`` replays the log and the same loop sees which steps of the open turn are
recorded and does only the rest: a recorded model response is never requested again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio

from engine.errors import BudgetExceeded, LLMUnavailable, NondeterminismError
from engine.fold.handlers import apply
from engine.fold.state import RunState, coalitions_of, visible_messages
from engine.llm import ChatRequest, LLMClient, ParseError, PriceTable, parse_structured
from engine.play import brains, rules, talks
from engine.play.calls import Budget, ModelCaller
from engine.play.exogenous import due_events
from engine.play.measure import clamp, local_metric
from engine.play.outputs import MetricOut, ValidationOut, WorldOut
from engine.play.prompts import (
    DecisionContext,
    PastDecision,
    SeenMessage,
    decision_messages,
    metric_messages,
    validation_messages,
    world_update_messages,
)
from engine.replay import replay, save_snapshot
from engine.rng import llm_seed
from engine.scenario.load import simulated_date
from engine.scenario.model import Scenario
from eventstore import (
    DecisionFailed,
    DecisionRequested,
    Event,
    EventStore,
    ExogenousEventTriggered,
    HaltReason,
    HumanDecisionSubmitted,
    HumanInputRequested,
    MetricRecorded,
    RunCompleted,
    RunFailed,
    RunHalted,
    RunLease,
    TurnCompleted,
    TurnStarted,
    ValidationRecorded,
    WorldUpdated,
    blob_hash,
)

HumanPrompt = Callable[[str, DecisionContext, list[dict[str, str]]], dict[str, Any] | None]


@dataclass
class Progress:
    """Counters a progress display reads while a run plays."""

    turn: int = 0
    total_turns: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    status: str = "running"


class _Halt(Exception):
    def __init__(self, reason: HaltReason, detail: str, waiting_for: Sequence[str] = ()):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.waiting_for = tuple(waiting_for)


class _InOrder:
    """Buffers each concurrent task's appends and writes them in task order."""

    def __init__(self, player: RunPlayer, n: int):
        self.player = player
        self.batches: list[list[tuple[Sequence[Event], dict[str, bytes] | None]]] = [
            [] for _ in range(n)
        ]
        self.done = [False] * n
        self.next = 0

    def add(self, index: int, events: Sequence[Event], blobs: dict[str, bytes] | None) -> None:
        self.batches[index].append((list(events), blobs))

    def finish(self, index: int) -> None:
        """Write every batch that is now next in order, in one append (one commit).

        A commit costs more than the Python around it; when several answers are in, one
        transaction for all of them keeps the event loop free for the calls in flight.
        The events and their order are the same as batch by batch.
        """
        self.done[index] = True
        events: list[Event] = []
        blobs: dict[str, bytes] = {}
        while self.next < len(self.done) and self.done[self.next]:
            for batch, batch_blobs in self.batches[self.next]:
                events += batch
                if batch_blobs:
                    blobs.update(batch_blobs)
            self.batches[self.next] = []
            self.next += 1
        if events:
            self.player._write(events, blobs or None)


_SLOT: ContextVar[tuple[_InOrder, int] | None] = ContextVar("scenario_lab_slot", default=None)


class RunPlayer:
    """Plays one run to its end, a halt, or a failure."""

    def __init__(
        self,
        store: EventStore,
        run_id: str,
        *,
        client: LLMClient | None,
        prices: PriceTable,
        limiter: anyio.CapacityLimiter | None = None,
        batch_budget: Budget | None = None,
        human_prompt: HumanPrompt | None = None,
        progress: Progress | None = None,
        snapshot_every: int = 10,
        lease: RunLease | None = None,
    ):
        self.store = store
        self.run_id = run_id
        self.client = client
        self.prices = prices
        self.limiter = limiter or anyio.CapacityLimiter(8)
        self.human_prompt = human_prompt
        self.progress = progress or Progress()
        self.snapshot_every = snapshot_every
        # a lease the caller already holds (taken before the run was even created)
        self.lease = lease
        self.state: RunState = replay(store, run_id)
        self.seq = store.last_seq(run_id)
        self.scenario = Scenario.from_resolved(self.state.scenario)
        self.budget = Budget(
            limit_usd=self.state.settings.credit_limit_usd,
            spent_usd=self.state.costs.total_usd,
            batch=batch_budget,
        )

    # -- plumbing ----------------------------------------------------------------------

    def append(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        """Append now, or, inside ``_in_order``, when every earlier task's events are in."""
        slot = _SLOT.get()
        if slot is not None:
            slot[0].add(slot[1], events, blobs)
            return
        self._write(events, blobs)

    def _write(self, events: Sequence[Event], blobs: dict[str, bytes] | None = None) -> None:
        result = self.store.append(self.run_id, events, expected_seq=self.seq, blobs=blobs)
        self.seq = result.last_seq
        state = self.state
        for ev in events:
            state = apply(state, ev)
        self.state = state
        self.progress.cost_usd = state.costs.total_usd
        self.progress.calls = state.costs.calls

    async def _in_order(self, items: Sequence[Any], work: Callable[[Any], Any]) -> None:
        """Run ``work(item)`` for every item concurrently; their events land in item order.

        Concurrency keeps model calls overlapped, and the fixed order keeps the log the
        same from run to run whatever order the answers arrive in. A finished task's
        events wait only for the tasks before it.
        """
        order = _InOrder(self, len(items))
        halts: list[_Halt] = []
        errors: list[Exception] = []

        async def one(index: int, item: Any) -> None:
            token = _SLOT.set((order, index))
            try:
                await work(item)
            except _Halt as h:
                halts.append(h)
            except Exception as e:  # re-raised below as itself, not as an exception group
                errors.append(e)
            finally:
                _SLOT.reset(token)
            if not errors:
                try:
                    order.finish(index)
                except Exception as e:  # an append failed: surface it as itself
                    errors.append(e)

        async with anyio.create_task_group() as tg:
            for index, item in enumerate(items):
                tg.start_soon(one, index, item)
        if errors:
            raise errors[0]
        if halts:
            raise halts[0]

    def _request(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: Any,
        schema_name: str,
        *,
        purpose: str,
        turn: int,
        seed_key: str,
        max_tokens: int,
        temperature: float | None = None,
    ) -> ChatRequest:
        """A structured-output request; the schema is sent only in JSON mode."""
        st = self.state
        json_mode = st.settings.json_mode
        return ChatRequest(
            model=model,
            messages=messages,
            temperature=st.settings.temperature if temperature is None else temperature,
            seed=llm_seed(st.seed, turn, seed_key),
            max_tokens=max_tokens,
            json_schema=_schema(schema) if json_mode else None,
            schema_name=schema_name if json_mode else None,
            purpose=purpose,
        )

    def caller(self) -> ModelCaller:
        if self.client is None:
            raise LLMUnavailable(
                "this scenario needs a model but no LLM client was configured",
                hint="pass --llm-base-url or set OPENROUTER_API_KEY",
            )
        return ModelCaller(self.client, self.prices, self.limiter, self.budget)

    def control(self, actor_id: str) -> str:
        return self.state.control_overrides.get(actor_id) or self.scenario.actors[actor_id].control

    def model_for(self, actor_id: str) -> str:
        return (
            self.state.settings.model_overrides.get(actor_id)
            or self.scenario.actors[actor_id].llm_model
            or ""
        )

    def world_model(self) -> str | None:
        model = self.state.settings.world_model or self.scenario.world_state_model
        return None if model in (None, "", "rules") else model

    # -- the loop ----------------------------------------------------------------------

    async def play(self) -> RunState:
        """Play until the run completes, halts or fails. Holds the run's lease."""
        with self.lease or RunLease(self.store.path, self.run_id):
            try:
                await self._loop()
            except _Halt as h:
                self.append(
                    [
                        RunHalted(
                            turn=self.state.turn,
                            reason=h.reason,
                            detail=h.detail,
                            waiting_for=h.waiting_for,
                        )
                    ]
                )
            except NondeterminismError:
                raise  # replay --check: the scratch log is thrown away, nothing to record
            except Exception as e:  # the run cannot go on: record why, then re-raise
                self.append(
                    [
                        RunFailed(
                            turn=self.state.turn,
                            error=str(e) or repr(e),
                            error_type=type(e).__name__,
                        )
                    ]
                )
                raise
        self.progress.status = self.state.status
        return self.state

    async def _loop(self) -> None:
        self.progress.total_turns = self.state.settings.turns
        while self.state.status == "running":
            st = self.state
            turn = st.turn if st.turn_open else st.last_completed_turn + 1
            self.progress.turn = turn
            if not st.turn_open:
                if turn > st.settings.turns:
                    self.append(
                        [
                            RunCompleted(
                                turn=st.last_completed_turn,
                                turns_completed=st.last_completed_turn,
                                total_cost_usd=round(st.costs.total_usd, 8),
                            )
                        ]
                    )
                    return
                self._start_turn(turn)
            await self._communication(turn)
            await self._decisions(turn)
            await self._world_update(turn)
            await self._metrics(turn)
            await self._validation(turn)
            self.append([TurnCompleted(turn=turn)])
            if self.snapshot_every and turn % self.snapshot_every == 0:
                save_snapshot(self.store, self.run_id, self.state, self.seq)

    # -- steps -------------------------------------------------------------------------

    def _start_turn(self, turn: int) -> None:
        st = self.state
        events: list[Event] = [
            TurnStarted(turn=turn, simulated_date=simulated_date(self.scenario, turn))
        ]
        metric_values: dict[str, list[float]] = {}
        for (name, _actor), value in st.metrics.latest.items():
            if value is not None:
                metric_values.setdefault(name, []).append(value)
        for name, value in st.world.variables.items():
            metric_values.setdefault(name, []).append(value)
        fired = dict(st.exogenous.fired_counts)
        for index, ev in due_events(
            self.scenario.exogenous_events,
            turn=turn,
            seed=st.seed,
            fired_indexes=fired,
            metric_values=metric_values,
        ):
            events.append(
                ExogenousEventTriggered(
                    turn=turn,
                    name=ev.name,
                    description=ev.description or ev.name,
                    kind=ev.type,
                    source_index=index,
                    effects=dict(ev.effects or {}),
                )
            )
        if st.fork_turn is not None and turn == st.fork_turn + 1:
            for text in st.pending_injections:
                events.append(
                    ExogenousEventTriggered(
                        turn=turn, name="Injected event", description=text, kind="injected"
                    )
                )
        self.append(events)

    def _context(self, actor_id: str, turn: int) -> DecisionContext:
        st = self.state
        actor = self.scenario.actors[actor_id]
        own = st.actors.get(actor_id)
        recent = [
            PastDecision(turn=d.turn, action=d.action, reasoning=d.reasoning)
            for d in (own.recent if own else ())
            if d.turn < turn
        ]
        seen = [
            SeenMessage(
                turn=m.turn,
                sender=m.sender,
                recipients=tuple(m.recipients),
                channel=m.channel,
                kind=m.kind,
                content=m.content,
            )
            for m in visible_messages(st, actor_id)
        ]
        actions: list[tuple[str, str]] = []
        if self.scenario.variables and actor.actions:
            actions = [(a.name, a.description or a.narrative or a.name) for a in actor.actions]
        return DecisionContext(
            turn=turn,
            total_turns=st.settings.turns,
            simulated_date=simulated_date(self.scenario, turn),
            world_state=st.world.narrative,
            own_recent=recent,
            older_digest=[f"turn {t}: {text}" for t, text in st.world.digest],
            messages=seen,
            exogenous=[(e.name, e.description) for e in st.exogenous.this_turn if e.turn == turn],
            variables=dict(st.world.variables),
            actions=actions,
            json_mode=st.settings.json_mode,
        )

    async def _communication(self, turn: int) -> None:
        """Talks, coalition proposals and statements, then replies and answers."""
        ch = talks.channels(self.scenario)
        if not ch.any:
            return
        actors = list(self.scenario.actors)
        waiting: list[str] = []
        done = self.state.turn_progress.call_ids
        planners = [
            a for a in actors if self.control(a) == "ai" and talks.plan_id(turn, a) not in done
        ]
        await self._in_order(planners, lambda a: self._talk_plan(a, turn, ch, actors))
        answers: list[tuple[Any, str]] = []
        for msg in [m for m in self.state.messages.recent if m.turn == turn]:
            if msg.channel == "bilateral" and msg.kind == "talk":
                answers.append((msg, msg.recipients[0]))
            elif msg.kind == "proposal":
                answers += [(msg, invitee) for invitee in msg.recipients]

        def answer(item: tuple[Any, str]) -> Any:
            msg, who = item
            if msg.kind == "proposal":
                return self._coalition_answer(msg, who, turn, waiting)
            return self._talk_reply(msg, turn, waiting)

        await self._in_order(answers, answer)
        if waiting:
            raise _Halt(
                "human_input",
                f"waiting for {', '.join(sorted(set(waiting)))} to answer in turn {turn}",
                sorted(set(waiting)),
            )

    async def _talk_call(
        self, actor_id: str, turn: int, request_id: str, messages: list[dict[str, str]], schema: Any
    ) -> Any:
        request = self._request(
            self.model_for(actor_id),
            messages,
            schema,
            schema.__name__.lower(),
            purpose="communication",
            turn=turn,
            seed_key=request_id,
            max_tokens=700,
        )
        try:
            return await self.caller().call(
                request, turn=turn, actor=actor_id, request_id=request_id
            )
        except BudgetExceeded as e:
            raise _Halt(
                "budget" if "batch" in e.message else "credit_limit", e.one_line()
            ) from None
        except LLMUnavailable:
            return None  # this actor stays silent this turn; decisions still go ahead

    async def _talk_plan(
        self, actor_id: str, turn: int, ch: talks.Channels, actors: list[str]
    ) -> None:
        actor = self.scenario.actors[actor_id]
        mine = coalitions_of(self.state, actor_id)
        others = [a for a in actors if a != actor_id]
        task = talks.plan_instructions(ch, actor_id, others, list(mine))
        messages = decision_messages(self.scenario, actor, self._context(actor_id, turn), task=task)
        rid = talks.plan_id(turn, actor_id)
        result = await self._talk_call(actor_id, turn, rid, messages, talks.TalkPlan)
        if result is None:
            return
        events: list[Event] = []
        try:
            plan, _method = parse_structured(result.response.text, talks.TalkPlan)
            events = talks.plan_events(
                plan, turn=turn, actor_id=actor_id, actors=actors, ch=ch, my_coalitions=mine
            )
        except ParseError:
            pass  # an unreadable plan means the actor says nothing this turn; the cost stays recorded
        self.append([*events, result.cost], result.blobs)

    def _answered(self, message_id: str, sender: str) -> bool:
        return any(
            m.in_reply_to == message_id and m.sender == sender for m in self.state.messages.recent
        )

    async def _human_answer(
        self, actor_id: str, turn: int, kind: str, about: str, waiting: list[str]
    ) -> None:
        key = f"{actor_id}:{about}"
        if key not in self.state.turn_progress.human_requested:
            self.append(
                [
                    HumanInputRequested(
                        turn=turn,
                        actor=actor_id,
                        request_id=f"h{turn}-{actor_id}-{kind}-{about}",
                        kind=kind,
                        about=about,
                    )
                ]
            )
        waiting.append(actor_id)

    async def _talk_reply(self, talk: Any, turn: int, waiting: list[str]) -> None:
        replier = talk.recipients[0]
        if self._answered(talk.message_id, replier):
            return
        control = self.control(replier)
        if control == "human":
            await self._human_answer(replier, turn, "reply", talk.message_id, waiting)
            return
        rid = talks.reply_id(turn, talk.message_id)
        if control != "ai" or rid in self.state.turn_progress.call_ids:
            return  # rule and scripted actors do not negotiate
        actor = self.scenario.actors[replier]
        sender = self.scenario.actors[talk.sender].name
        task = (
            f'{sender} wrote to you privately: "{talk.content}". Reply to {sender}. Answer with one '
            "JSON object: reply (string)."
        )
        messages = decision_messages(self.scenario, actor, self._context(replier, turn), task=task)
        result = await self._talk_call(replier, turn, rid, messages, talks.Reply)
        if result is None:
            return
        events: list[Event] = []
        try:
            parsed, _m = parse_structured(result.response.text, talks.Reply)
            if parsed.reply.strip():
                events.append(talks.reply_event(turn, talk, replier, parsed.reply))
        except ParseError:
            pass  # no readable reply: the talk stays unanswered
        self.append([*events, result.cost], result.blobs)

    async def _coalition_answer(
        self, proposal: Any, invitee: str, turn: int, waiting: list[str]
    ) -> None:
        if self._answered(proposal.message_id, invitee):
            return
        control = self.control(invitee)
        if control == "human":
            await self._human_answer(invitee, turn, "coalition", proposal.message_id, waiting)
            return
        if control != "ai":
            self.append(
                [
                    talks.answer_event(
                        turn,
                        proposal,
                        invitee,
                        False,
                        "declines: rule-driven and scripted actors do not join coalitions",
                    )
                ]
            )
            return
        rid = talks.answer_id(turn, proposal.message_id, invitee)
        if rid in self.state.turn_progress.call_ids:
            return
        actor = self.scenario.actors[invitee]
        proposer = self.scenario.actors[proposal.sender].name
        members = ", ".join(self.scenario.actors[m].name for m in proposal.recipients)
        task = (
            f'{proposer} proposes a coalition with {members} for this purpose: "{proposal.content}". '
            "Do you join? Answer with one JSON object: accept (boolean), reason (string)."
        )
        messages = decision_messages(self.scenario, actor, self._context(invitee, turn), task=task)
        result = await self._talk_call(invitee, turn, rid, messages, talks.CoalitionAnswer)
        if result is None:
            return
        try:
            parsed, _m = parse_structured(result.response.text, talks.CoalitionAnswer)
            answer = talks.answer_event(turn, proposal, invitee, parsed.accept, parsed.reason)
        except ParseError as e:
            answer = talks.answer_event(turn, proposal, invitee, False, f"no readable answer ({e})")
        self.append([answer, result.cost], result.blobs)

    async def _decisions(self, turn: int) -> None:
        st = self.state
        progress = st.turn_progress
        waiting: list[str] = []
        todo: list[str] = []
        for actor_id in self.scenario.actors:
            if actor_id in progress.decided or actor_id in progress.failed:
                continue
            todo.append(actor_id)
        unanswered: dict[str, str] = {}  # actor -> why no model answered
        await self._in_order(todo, lambda a: self._decide(a, turn, waiting, unanswered))
        if unanswered:
            # The turn cannot go on without these decisions, nor pretend they were made:
            # the run halts, and a resume asks again (the fold keeps no such failure).
            who = ", ".join(a for a in todo if a in unanswered)
            first = next(iter(unanswered.values()))
            raise _Halt("llm_unavailable", f"no model answered for {who} in turn {turn}: {first}")
        if waiting:
            raise _Halt(
                "human_input", f"waiting for {', '.join(waiting)} to decide turn {turn}", waiting
            )

    async def _decide(
        self, actor_id: str, turn: int, waiting: list[str], unanswered: dict[str, str]
    ) -> None:
        st = self.state
        actor = self.scenario.actors[actor_id]
        progress = st.turn_progress
        request_id = progress.requested.get(actor_id) or f"d{turn}-{actor_id}"
        forced = (
            st.pending_forced.get(actor_id)
            if st.fork_turn is not None and turn == st.fork_turn + 1
            else None
        )
        control = self.control(actor_id)
        if forced is not None:
            ruled = bool(self.scenario.variables)
            self.append([brains.forced(actor, turn, request_id, forced, rules=ruled)])
            return
        if control == "scripted":
            self.append([brains.scripted(actor, turn, request_id)])
            return
        if control == "rules":
            choice = rules.choose(actor, self.scenario.variables, st.seed, turn, st)
            self.append(
                [
                    brains.DecisionMade(
                        turn=turn,
                        actor=actor_id,
                        request_id=request_id,
                        long_term_goals=tuple(actor.goals or ()),
                        reasoning=choice.reasoning,
                        action=choice.action,
                        action_name=choice.action_name,
                        brain="rules",
                        parse_method="rules",
                    )
                ]
            )
            return
        ctx = self._context(actor_id, turn)
        messages = decision_messages(self.scenario, actor, ctx)
        if control == "human":
            await self._human(actor_id, turn, ctx, messages, waiting)
            return
        model = self.model_for(actor_id)
        action_names = [a.name for a in actor.actions] if ctx.actions else []
        request = brains.decision_request(
            model,
            messages,
            temperature=st.settings.temperature,
            seed=llm_seed(st.seed, turn, f"decision:{actor_id}"),
            json_mode=st.settings.json_mode,
            action_names=action_names,
        )
        if actor_id not in progress.requested:
            prompt_blob = _messages_blob(request)
            self.append(
                [
                    DecisionRequested(
                        turn=turn,
                        actor=actor_id,
                        request_id=request_id,
                        model=model,
                        prompt_hash=blob_hash(prompt_blob),
                        temperature=request.temperature,
                        seed=request.seed,
                        json_mode=st.settings.json_mode,
                        brain="ai",
                    )
                ],
                blobs={blob_hash(prompt_blob): prompt_blob},
            )
        try:
            outcome = await brains.ai_decision(
                self.caller(),
                request,
                actor=actor_id,
                turn=turn,
                request_id=request_id,
                action_names=action_names,
            )
        except BudgetExceeded as e:
            raise _Halt(
                "budget" if "batch" in e.message else "credit_limit", e.one_line()
            ) from None
        if outcome.events:
            self.append(outcome.events, outcome.blobs)
        for event in outcome.events:
            if isinstance(event, DecisionFailed) and event.error_kind == "llm_unavailable":
                unanswered[actor_id] = event.error

    async def _human(
        self,
        actor_id: str,
        turn: int,
        ctx: DecisionContext,
        messages: list[dict[str, str]],
        waiting: list[str],
    ) -> None:
        progress = self.state.turn_progress
        request_id = progress.human_requested.get(actor_id)
        if request_id is None:
            blob = _plain_blob(messages)
            request_id = f"h{turn}-{actor_id}"
            self.append(
                [
                    HumanInputRequested(
                        turn=turn,
                        actor=actor_id,
                        request_id=request_id,
                        prompt_hash=blob_hash(blob),
                    )
                ],
                blobs={blob_hash(blob): blob},
            )
        if self.human_prompt is not None:
            answer = await anyio.to_thread.run_sync(self.human_prompt, actor_id, ctx, messages)
            if answer is not None:
                self.append(
                    [
                        HumanDecisionSubmitted(
                            turn=turn,
                            actor=actor_id,
                            request_id=request_id,
                            long_term_goals=tuple(answer.get("goals", ())),
                            reasoning=answer.get("reasoning", ""),
                            action=answer["action"],
                            action_name=answer.get("action_name"),
                            submitted_by=answer.get("submitted_by", ""),
                            submitted_via="interactive",
                        )
                    ]
                )
                return
        waiting.append(actor_id)

    def _turn_decisions(self, turn: int) -> list[tuple[str, str]]:
        out = []
        for actor_id, actor in self.scenario.actors.items():
            d = self.state.turn_progress.decisions.get(actor_id)
            if d is not None:
                out.append((actor.name, d.action))
        return out

    async def _world_update(self, turn: int) -> None:
        st = self.state
        if st.turn_progress.world_updated:
            return
        exo = [e for e in st.exogenous.this_turn if e.turn == turn]
        if self.scenario.variables:
            acts = []
            for actor_id, actor in self.scenario.actors.items():
                d = st.turn_progress.decisions.get(actor_id)
                if d is None:
                    continue
                effects: dict[str, float] = {}
                if d.action_name:
                    for a in actor.actions:
                        if a.name == d.action_name:
                            effects = dict(a.effects)
                acts.append((actor.name, effects, d.action))
            result = rules.adjudicate(
                self.scenario.variables,
                st.world.variables,
                acts,
                [(e.name, e.effects) for e in exo],
                st.seed,
                turn,
            )
            narrative = result.narrative
            model = self.world_model()
            events: list[Event] = []
            blobs: dict[str, bytes] = {}
            call = None
            if model is not None:
                outcome = await self._llm_world(turn, model, narrative_hint=narrative)
                if outcome is not None:
                    parsed, call_result = outcome
                    narrative = parsed.narrative
                    events.append(call_result.cost)
                    blobs.update(call_result.blobs)
                    call = call_result.call
            events.insert(
                0,
                WorldUpdated(
                    turn=turn,
                    narrative=narrative,
                    key_changes=result.key_changes,
                    consequences=result.consequences,
                    variables=result.variables,
                    source="rules",
                    call=call,
                ),
            )
            events += [
                MetricRecorded(turn=turn, name=name, value=value, method="rules")
                for name, value in result.variables.items()
            ]
            self.append(events, blobs)
            return
        model = self.world_model()
        if model is None:
            raise LLMUnavailable(
                f"scenario {self.scenario.name} has no world_state_model and no rule variables",
                hint="set world_state_model in scenario.yaml or pass --world-model",
            )
        outcome = await self._llm_world(turn, model, narrative_hint=None)
        if outcome is None:
            raise _Halt("llm_unavailable", f"the world update of turn {turn} could not be made")
        parsed, call_result = outcome
        self.append(
            [
                WorldUpdated(
                    turn=turn,
                    narrative=parsed.narrative,
                    key_changes=tuple(parsed.key_changes),
                    consequences=tuple(parsed.consequences),
                    source="llm",
                    call=call_result.call,
                ),
                call_result.cost,
            ],
            call_result.blobs,
        )

    async def _llm_world(self, turn: int, model: str, narrative_hint: str | None) -> Any:
        st = self.state
        exo = [(e.name, e.description) for e in st.exogenous.this_turn if e.turn == turn]
        decisions = self._turn_decisions(turn)
        if narrative_hint:
            exo = [*exo, ("Quantified outcome", narrative_hint)]
        messages = world_update_messages(
            self.scenario,
            turn=turn,
            total_turns=st.settings.turns,
            simulated_date=simulated_date(self.scenario, turn),
            previous=st.world.narrative,
            decisions=decisions,
            exogenous=exo,
            public_messages=[
                m.content for m in st.messages.recent if m.turn == turn and m.channel == "public"
            ],
        )
        request = self._request(
            model,
            messages,
            WorldOut,
            "world_update",
            purpose="world_update",
            turn=turn,
            seed_key="world",
            max_tokens=1500,
        )
        try:
            result = await self.caller().call(request, turn=turn, actor=None, request_id=f"w{turn}")
        except BudgetExceeded as e:
            raise _Halt("credit_limit", e.one_line()) from None
        except LLMUnavailable as e:
            raise _Halt("llm_unavailable", e.one_line()) from None
        try:
            parsed, method = parse_structured(result.response.text, WorldOut)
        except ParseError:
            # an unstructured answer is still a narrative: keep it whole rather than lose it
            parsed, method = (
                WorldOut(narrative=result.response.text.strip(), key_changes=[], consequences=[]),
                "text",
            )
        import msgspec

        result.call = msgspec.structs.replace(result.call, parse_method=method)
        return parsed, result

    async def _metrics(self, turn: int) -> None:
        st = self.state
        done = st.turn_progress.metrics
        world = st.world.narrative
        decisions = self._turn_decisions(turn)
        all_text = world + "\n" + "\n".join(a for _w, a in decisions)
        local: list[Event] = []
        remote: list[tuple[Any, str | None, str]] = []
        for metric in self.scenario.metrics:
            targets: list[str | None] = (
                list(self.scenario.actors) if metric.actor_specific else [None]
            )
            for actor_id in targets:
                if (metric.name, actor_id) in done:
                    continue
                if actor_id is not None:
                    d = st.turn_progress.decisions.get(actor_id)
                    text = (d.action + "\n" + d.reasoning) if d else ""
                else:
                    text = all_text
                if metric.extraction.type in ("keyword", "pattern"):
                    local.append(local_metric(metric, text, turn=turn, actor=actor_id))
                else:
                    remote.append((metric, actor_id, text))
        if local:
            self.append(local)
        if not remote:
            return

        async def one(metric: Any, actor_id: str | None) -> None:
            model = (
                metric.extraction.model
                or self.world_model()
                or self.model_for(next(iter(self.scenario.actors)))
            )
            messages = metric_messages(
                metric,
                prompt=metric.extraction.prompt or metric.description or metric.name,
                turn=turn,
                world=world,
                decisions=decisions,
                actor=actor_id,
            )
            request = self._request(
                model,
                messages,
                MetricOut,
                "metric",
                purpose="metric",
                turn=turn,
                seed_key=f"metric:{metric.name}:{actor_id}",
                max_tokens=300,
                temperature=0.0,
            )
            try:
                result = await self.caller().call(
                    request,
                    turn=turn,
                    actor=actor_id,
                    request_id=f"m{turn}-{metric.name}-{actor_id or ''}",
                )
            except BudgetExceeded as e:
                raise _Halt("credit_limit", e.one_line()) from None
            except LLMUnavailable as e:
                self.append(
                    [
                        MetricRecorded(
                            turn=turn,
                            name=metric.name,
                            actor=actor_id,
                            method="llm",
                            error=e.one_line(),
                        )
                    ]
                )
                return
            value: float | None = None
            error = None
            try:
                parsed, _method = parse_structured(result.response.text, MetricOut)
                value = clamp(metric, float(parsed.value))
            except (ParseError, TypeError, ValueError) as e:
                error = f"unparsable metric answer: {e}"
            self.append(
                [
                    MetricRecorded(
                        turn=turn,
                        name=metric.name,
                        value=value,
                        actor=actor_id,
                        method="llm",
                        error=error,
                        call=result.call,
                    ),
                    result.cost,
                ],
                result.blobs,
            )

        await self._in_order(remote, lambda item: one(item[0], item[1]))

    async def _validation(self, turn: int) -> None:
        cfg = self.scenario.validation
        if cfg is None or not cfg.run_after_each_turn:
            return
        st = self.state
        done = st.turn_progress.validations
        checks = [(n, c) for n, c in cfg.checks.items() if c.enabled and n not in done]
        if not checks:
            # all checks were recorded before a halt or crash: the halt was already decided
            return
        model = (
            cfg.validation_model
            or self.world_model()
            or self.model_for(next(iter(self.scenario.actors)))
        )
        decisions = self._turn_decisions(turn)

        async def one(name: str, check: Any) -> None:
            messages = validation_messages(
                name, check, turn=turn, world=st.world.narrative, decisions=decisions
            )
            request = self._request(
                model,
                messages,
                ValidationOut,
                "validation",
                purpose="validation",
                turn=turn,
                seed_key=f"validation:{name}",
                max_tokens=500,
                temperature=0.0,
            )
            try:
                result = await self.caller().call(
                    request, turn=turn, actor=None, request_id=f"v{turn}-{name}"
                )
            except BudgetExceeded as e:
                raise _Halt("credit_limit", e.one_line()) from None
            except LLMUnavailable as e:
                self.append(
                    [
                        ValidationRecorded(
                            turn=turn,
                            check=name,
                            passed=False,
                            severity="low",
                            issues=("check could not run",),
                            explanation=e.one_line(),
                        )
                    ]
                )
                return
            try:
                parsed, _m = parse_structured(result.response.text, ValidationOut)
                event = ValidationRecorded(
                    turn=turn,
                    check=name,
                    passed=parsed.passed,
                    severity=parsed.severity,
                    issues=tuple(parsed.issues),
                    explanation=parsed.explanation,
                    call=result.call,
                )
            except ParseError as e:
                event = ValidationRecorded(
                    turn=turn,
                    check=name,
                    passed=False,
                    severity="low",
                    issues=("unparsable check answer",),
                    explanation=str(e),
                    call=result.call,
                )
            self.append([event, result.cost], result.blobs)

        await self._in_order(checks, lambda item: one(item[0], item[1]))
        self._check_halt(turn)

    def _check_halt(self, turn: int) -> None:
        cfg = self.scenario.validation
        if cfg is None:
            return
        st = self.state
        failed_now = [v for v in st.validation.latest if v.turn == turn and not v.passed]
        if cfg.halt_on_critical and any(v.severity == "high" for v in failed_now):
            names = ", ".join(v.check for v in failed_now if v.severity == "high")
            raise _Halt("validation", f"critical validation failed in turn {turn}: {names}")
        limit = cfg.max_issues_before_halt
        if limit is not None and st.validation.failed_since_resume >= limit:
            raise _Halt(
                "max_issues",
                f"{st.validation.failed_since_resume} validation issues (limit {limit})",
            )


def _schema(model: Any) -> dict[str, Any]:
    from engine.llm import json_schema_for

    return json_schema_for(model)


def _messages_blob(request: ChatRequest) -> bytes:
    from engine.play.calls import request_blob

    return request_blob(request)


def _plain_blob(messages: list[dict[str, str]]) -> bytes:
    import json

    return json.dumps({"messages": messages}, ensure_ascii=False, sort_keys=True).encode()
