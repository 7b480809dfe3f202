"""Who may call which route: one rule per route, one function that decides.

Every route declares its rule with :func:`allow` (a FastAPI dependency that also hands
the route its principal), and ``create_app`` refuses to build an app with a route that
declares none. :func:`permits` is the only place a rule is decided, like Datasette's
one permission check: routes never compare roles themselves.

Roles are ordered admin > facilitator > analyst > player. A player is a seat: one actor
of one run, and the rules that name a run decide whether it is the player's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Role = Literal["admin", "facilitator", "analyst", "player"]
_RANK = {"player": 0, "analyst": 1, "facilitator": 2, "admin": 3}


class Rule(StrEnum):
    """What a route requires. The value is what the route table and docs show."""

    PUBLIC = "public"  # no principal at all (health, login)
    SIGNED_IN = "signed-in"  # any principal, a player included (me, logout)
    ANALYST = "analyst"  # read runs, scenarios, reports, sql
    FACILITATOR = "facilitator"  # start, fork, control runs, hand out seats
    ADMIN = "admin"  # accounts
    RUN_VIEWER = "run-viewer"  # analyst, or the player of this run (what it may see)
    SEAT = "seat"  # the player of this run, or a facilitator (any seat)


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a user, an API key, a seat token, or the open server."""

    kind: Literal["user", "key", "seat", "open"]
    name: str  # user or key name, seat token id, or "local" (never a secret)
    role: Role
    run_id: str | None = None  # a seat's run
    actor: str | None = None  # a seat's actor
    rate_per_min: int | None = None
    csrf_token: str | None = None  # set when authenticated by a session cookie

    @property
    def by_cookie(self) -> bool:
        return self.csrf_token is not None

    def at_least(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]


def permits(who: Principal | None, rule: Rule, run_id: str | None = None) -> bool:
    """Whether ``who`` may call a route with ``rule`` (on run ``run_id``, if it names one)."""
    if rule is Rule.PUBLIC:
        return True
    if who is None:
        return False
    if rule is Rule.SIGNED_IN:
        return True
    own_seat = who.role == "player" and run_id is not None and who.run_id == run_id
    if rule is Rule.RUN_VIEWER:
        return who.at_least("analyst") or own_seat
    if rule is Rule.SEAT:
        return who.at_least("facilitator") or own_seat
    required: Role = {
        Rule.ANALYST: "analyst",
        Rule.FACILITATOR: "facilitator",
        Rule.ADMIN: "admin",
    }[rule]  # type: ignore[assignment]
    return who.at_least(required)
