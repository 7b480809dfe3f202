"""What the communication phase asks models for and records: private talks, coalition
proposals and public statements (the phase itself is ``phase_talks``).

Three kinds of call per turn, each resumable from the log: (1) every AI actor says whom it
wants to talk to, what coalition it proposes and what it states publicly; (2) each
addressee of a private talk replies; (3) each invitee of a coalition accepts or rejects.
Each model call's ``CostIncurred`` carries a request id made of the round, the turn and
the actor (or message), so after a crash the rounds already recorded are not asked again.
Human actors reply and answer invitations through ``scenario-lab decide``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.play.prompts import plan_instructions as plan_instructions  # its home is prompts
from eventstore import Event, MessageSent


class OutgoingMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    to: str
    content: str


class TalkPlan(BaseModel):
    """What an actor wants to say this turn (the schema sent to the model)."""

    model_config = ConfigDict(extra="ignore")
    messages: list[OutgoingMessage]
    coalition_members: list[str]
    coalition_purpose: str
    public_statement: str


class Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reply: str


class CoalitionAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    accept: bool
    reason: str


def plan_id(turn: int, actor: str) -> str:
    return f"talk:{turn}:{actor}"


def reply_id(turn: int, message_id: str) -> str:
    return f"reply:{turn}:{message_id}"


def answer_id(turn: int, message_id: str, actor: str) -> str:
    return f"coalition:{turn}:{message_id}:{actor}"


@dataclass(frozen=True)
class Channels:
    bilateral: bool
    coalition: bool
    public: bool
    cap: int

    @property
    def any(self) -> bool:
        """Whether the communication phase runs at all (a cap of 0 closes every channel)."""
        return self.cap > 0 and (self.bilateral or self.coalition or self.public)


def channels(scenario: Any) -> Channels:
    cap = scenario.max_communications_per_turn
    return Channels(
        bilateral=bool(scenario.enable_bilateral_communication),
        coalition=bool(scenario.enable_coalition_formation),
        public=bool(scenario.enable_public_statements),
        cap=2 if cap is None else max(0, int(cap)),  # 0 means no messages, not the default
    )


def plan_events(
    plan: TalkPlan,
    *,
    turn: int,
    actor_id: str,
    actors: list[str],
    ch: Channels,
    my_coalitions: dict[str, tuple[str, ...]],
) -> list[Event]:
    """The messages a plan sends, filtered by the channels enabled and the per-turn cap."""
    out: list[Event] = []
    budget = ch.cap
    n = 0

    def next_id() -> str:
        nonlocal n
        n += 1
        return f"m{turn}-{actor_id}-{n}"

    for msg in plan.messages:
        if budget <= 0:
            break
        text = msg.content.strip()
        if not text:
            continue
        if msg.to in my_coalitions and ch.coalition:
            members = tuple(m for m in my_coalitions[msg.to] if m != actor_id)
            if not members:
                continue  # a coalition of one: nobody to tell
            out.append(
                MessageSent(
                    turn=turn,
                    message_id=next_id(),
                    sender=actor_id,
                    recipients=members,
                    channel="coalition",
                    visibility="group",
                    kind="talk",
                    content=text,
                    thread_id=msg.to,
                )
            )
            budget -= 1
        elif ch.bilateral and msg.to in actors and msg.to != actor_id:
            mid = next_id()
            out.append(
                MessageSent(
                    turn=turn,
                    message_id=mid,
                    sender=actor_id,
                    recipients=(msg.to,),
                    channel="bilateral",
                    visibility="private",
                    kind="talk",
                    content=text,
                    thread_id=mid,
                )
            )
            budget -= 1
    members = tuple(
        dict.fromkeys(m for m in plan.coalition_members if m in actors and m != actor_id)
    )
    if ch.coalition and budget > 0 and len(members) >= 2 and plan.coalition_purpose.strip():
        mid = next_id()
        out.append(
            MessageSent(
                turn=turn,
                message_id=mid,
                sender=actor_id,
                recipients=members,
                channel="coalition",
                visibility="group",
                kind="proposal",
                content=plan.coalition_purpose.strip(),
                thread_id=mid,
            )
        )
        budget -= 1
    if ch.public and budget > 0 and plan.public_statement.strip():
        out.append(
            MessageSent(
                turn=turn,
                message_id=next_id(),
                sender=actor_id,
                recipients=tuple(a for a in actors if a != actor_id),
                channel="public",
                visibility="public",
                kind="statement",
                content=plan.public_statement.strip(),
            )
        )
    return out


def reply_event(turn: int, talk: Any, replier: str, text: str) -> MessageSent:
    return MessageSent(
        turn=turn,
        message_id=f"{talk.message_id}-r",
        sender=replier,
        recipients=(talk.sender,),
        channel="bilateral",
        visibility="private",
        kind="reply",
        content=text.strip(),
        thread_id=talk.thread_id or talk.message_id,
        in_reply_to=talk.message_id,
    )


def answer_event(turn: int, proposal: Any, actor: str, accept: bool, reason: str) -> MessageSent:
    group = tuple(m for m in (proposal.sender, *proposal.recipients) if m != actor)
    return MessageSent(
        turn=turn,
        message_id=f"{proposal.message_id}-{actor}",
        sender=actor,
        recipients=group,
        channel="coalition",
        visibility="group",
        kind="accept" if accept else "reject",
        content=reason.strip(),
        thread_id=proposal.thread_id or proposal.message_id,
        in_reply_to=proposal.message_id,
    )
