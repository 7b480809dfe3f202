"""Human seats and the audit trail: ``decide`` and ``audit``."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    DEFAULT_DB,
    DbOption,
    command,
    emit_json,
    fail,
    handle_errors,
    open_store,
    status,
)


def decide(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    actor: Annotated[str, typer.Option("--actor", help="The human actor answering.")],
    db: DbOption = Path(DEFAULT_DB),
    action: Annotated[
        str | None, typer.Option("--action", help="What the actor does this turn.")
    ] = None,
    action_name: Annotated[
        str | None,
        typer.Option(
            "--action-name",
            help="One of the actor's declared actions (rule-driven worlds): its effects apply.",
        ),
    ] = None,
    reasoning: Annotated[str, typer.Option("--reasoning", help="Why.")] = "",
    goal: Annotated[
        list[str] | None, typer.Option("--goal", help="A long-term goal (repeatable).")
    ] = None,
    reply: Annotated[str | None, typer.Option("--reply", help="Reply to a private talk.")] = None,
    accept: Annotated[
        bool | None, typer.Option("--accept/--reject", help="Answer a coalition invitation.")
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Only print what the actor is shown.")
    ] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who submits (default: the OS user).")
    ] = None,
) -> None:
    """Answer for a human actor: the situation shown is the prompt an AI actor would get."""
    from cli.prompting import ask_action_name, render_prompt
    from engine.play.human import declared_actions, find_message, pending_inputs, submit
    from engine.replay import replay

    with open_store(db) as store:
        run_id = store.resolve(run_ref)
        pending = [p for p in pending_inputs(store, run_id) if p.actor == actor]
        unanswered = action is None and action_name is None and reply is None and accept is None
        if pending and (show or unanswered):
            typer.echo(
                render_prompt(pending[0].prompt) if pending[0].prompt else "(no prompt recorded)"
            )
            if pending[0].kind != "decision":
                # what is to be answered: the talk or invitation itself, not only its id
                m = find_message(replay(store, run_id), pending[0].about)
                what = "reply to a talk" if pending[0].kind == "reply" else "coalition answer"
                typer.echo(
                    f"\n{actor} is asked for a {what} from {m.sender} "
                    f"({m.channel}, turn {m.turn}, message {m.message_id}):\n{m.content}"
                    + ("\nanswer with --reply TEXT" if pending[0].kind == "reply" else "")
                    + (
                        "\nanswer with --accept or --reject"
                        if pending[0].kind == "coalition"
                        else ""
                    )
                )
        if show:
            if not pending:
                raise fail(f"run {run_id} is not waiting for input from {actor!r}", 1)
            return
        if pending and unanswered:
            if not sys.stdin.isatty():
                raise fail(
                    f"give the answer with --action / --action-name (or --reply / --accept / --reject) "
                    f"for {actor}",
                    2,
                )
            kind = pending[0].kind
            if kind == "decision":
                declared = declared_actions(replay(store, run_id), actor)
                if declared:
                    action_name = ask_action_name(declared, err=False)
                action = typer.prompt("Action", default=declared.get(action_name or "", "")).strip()
                reasoning = typer.prompt("Reasoning", default="", show_default=False)
            elif kind == "reply":
                reply = typer.prompt("Reply").strip()
            else:
                accept = typer.confirm("Join the coalition?")
                reasoning = typer.prompt("Reason", default="", show_default=False)
        event = submit(
            store,
            run_id,
            actor,
            action=action,
            action_name=action_name,
            reasoning=reasoning,
            goals=tuple(goal or ()),
            reply=reply,
            accept=accept,
            submitted_by=by or getpass.getuser(),
            via="cli",
        )
    status(
        f"recorded {actor}'s {event.kind} for turn {event.turn}; "
        f"continue with: {command(f'resume {run_id}', db)}"
    )


def audit(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    db: DbOption = Path(DEFAULT_DB),
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor.")] = None,
    turn: Annotated[int | None, typer.Option("--turn", help="Only this turn.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per entry, one per line.")
    ] = False,
) -> None:
    """Every decision and talk, and every answer not used: prompts, raw answers, attempts, cost."""
    from cli.commands_log import check_actor, check_turn
    from engine.audit.trail import audit as build
    from engine.audit.trail import audit_markdown

    with open_store(db) as store:
        run_id = store.resolve(run_ref)
        check_actor(store, run_id, actor)
        check_turn(store, run_id, turn)
        entries = build(store, run_id, actor=actor, turn=turn)
    if as_json:
        for entry in entries:
            emit_json(entry)
        return
    if not entries:
        status("no decisions match")
        return
    typer.echo(audit_markdown(entries))


def register(app: typer.Typer) -> None:
    app.command("decide")(handle_errors(decide))
    app.command("audit")(handle_errors(audit))
