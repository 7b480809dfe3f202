"""Fog of war: what one viewer may see of one event. Pure: no I/O, no clock.

Every front end that shows events to people (the server's JSON routes, its streams, a
seat's page) asks :func:`see` for each event, so a rule lives here once::

    see(STAFF, rec)               -> the payload as recorded
    see(Seat("grid-operator"), rec) -> the payload as that actor may see it, or None

Staff (admin, facilitator, analyst) see every event of the runs they may read. A seat
(one actor of one run, played by a person) sees the public events (turn markers,
exogenous events, world updates, run-wide metrics), the messages it sent or received and
every public one, its own briefing, decisions and human-input requests, and nothing
else: never another actor's private fields, decisions or talks, never a prompt or raw
answer (blob hashes), a cost, a validation or a model's settings.

Redaction works by allow-list: for each visible event type the fields a seat keeps are
named, so a field added to an event later stays hidden until someone decides otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True)
class Staff:
    """A viewer who sees everything of the runs it may read (admin, facilitator, analyst)."""


@dataclass(frozen=True)
class Seat:
    """A player: the person at one actor's seat of one run's timeline."""

    actor: str


Viewer = Staff | Seat
STAFF = Staff()

# The fields of the scenario every seat may read: the exercise's shared setting. Metric
# and validation prompts, the exogenous-event schedule (future injects) and model
# choices are the organisers', not the players'.
_SCENARIO_PUBLIC = (
    "name",
    "description",
    "system_prompt",
    "initial_world_state",
    "turns",
    "turn_duration",
    "start_date",
    "variables",
    "background",
    "enable_bilateral_communication",
    "enable_coalition_formation",
    "enable_public_statements",
    "max_communications_per_turn",
)
# What a seat knows of the other actors: who they are, not what they want or know.
_OTHER_ACTOR_PUBLIC = ("name", "short_name", "role", "description")
# Its own actor file, minus the organisers' settings of how the seat would be played.
_OWN_ACTOR_HIDDEN = ("llm_model", "script", "preferences", "rule_temperature")

# event type -> the payload fields a seat keeps (events it may see at all)
_PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "TurnStarted": ("type", "turn", "simulated_date"),
    "TurnCompleted": ("type", "turn"),
    "ExogenousEventTriggered": ("type", "turn", "name", "description", "kind", "effects"),
    "WorldUpdated": (
        "type",
        "turn",
        "narrative",
        "key_changes",
        "consequences",
        "variables",
        "source",
    ),
    "RunHalted": ("type", "turn", "reason", "waiting_for"),
    "RunResumed": ("type", "turn"),
    "RunCompleted": ("type", "turn", "turns_completed"),
    "RunFailed": ("type", "turn"),
}
_MESSAGE_FIELDS = (
    "type",
    "turn",
    "message_id",
    "sender",
    "recipients",
    "channel",
    "visibility",
    "kind",
    "content",
    "thread_id",
    "in_reply_to",
)
_METRIC_FIELDS = ("type", "turn", "name", "value", "category", "actor")
# event type -> fields a seat keeps of its OWN events of that type
_OWN_FIELDS: dict[str, tuple[str, ...]] = {
    "DecisionRequested": ("type", "turn", "actor", "request_id", "brain"),
    "DecisionMade": (
        "type",
        "turn",
        "actor",
        "request_id",
        "long_term_goals",
        "short_term_priorities",
        "reasoning",
        "action",
        "action_name",
        "brain",
    ),
    "DecisionFailed": ("type", "turn", "actor", "request_id", "error_kind"),
    "HumanInputRequested": ("type", "turn", "actor", "request_id", "kind", "about"),
    "HumanDecisionSubmitted": (
        "type",
        "turn",
        "actor",
        "request_id",
        "kind",
        "long_term_goals",
        "short_term_priorities",
        "reasoning",
        "action",
        "action_name",
        "accept",
        "submitted_via",
    ),
}


def _keep(payload: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: payload[k] for k in fields if k in payload}


def briefing(scenario: dict[str, Any], actor: str) -> dict[str, Any]:
    """The resolved scenario as ``actor``'s seat may read it: the shared setting, its own
    actor file, and only the public face (name, role, description) of the others."""
    out = _keep(scenario, _SCENARIO_PUBLIC)
    actors: dict[str, Any] = {}
    for name, spec in (scenario.get("actors") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        if name == actor:
            actors[name] = {k: v for k, v in spec.items() if k not in _OWN_ACTOR_HIDDEN}
        else:
            actors[name] = _keep(spec, _OTHER_ACTOR_PUBLIC)
    out["actors"] = actors
    return out


def _seat_payload(actor: str, type_: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    if type_ == "ExogenousEventTriggered" and actor not in (payload.get("visible_to") or (actor,)):
        return None  # a live inject only some actors learn of
    if type_ in _PUBLIC_FIELDS:
        return _keep(payload, _PUBLIC_FIELDS[type_])
    if type_ == "RunStarted":
        return {
            "type": type_,
            "turn": payload.get("turn", 0),
            "scenario_name": payload.get("scenario_name"),
            "scenario": briefing(payload.get("scenario") or {}, actor),
        }
    if type_ == "RunForked":
        out = _keep(payload, ("type", "turn", "parent_run_id", "fork_turn", "fork_seq", "turns"))
        forced = (payload.get("forced_decisions") or {}).get(actor)
        if forced is not None:
            out["forced_decisions"] = {actor: forced}
        return out
    if type_ == "MessageSent":
        recipients = payload.get("recipients") or ()
        if (
            payload.get("visibility") == "public"
            or payload.get("sender") == actor
            or actor in recipients
        ):
            return _keep(payload, _MESSAGE_FIELDS)
        return None
    if type_ == "MetricRecorded":
        # run-wide metrics are public; a per-actor one only to that actor
        if payload.get("actor") in (None, actor) and not payload.get("error"):
            return _keep(payload, _METRIC_FIELDS)
        return None
    if type_ in _OWN_FIELDS and payload.get("actor") == actor:
        return _keep(payload, _OWN_FIELDS[type_])
    # ValidationRecorded, CostIncurred, others' decisions and requests, unknown types
    return None


def see_payload(viewer: Viewer, type_: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """``payload`` (an event of type ``type_`` as JSON builtins) as ``viewer`` may see
    it, or None when it may not see the event at all."""
    if isinstance(viewer, Staff):
        return payload
    return _seat_payload(viewer.actor, type_, payload)


def see(viewer: Viewer, rec: Any) -> dict[str, Any] | None:
    """The payload of ``rec`` (a recorded event: ``.type`` and ``.event``) as ``viewer``
    may see it, or None when it may not see it.

    The payload is the event's JSON form (as ``scenario-lab log --json`` prints it),
    with the fields a seat may not read left out.
    """
    return see_payload(viewer, rec.type, msgspec.to_builtins(rec.event))


def may_see(viewer: Viewer, rec: Any) -> bool:
    """Whether ``viewer`` sees anything of ``rec``."""
    return see(viewer, rec) is not None
