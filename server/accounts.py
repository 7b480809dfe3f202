"""Server accounts: users, API keys, sessions and seat tokens, in their own tables.

They live in the log's database file but outside the hash-chained events: an account is
not part of any run's history, and removing a user must really remove it. The tables are
SQLAlchemy Core (portable SQL only, so a PostgreSQL backend can share them) and are
created on first use with a schema version.

Secrets are never stored: passwords as argon2id hashes, API keys, session ids and seat
tokens (all high-entropy random strings) as SHA-256 digests, looked up by a short public
id or by the digest itself and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from scenario_lab.app import LabSettings, StoreError, UsageError, log_location, prepare_log

ACCOUNTS_SCHEMA_VERSION = 1
ROLES = ("admin", "facilitator", "analyst")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
RATE = re.compile(r"^\s*(\d+)\s*/\s*min(ute)?\s*$")

_md = sa.MetaData()
_meta = sa.Table(
    "accounts_schema",
    _md,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
_users = sa.Table(
    "accounts_users",
    _md,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)
_keys = sa.Table(
    "accounts_api_keys",
    _md,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("key_id", sa.Text, nullable=False, unique=True),
    sa.Column("key_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("rate_per_min", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text, nullable=True),
)
_sessions = sa.Table(
    "accounts_sessions",
    _md,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("user_name", sa.Text, nullable=False, index=True),
    sa.Column("csrf_token", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text, nullable=True),
)
_seats = sa.Table(
    "accounts_seat_tokens",
    _md,
    sa.Column("token_id", sa.Text, primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False, index=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text, nullable=True),
)
# Answers already given per Idempotency-Key: a retried request (after a lost response, or
# a server restart) gets the response of the first instead of doing it twice. Scoped by
# who asked; ``route`` and ``run_id`` tell a key reused for another request apart.
_replays = sa.Table(
    "accounts_idempotency",
    _md,
    sa.Column("principal", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False, index=True),
)
REPLAY_TTL = timedelta(days=7)  # a key is remembered this long

# argon2-cffi's defaults are the RFC 9106 "low memory" profile: ~50 ms a hash here
_hasher = PasswordHasher()
# verified against when the user does not exist, so a wrong name costs as long as a
# wrong password and login time does not tell which names exist
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: str


@dataclass(frozen=True)
class ApiKey:
    name: str
    key_id: str
    role: str
    rate_per_min: int | None
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: str


@dataclass(frozen=True)
class SeatToken:
    token_id: str
    run_id: str
    actor: str
    created_by: str
    created_at: str
    revoked_at: str | None


def check_name(kind: str, name: str) -> str:
    """A user or key name: letters, digits and ``.-_@``, up to 64 characters."""
    if not NAME.match(name):
        raise UsageError(
            f"{kind} name {name!r} is not allowed",
            hint="use letters, digits, '.', '-', '_' or '@', starting with a letter or digit",
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}", hint=f"choose one of: {', '.join(ROLES)}")
    return role


def parse_rate(text: str | None) -> int | None:
    """``"N/min"`` -> N requests per minute (None: no limit)."""
    if text is None:
        return None
    m = RATE.match(text)
    if m is None or int(m.group(1)) < 1:
        raise UsageError(f"rate limit {text!r} is not N/min", hint="e.g. --rate-limit 60/min")
    return int(m.group(1))


class Accounts:
    """The account tables of one database file."""

    def __init__(self, engine: sa.Engine):
        self._engine = engine

    @classmethod
    def open(cls, db: Path | str) -> Accounts:
        """Open (creating when missing) the account tables in the log ``db`` (a file, or a
        ``postgresql://`` URL: then in the log's database, through psycopg)."""
        db = log_location(db)
        # the log is opened first: it creates a new file, and refuses a file that is
        # not a scenario-lab log, with the same one-line errors as every command
        prepare_log(LabSettings(db=db))
        if isinstance(db, str):  # log_location keeps only a postgresql:// URL a str
            engine = sa.create_engine("postgresql+psycopg://" + db.split("://", 1)[1])
        else:
            engine = sa.create_engine(
                f"sqlite:///{db}", connect_args={"timeout": 30.0, "check_same_thread": False}
            )
        with engine.begin() as conn:
            _md.create_all(conn)
            version = conn.execute(sa.select(_meta.c.version)).scalar()
            if version is None:
                conn.execute(_meta.insert().values(id=1, version=ACCOUNTS_SCHEMA_VERSION))
            elif version > ACCOUNTS_SCHEMA_VERSION:
                engine.dispose()
                raise StoreError(
                    f"the accounts in {db} were written by a newer scenario-lab "
                    f"(accounts schema {version})",
                    hint="upgrade scenario-lab",
                )
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- users -------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str) -> User:
        check_name("user", name)
        check_role(role)
        if len(password) < 8:
            raise UsageError(
                "the password is shorter than 8 characters", hint="choose a longer one"
            )
        created = _iso(_now())
        with self._engine.begin() as conn:
            if conn.execute(sa.select(_users.c.name).where(_users.c.name == name)).first():
                raise UsageError(
                    f"a user {name!r} already exists", hint="remove it first or choose another name"
                )
            conn.execute(
                _users.insert().values(
                    name=name, role=role, password_hash=_hasher.hash(password), created_at=created
                )
            )
        return User(name, role, created)

    def users(self) -> list[User]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(_users).order_by(_users.c.name)).mappings()
            return [User(r["name"], r["role"], r["created_at"]) for r in rows]

    def user(self, name: str) -> User | None:
        with self._engine.connect() as conn:
            r = conn.execute(sa.select(_users).where(_users.c.name == name)).mappings().first()
        return User(r["name"], r["role"], r["created_at"]) if r else None

    def remove_user(self, name: str) -> None:
        """Remove a user and revoke every session it has."""
        with self._engine.begin() as conn:
            gone = conn.execute(_users.delete().where(_users.c.name == name)).rowcount
            if not gone:
                raise UsageError(
                    f"no user {name!r}", hint="list them with `scenario-lab users list`"
                )
            conn.execute(
                _sessions.update()
                .where(_sessions.c.user_name == name, _sessions.c.revoked_at.is_(None))
                .values(revoked_at=_iso(_now()))
            )

    def authenticate(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, or None."""
        with self._engine.connect() as conn:
            r = conn.execute(sa.select(_users).where(_users.c.name == name)).mappings().first()
        try:
            _hasher.verify(r["password_hash"] if r else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(r["name"], r["role"], r["created_at"]) if r else None

    # -- API keys ----------------------------------------------------------------------

    def create_key(
        self, name: str, role: str, rate_per_min: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; returns it with its secret, which is never shown again."""
        check_name("key", name)
        check_role(role)
        key_id = secrets.token_hex(6)
        secret = f"sl_{key_id}_{secrets.token_urlsafe(32)}"
        created = _iso(_now())
        with self._engine.begin() as conn:
            if conn.execute(sa.select(_keys.c.name).where(_keys.c.name == name)).first():
                raise UsageError(f"a key {name!r} already exists", hint="choose another name")
            conn.execute(
                _keys.insert().values(
                    name=name,
                    key_id=key_id,
                    key_hash=_digest(secret),
                    role=role,
                    rate_per_min=rate_per_min,
                    created_at=created,
                )
            )
        return ApiKey(name, key_id, role, rate_per_min, created, None), secret

    def keys(self) -> list[ApiKey]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(_keys).order_by(_keys.c.name)).mappings()
            return [_api_key(r) for r in rows]

    def revoke_key(self, name: str) -> None:
        with self._engine.begin() as conn:
            done = conn.execute(
                _keys.update()
                .where(_keys.c.name == name, _keys.c.revoked_at.is_(None))
                .values(revoked_at=_iso(_now()))
            ).rowcount
        if not done:
            raise UsageError(
                f"no active key {name!r}", hint="list them with `scenario-lab keys list`"
            )

    def check_key(self, secret: str) -> ApiKey | None:
        """The active key ``secret`` is, or None."""
        parts = secret.split("_")
        if len(parts) < 3 or parts[0] != "sl":
            return None
        with self._engine.connect() as conn:
            r = conn.execute(sa.select(_keys).where(_keys.c.key_id == parts[1])).mappings().first()
        if r is None or not hmac.compare_digest(r["key_hash"], _digest(secret)):
            return None
        return None if r["revoked_at"] else _api_key(r)

    # -- sessions ----------------------------------------------------------------------

    def create_session(self, user: User, ttl: timedelta) -> tuple[str, Session]:
        """A new server-side session of ``user``: (its secret id for the cookie, session)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = _now()
        expires = _iso(now + ttl)
        with self._engine.begin() as conn:
            conn.execute(
                _sessions.insert().values(
                    id_hash=_digest(session_id),
                    user_name=user.name,
                    csrf_token=csrf,
                    created_at=_iso(now),
                    expires_at=expires,
                )
            )
        return session_id, Session(user, csrf, expires)

    def session(self, session_id: str) -> Session | None:
        """The live session with this id (not expired, not revoked, its user still there)."""
        with self._engine.connect() as conn:
            r = (
                conn.execute(
                    sa.select(_sessions, _users.c.role, _users.c.created_at.label("user_created"))
                    .join(_users, _users.c.name == _sessions.c.user_name)
                    .where(_sessions.c.id_hash == _digest(session_id))
                )
                .mappings()
                .first()
            )
        if r is None or r["revoked_at"] is not None or r["expires_at"] <= _iso(_now()):
            return None
        user = User(r["user_name"], r["role"], r["user_created"])
        return Session(user, r["csrf_token"], r["expires_at"])

    def revoke_session(self, session_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                _sessions.update()
                .where(_sessions.c.id_hash == _digest(session_id))
                .values(revoked_at=_iso(_now()))
            )

    # -- seat tokens -------------------------------------------------------------------

    def create_seat_token(self, run_id: str, actor: str, created_by: str) -> tuple[SeatToken, str]:
        """A join link's token for ``actor`` of ``run_id``; the secret is shown once."""
        token_id = secrets.token_hex(6)
        secret = f"st_{token_id}_{secrets.token_urlsafe(32)}"
        created = _iso(_now())
        with self._engine.begin() as conn:
            conn.execute(
                _seats.insert().values(
                    token_id=token_id,
                    token_hash=_digest(secret),
                    run_id=run_id,
                    actor=actor,
                    created_by=created_by,
                    created_at=created,
                )
            )
        return SeatToken(token_id, run_id, actor, created_by, created, None), secret

    def check_seat_token(self, secret: str) -> SeatToken | None:
        parts = secret.split("_")
        if len(parts) < 3 or parts[0] != "st":
            return None
        with self._engine.connect() as conn:
            r = (
                conn.execute(sa.select(_seats).where(_seats.c.token_id == parts[1]))
                .mappings()
                .first()
            )
        if r is None or not hmac.compare_digest(r["token_hash"], _digest(secret)):
            return None
        return None if r["revoked_at"] else _seat(r)

    def seat_tokens(self, run_id: str | None = None) -> list[SeatToken]:
        q = sa.select(_seats).order_by(_seats.c.created_at)
        if run_id is not None:
            q = q.where(_seats.c.run_id == run_id)
        with self._engine.connect() as conn:
            return [_seat(r) for r in conn.execute(q).mappings()]

    def revoke_seat_token(self, token_id: str) -> None:
        with self._engine.begin() as conn:
            done = conn.execute(
                _seats.update()
                .where(_seats.c.token_id == token_id, _seats.c.revoked_at.is_(None))
                .values(revoked_at=_iso(_now()))
            ).rowcount
        if not done:
            raise UsageError(f"no active seat token {token_id!r}")

    # -- idempotency keys --------------------------------------------------------------

    def replay(self, principal: str, key: str) -> Replay | None:
        """The response recorded for ``principal``'s ``key``, if any (and not expired)."""
        cutoff = _iso(_now() - REPLAY_TTL)
        with self._engine.connect() as conn:
            r = (
                conn.execute(
                    sa.select(_replays).where(
                        _replays.c.principal == principal,
                        _replays.c.key == key,
                        _replays.c.created_at >= cutoff,
                    )
                )
                .mappings()
                .first()
            )
        if r is None:
            return None
        return Replay(r["route"], r["run_id"], r["status"], r["response"])

    def record_replay(self, principal: str, key: str, replay: Replay) -> Replay:
        """Remember ``replay`` as the response to ``principal``'s ``key``; returns what
        is remembered (the first one, when a concurrent request recorded it first).
        Expired keys are forgotten on the way."""
        now = _now()
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    _replays.delete().where(_replays.c.created_at < _iso(now - REPLAY_TTL))
                )
                conn.execute(
                    _replays.insert().values(
                        principal=principal,
                        key=key,
                        route=replay.route,
                        run_id=replay.run_id,
                        status=replay.status,
                        response=replay.response,
                        created_at=_iso(now),
                    )
                )
        except sa.exc.IntegrityError:
            first = self.replay(principal, key)
            if first is None:  # expired between the two statements: keep ours
                raise
            return first
        return replay

    # -- the server's mode -------------------------------------------------------------

    def has_principals(self) -> bool:
        """Whether any user or active API key exists (else the server runs open)."""
        with self._engine.connect() as conn:
            if conn.execute(sa.select(_users.c.name).limit(1)).first():
                return True
            active = sa.select(_keys.c.name).where(_keys.c.revoked_at.is_(None)).limit(1)
            return conn.execute(active).first() is not None


@dataclass(frozen=True)
class Replay:
    """A response remembered under an Idempotency-Key: the request it answered (route,
    run) and what was sent (status, JSON body)."""

    route: str
    run_id: str
    status: int
    response: str


def _api_key(r: Any) -> ApiKey:
    return ApiKey(
        r["name"], r["key_id"], r["role"], r["rate_per_min"], r["created_at"], r["revoked_at"]
    )


def _seat(r: Any) -> SeatToken:
    return SeatToken(
        r["token_id"], r["run_id"], r["actor"], r["created_by"], r["created_at"], r["revoked_at"]
    )
