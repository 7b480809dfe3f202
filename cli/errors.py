"""How the CLI reports the library's errors: one line on stderr, and an exit code.

The library names request fields (``turns``, ``models``...); ``FLAGS`` is the one table
that turns them into this CLI's options when a message is printed. ``EXIT_CODES`` is the
one list of exit codes; README and ``--help`` print it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

EXIT_OK = 0
EXIT_FAILED = 1  # an error, or a run that failed
EXIT_USAGE = 2  # a mistake in the command: nothing was done
EXIT_HALTED = 3  # a run or batch stopped before its end and goes on with resume
EXIT_INTERRUPTED = 130  # Ctrl-C: what was recorded stays, resume goes on

# (code, meaning) as README and --help state them
EXIT_CODES = (
    (EXIT_OK, "done (a run or batch completed)"),
    (EXIT_FAILED, "error, or the run failed"),
    (EXIT_USAGE, "usage mistake; nothing was done"),
    (EXIT_HALTED, "halted, resumable (credit limit, budget, human seat, endpoint down...)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C); resumable"),
)

# request field -> what a user of this CLI types for it
FLAGS = {
    "accept": "--accept",
    "action": "--action",
    "action_name": "--action-name",
    "actor": "--actor",
    "address": "--address",
    "anchor": "--anchor",
    "anchor_out": "--anchor-out",
    "ais": "--ai",
    "at_turn": "--at-turn",
    "batches": "--batch",
    "budget": "--budget",
    "concurrency": "--concurrency",
    "count": "--count",
    "credit_limit": "--credit-limit",
    "decisions": "--decision",
    "executor": "--executor",
    "format": "--format",
    "humans": "--human",
    "inject": "--inject",
    "interactive": "--interactive",
    "llm_base_url": "--llm-base-url",
    "memory_limit": "--memory-limit SIZE (or SCENARIO_LAB_SQL_MEMORY), e.g. 8GB",
    "models": "--model",
    "name": "--name",
    "paired": "--paired",
    "parallel": "--parallel",
    "play": "--play",
    "price": "--price",
    "prices": "--prices",
    "question": "QUESTION",
    "reasoning": "--reasoning",
    "reject": "--reject",
    "reply": "--reply",
    "schema": "--schema",
    "seed": "--seed",
    "statement": "query",
    "tags": "--tag",
    "timeout_s": "--timeout SECONDS (or SCENARIO_LAB_SQL_TIMEOUT; 0: no limit)",
    "turn": "--turn",
    "turns": "--turns",
    "type": "--type",
    "world_model": "--world-model",
}


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def exit_code(e: Any) -> int:
    """2 for a usage mistake (``UsageError``), 3 when the run waits for a human seat's
    answer (it is halted, not broken), 1 for any other failure."""
    from scenario_lab.app import HumanInputPending, UsageError

    if isinstance(e, HumanInputPending):
        return EXIT_HALTED
    return EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILED


def error_line(e: Any, db: Path | None) -> str:
    """The one line the CLI prints for library error ``e``."""
    from scenario_lab.app import HumanInputPending

    if isinstance(e, HumanInputPending) and e.seats:
        from cli.common import command, decide_args

        first = command(decide_args(e.run_id or "", e.seats[0]), db)
        hint = f"submit with `{first}`, or resume with --interactive to answer here"
        return f"{e.message_for(FLAGS)} ({hint})"
    return str(e.one_line(FLAGS))
