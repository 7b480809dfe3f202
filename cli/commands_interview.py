"""``interview``: ask a model-driven actor a question with its memory at a turn."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands_run import BaseUrlOpt, PricesOpt
from cli.common import (
    DEFAULT_DB,
    DbOption,
    JsonOption,
    OutOption,
    command,
    emit_json,
    handle_errors,
    make_lab,
    status,
    stdout_to,
)


def interview(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="What to ask the actor.")],
    actor: Annotated[str, typer.Option("--actor", help="The actor to ask (its short name).")],
    at_turn: Annotated[
        int,
        typer.Option("--at-turn", min=0, help="Its memory at the end of this turn (as fork's)."),
    ],
    db: DbOption = DEFAULT_DB,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Record the branch asked on, with the call, in the log."),
    ] = False,
    as_json: JsonOption = False,
    out: OutOption = None,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
) -> None:
    """Ask an actor a question, with exactly its memory at the end of a turn.

    The actor sees the prompt the engine would build for its next decision, the question
    in place of the decision task, on a branch of the run forked at that turn. Without
    --keep the branch is thrown away and nothing is written (the answer and its cost are
    printed); with --keep the branch is recorded with the call (prompt, raw answer, cost)
    and halts, so `resume` can play it on. Rule-, script- and human-driven actors have no
    model to ask and are refused.
    """
    import anyio

    from scenario_lab.app import InterviewRequest

    lab = make_lab(db, prices=prices, plays=True, llm_base_url=llm_base_url)
    request = InterviewRequest(
        run=run_ref, actor=actor, at_turn=at_turn, question=question, keep=keep
    )
    answer = anyio.run(lab.interview, request)
    with stdout_to(out):
        if as_json:
            emit_json(answer)
        else:
            typer.echo(answer.answer)
    if as_json:
        return
    usd = "cost unknown" if answer.cost_usd is None else f"${answer.cost_usd:.4f}"
    cost = f"{answer.model}, {answer.input_tokens}+{answer.output_tokens} tokens, {usd}"
    if answer.branch_run_id is not None:
        log = command(f"log {answer.branch_run_id}", db)
        status(f"kept on branch {answer.branch_run_id} ({cost}): `{log}`")
    else:
        status(f"asked {answer.actor} of {answer.run_id} after turn {answer.at_turn} ({cost})")
    if answer.finish_reason == "length":
        status("warning: the answer was cut off at the token limit")


def register(app: typer.Typer) -> None:
    app.command("interview")(handle_errors(interview))
