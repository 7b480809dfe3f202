"""Asking a human for a decision at the terminal (``run --interactive``, ``decide``)."""

from __future__ import annotations

from typing import Any

import typer


def render_prompt(messages: list[dict[str, str]]) -> str:
    """The exact prompt content an AI actor would get, for a human to read."""
    return "\n\n".join(m["content"] for m in messages)


def ask_human(actor: str, ctx: Any, messages: list[dict[str, str]]) -> dict[str, Any] | None:
    """Show the situation and read a decision; an empty action, or input that ends
    (Ctrl-D, a pipe run dry), defers: the run halts waiting for this seat, to be
    answered with ``decide`` or ``resume --interactive``."""
    try:
        return _ask(actor, ctx, messages)
    except (typer.Abort, EOFError):
        typer.echo("", err=True)  # the prompt's line was left open
        return None


def _ask(actor: str, ctx: Any, messages: list[dict[str, str]]) -> dict[str, Any] | None:
    typer.echo(render_prompt(messages), err=True)
    typer.echo(
        f"\n--- {actor}: your decision for turn {ctx.turn} (empty action to defer) ---", err=True
    )
    # (name, description) of the actions the actor declares, when the world has rules
    declared = {name: text or name for name, text in getattr(ctx, "actions", ()) or ()}
    action_name = ask_action_name(declared, err=True) if declared else None
    action = typer.prompt(
        "Action",
        default=declared.get(action_name or "", ""),
        show_default=bool(action_name),
        err=True,
    ).strip()
    if not action:
        return None
    reasoning = typer.prompt("Reasoning", default="", show_default=False, err=True).strip()
    goals = typer.prompt("Goals (separate with ;)", default="", show_default=False, err=True)
    return {
        "action": action,
        "action_name": action_name,
        "reasoning": reasoning,
        "goals": [g.strip() for g in goals.split(";") if g.strip()],
    }


def ask_action_name(declared: dict[str, str], *, err: bool) -> str:
    """Ask for one of the declared actions (name -> description) until one is given."""
    for name, description in declared.items():
        typer.echo(f"  {name}: {description}", err=err)
    while True:
        name = str(typer.prompt(f"Action name ({', '.join(declared)})", err=err)).strip()
        if name in declared:
            return name
        typer.echo(f"{name!r} is not one of the actions above", err=err)
