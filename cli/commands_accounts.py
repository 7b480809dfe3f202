"""Server accounts: ``users add|list|remove`` and ``keys create|list|revoke``.

Accounts live in the log's database file, in tables of their own (not in any run's
history). A key is printed once, when it is created; only its hash is kept.
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from cli.common import (
    DEFAULT_DB,
    DbOption,
    OutOption,
    emit_json,
    fail,
    handle_errors,
    status,
    stdout_to,
)

users_app = typer.Typer(help="Server users (name, role, password).", no_args_is_help=True)
keys_app = typer.Typer(help="Server API keys (name, role, rate limit).", no_args_is_help=True)

RoleOption = Annotated[
    str, typer.Option("--role", help="admin, facilitator or analyst.", show_default=False)
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail("no password on stdin", 2)
        return password
    if not sys.stdin.isatty():
        raise fail("no terminal to ask the password on: pass it with --password-stdin", 2)
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise fail("the two passwords differ", 2)
    return first


@users_app.command("add")
@handle_errors
def users_add(
    name: Annotated[str, typer.Argument(help="The user's sign-in name.")],
    role: RoleOption,
    db: DbOption = DEFAULT_DB,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
) -> None:
    """Add a user who signs in to `scenario-lab serve` with a password."""
    from server.accounts import Accounts, check_name, check_role

    check_name("user", name)
    check_role(role)
    password = _password(password_stdin)
    with Accounts.open(db) as accounts:
        accounts.add_user(name, role, password)
    status(f"added user {name} ({role})")


@users_app.command("list")
@handle_errors
def users_list(
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    out: OutOption = None,
) -> None:
    """List users and their roles."""
    from server.accounts import Accounts

    with Accounts.open(db) as accounts:
        users = accounts.users()
    if not users and not as_json:
        status("no users: add one with `scenario-lab users add NAME --role admin`")
    with stdout_to(out):
        if as_json:
            rows = [{"name": u.name, "role": u.role, "created_at": u.created_at} for u in users]
            emit_json(rows)
            return
        for u in users:
            typer.echo(f"{u.name:<24} {u.role:<12} {u.created_at}")


@users_app.command("remove")
@handle_errors
def users_remove(
    name: Annotated[str, typer.Argument(help="The user to remove.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Remove a user; its sessions are revoked at once."""
    from server.accounts import Accounts

    with Accounts.open(db) as accounts:
        accounts.remove_user(name)
    status(f"removed user {name} and revoked its sessions")


@keys_app.command("create")
@handle_errors
def keys_create(
    name: Annotated[str, typer.Argument(help="A name to revoke the key by.")],
    role: RoleOption,
    db: DbOption = DEFAULT_DB,
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="At most N requests a minute: N/min.")
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from server.accounts import Accounts, check_name, check_role, parse_rate

    check_name("key", name)
    check_role(role)
    per_min = parse_rate(rate_limit)
    with Accounts.open(db) as accounts:
        _key, secret = accounts.create_key(name, role, per_min)
    typer.echo(secret)
    status(
        f"created key {name} ({role}); it is shown only now: send it as `Authorization: Bearer KEY`"
    )


@keys_app.command("list")
@handle_errors
def keys_list(
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    out: OutOption = None,
) -> None:
    """List API keys (never their secrets)."""
    from server.accounts import Accounts

    with Accounts.open(db) as accounts:
        keys = accounts.keys()
    if not keys and not as_json:
        status("no keys: create one with `scenario-lab keys create NAME --role analyst`")
    with stdout_to(out):
        if as_json:
            emit_json(
                [
                    {
                        "name": k.name,
                        "role": k.role,
                        "rate_per_min": k.rate_per_min,
                        "created_at": k.created_at,
                        "revoked_at": k.revoked_at,
                    }
                    for k in keys
                ]
            )
            return
        for k in keys:
            rate = f"{k.rate_per_min}/min" if k.rate_per_min else "-"
            state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
            typer.echo(f"{k.name:<24} {k.role:<12} {rate:<10} {state}")


@keys_app.command("revoke")
@handle_errors
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The key to revoke.")],
    db: DbOption = DEFAULT_DB,
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    from server.accounts import Accounts

    with Accounts.open(db) as accounts:
        accounts.revoke_key(name)
    status(f"revoked key {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="keys")
