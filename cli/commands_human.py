"""Human seats and the audit trail: ``decide`` and ``audit``."""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    DEFAULT_DB,
    DbOption,
    OutOption,
    command,
    emit_json,
    fail,
    handle_errors,
    make_lab,
    status,
    stdout_to,
)

if TYPE_CHECKING:
    from scenario_lab.app import SeatQuestion


def _show(q: SeatQuestion) -> str:
    """What the seat is shown: the prompt an AI actor would get, and for a talk or an
    invitation the message itself and how to answer it."""
    from cli.prompting import render_prompt

    prompt = [{"role": m.role, "content": m.content} for m in q.prompt]
    text = render_prompt(prompt) if prompt else "(no prompt recorded)"
    if q.message is None:
        return text
    m = q.message
    what = "reply to a talk" if q.kind == "reply" else "coalition answer"
    how = "answer with --reply TEXT" if q.kind == "reply" else "answer with --accept or --reject"
    return (
        f"{text}\n\n{q.actor} is asked for a {what} from {m.sender} "
        f"({m.channel}, turn {m.turn}, message {m.message_id}):\n{m.content}\n{how}"
    )


def decide(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    actor: Annotated[str, typer.Option("--actor", help="The human actor answering.")],
    db: DbOption = DEFAULT_DB,
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
    from scenario_lab.app import SeatAnswer

    lab = make_lab(db)
    if show:
        typer.echo(_show(lab.seat_question(run_ref, actor)))
        return
    unanswered = action is None and action_name is None and reply is None and accept is None
    pending = lab.seat_questions(run_ref, actor) if unanswered else ()
    if pending:
        typer.echo(_show(pending[0]))
        if not sys.stdin.isatty():
            raise fail(
                f"give the answer with --action / --action-name (or --reply / --accept / --reject) "
                f"for {actor}",
                2,
            )
        action, action_name, reasoning, reply, accept = _ask(pending[0], reasoning)
    answered = lab.answer_seat(
        run_ref,
        SeatAnswer(
            actor=actor,
            action=action,
            action_name=action_name,
            reasoning=reasoning,
            goals=tuple(goal or ()),
            reply=reply,
            accept=accept,
            submitted_by=by or getpass.getuser(),
            via="cli",
        ),
    )
    status(
        f"recorded {actor}'s {answered.kind} for turn {answered.turn}; "
        f"continue with: {command(f'resume {answered.run_id}', db)}"
    )


def _ask(
    q: SeatQuestion, reasoning: str
) -> tuple[str | None, str | None, str, str | None, bool | None]:
    """Ask at the terminal for what the seat is asked: (action, action_name, reasoning,
    reply, accept)."""
    from cli.prompting import ask_action_name

    if q.kind == "decision":
        declared = {c.name: c.description for c in q.choices}
        name = ask_action_name(declared, err=False) if declared else None
        action = typer.prompt("Action", default=declared.get(name or "", "")).strip()
        reasoning = typer.prompt("Reasoning", default="", show_default=False)
        return action, name, reasoning, None, None
    if q.kind == "reply":
        return None, None, reasoning, typer.prompt("Reply").strip(), None
    accept = typer.confirm("Join the coalition?")
    reasoning = typer.prompt("Reason", default="", show_default=False)
    return None, None, reasoning, None, accept


def audit(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    db: DbOption = DEFAULT_DB,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor.")] = None,
    turn: Annotated[int | None, typer.Option("--turn", help="Only this turn.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per entry, one per line.")
    ] = False,
    out: OutOption = None,
) -> None:
    """Every decision and talk, and every answer not used: prompts, raw answers, attempts, cost."""
    from scenario_lab.app import AuditQuery, audit_markdown

    entries = make_lab(db).audit_trail(AuditQuery(run=run_ref, actor=actor, turn=turn))
    if not entries and not as_json:
        status("no decisions match")
    with stdout_to(out):
        if as_json:
            for entry in entries:
                emit_json(entry)
        elif entries:
            typer.echo(audit_markdown(entries))


def register(app: typer.Typer) -> None:
    app.command("decide")(handle_errors(decide))
    app.command("audit")(handle_errors(audit))
