"""The communication phase of a turn: talk plans, then replies and coalition answers.

Two rounds of calls: every AI actor plans at once (whom to talk to, a coalition to
propose, a public statement); then every addressee of a private talk replies and every
invitee answers, at once. Each call is known by its request id (``talks.plan_id`` and
the like), recorded with its cost, so a resume asks only what is not recorded. Every
message carries the call it came from (its request and raw answer); an answer that
could not be used is a ``CallFailed``, and that actor says nothing there. A human
addressee is asked through ``HumanInputRequested`` and the run halts until they answer.
Rule and scripted actors do not negotiate: they start no talk, leave talks unanswered
and decline invitations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec
from pydantic import BaseModel

from engine.fold.state import coalitions_of
from engine.play import talks
from engine.play.answers import with_method
from engine.play.phase import Answer, Halt, Play, ask_structured, decision_context
from engine.play.prompts import cache_prefix_chars, coalition_task, decision_messages, reply_task
from eventstore import Event, HumanInputRequested

M = TypeVar("M", bound=BaseModel)


class Talks:
    """One turn's communication, from where the log left it."""

    def __init__(self, p: Play, turn: int):
        self.p = p
        self.turn = turn
        self.ch = talks.channels(p.scenario)
        self.actors = list(p.scenario.actors)
        self.waiting: list[str] = []  # human actors the turn waits for

    async def play(self) -> None:
        """Plans, then answers; halts for human input if a human must answer."""
        if not self.ch.any:
            return
        p, turn = self.p, self.turn
        done = p.state.turn_progress.call_ids
        planners = [
            a for a in self.actors if p.control(a) == "ai" and talks.plan_id(turn, a) not in done
        ]
        await p.in_order(planners, self._plan)
        answers: list[tuple[Any, str]] = []
        for msg in [m for m in p.state.messages.recent if m.turn == turn]:
            if msg.channel == "bilateral" and msg.kind == "talk":
                answers.append((msg, msg.recipients[0]))
            elif msg.kind == "proposal":
                answers += [(msg, invitee) for invitee in msg.recipients]
        await p.in_order(answers, self._answer)
        if self.waiting:
            who = sorted(set(self.waiting))
            raise Halt("human_input", f"waiting for {', '.join(who)} to answer in turn {turn}", who)

    async def _call(
        self, actor_id: str, request_id: str, messages: list[dict[str, str]], schema: type[M]
    ) -> Answer[M]:
        """The actor's answer, or the failure recorded in its place: the actor stays
        silent (decisions still go ahead) and a resume does not ask again."""
        model = self.p.model_for(actor_id)
        scenario = self.p.scenario
        return await ask_structured(
            self.p,
            schema,
            model,
            messages,
            purpose="communication",
            schema_name=schema.__name__.lower(),
            turn=self.turn,
            actor=actor_id,
            request_id=request_id,
            max_tokens=700,
            cache_prefix_chars=cache_prefix_chars(
                scenario, scenario.actors[actor_id], model, self.p.state.settings
            ),
        )

    @staticmethod
    def _said(answer: Answer[Any], messages: Sequence[Event]) -> list[Event]:
        """The messages an answer sent, each linked to the call that produced it, so the
        audit shows the raw answer behind every message."""
        call = with_method(answer.call, answer.method) if answer.call is not None else None
        return [msgspec.structs.replace(m, call=call) for m in messages]

    def _messages(self, actor_id: str, task: str) -> list[dict[str, str]]:
        """The actor's decision prompt with ``task`` in place of the decision's."""
        scenario = self.p.scenario
        ctx = decision_context(self.p.state, scenario, actor_id, self.turn)
        return decision_messages(scenario, scenario.actors[actor_id], ctx, task=task)

    async def _plan(self, actor_id: str) -> None:
        mine = coalitions_of(self.p.state, actor_id)
        others = [a for a in self.actors if a != actor_id]
        task = talks.plan_instructions(self.ch, actor_id, others, list(mine))
        rid = talks.plan_id(self.turn, actor_id)
        answer = await self._call(actor_id, rid, self._messages(actor_id, task), talks.TalkPlan)
        if answer.parsed is None:
            answer.record_failure(self.p)
            return
        sent = talks.plan_events(
            answer.parsed,
            turn=self.turn,
            actor_id=actor_id,
            actors=self.actors,
            ch=self.ch,
            my_coalitions=mine,
        )
        answer.record(self.p, self._said(answer, sent))

    async def _answer(self, item: tuple[Any, str]) -> None:
        msg, who = item
        if msg.kind == "proposal":
            await self._coalition_answer(msg, who)
        else:
            await self._reply(msg)

    def _owed(self, actor_id: str, message: Any, kind: str) -> str | None:
        """How the actor is controlled, if it still owes an answer to ``message`` that
        the engine gives; None if it answered, or if it is a human (asked here)."""
        p = self.p
        if any(
            m.in_reply_to == message.message_id and m.sender == actor_id
            for m in p.state.messages.recent
        ):
            return None
        control = p.control(actor_id)
        if control == "human":
            self._ask_human(actor_id, kind, message.message_id)
            return None
        return control

    def _ask_human(self, actor_id: str, kind: str, about: str) -> None:
        """Ask a human to answer (once per message), and wait for them."""
        key = f"{actor_id}:{about}"
        if key not in self.p.state.turn_progress.human_requested:
            self.p.append(
                [
                    HumanInputRequested(
                        turn=self.turn,
                        actor=actor_id,
                        request_id=f"h{self.turn}-{actor_id}-{kind}-{about}",
                        kind=kind,
                        about=about,
                    )
                ]
            )
        self.waiting.append(actor_id)

    async def _reply(self, talk: Any) -> None:
        p, turn = self.p, self.turn
        replier = talk.recipients[0]
        control = self._owed(replier, talk, "reply")
        rid = talks.reply_id(turn, talk.message_id)
        if control != "ai" or rid in p.state.turn_progress.call_ids:
            return  # answered, asked of a human, or a rule or scripted actor: they do not talk
        task = reply_task(p.scenario.actors[talk.sender].name, talk.content)
        answer = await self._call(replier, rid, self._messages(replier, task), talks.Reply)
        if answer.parsed is None:
            answer.record_failure(p)
            return
        sent: list[Event] = []
        # a blank reply says nothing: the talk stays unanswered
        if answer.parsed.reply.strip():
            sent.append(talks.reply_event(turn, talk, replier, answer.parsed.reply))
        answer.record(p, self._said(answer, sent))

    async def _coalition_answer(self, proposal: Any, invitee: str) -> None:
        p, turn = self.p, self.turn
        control = self._owed(invitee, proposal, "coalition")
        if control is None:
            return
        if control != "ai":
            reason = "declines: rule-driven and scripted actors do not join coalitions"
            p.append([talks.answer_event(turn, proposal, invitee, False, reason)])
            return
        rid = talks.answer_id(turn, proposal.message_id, invitee)
        if rid in p.state.turn_progress.call_ids:
            return
        actors = p.scenario.actors
        task = coalition_task(
            actors[proposal.sender].name,
            ", ".join(actors[m].name for m in proposal.recipients),
            proposal.content,
        )
        messages = self._messages(invitee, task)
        answer = await self._call(invitee, rid, messages, talks.CoalitionAnswer)
        if answer.parsed is None:
            answer.record_failure(p)  # the invitee neither joins nor declines, and it shows
            return
        reply = talks.answer_event(
            turn, proposal, invitee, answer.parsed.accept, answer.parsed.reason
        )
        answer.record(p, self._said(answer, [reply]))
