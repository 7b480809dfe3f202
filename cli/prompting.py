"""Asking a human for a decision at the terminal (``run --interactive``, ``decide``)."""

from __future__ import annotations

from typing import Any

import typer


def render_prompt(messages: list[dict[str, str]]) -> str:
    """The exact prompt content an AI actor would get, for a human to read."""
    return "\n\n".join(m["content"] for m in messages)


def ask_human(actor: str, ctx: Any, messages: list[dict[str, str]]) -> dict[str, Any] | None:
    """Show the situation and read a decision; an empty action defers (the run halts)."""
    typer.echo(render_prompt(messages), err=True)
    typer.echo(
        f"\n--- {actor}: your decision for turn {ctx.turn} (empty action to defer) ---", err=True
    )
    action = typer.prompt("Action", default="", show_default=False, err=True).strip()
    if not action:
        return None
    reasoning = typer.prompt("Reasoning", default="", show_default=False, err=True).strip()
    goals = typer.prompt("Goals (separate with ;)", default="", show_default=False, err=True)
    return {
        "action": action,
        "reasoning": reasoning,
        "goals": [g.strip() for g in goals.split(";") if g.strip()],
    }
