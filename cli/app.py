"""The ``scenario-lab`` command: a thin Typer app over the library.

Each ``commands_*`` module registers its commands; they import the library lazily so
that ``scenario-lab --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from cli import (
    commands_analytics,
    commands_batch,
    commands_human,
    commands_interview,
    commands_log,
    commands_run,
    commands_scenario,
    root,
)

app = typer.Typer(
    name="scenario-lab",
    help=(
        "Event-sourced multi-actor scenario exercises: run scenarios with LLM, human and "
        "rule-driven actors, fork them at any turn, audit every decision, query with SQL."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: rich's help renderer alone costs ~130 ms of start-up
    rich_markup_mode=None,
    epilog=root.epilog(),
)
# --version (cli/root.py); the options of the root callback go there
app.callback()(root.root)

for module in (
    commands_run,
    commands_log,
    commands_interview,
    commands_human,
    commands_analytics,
    commands_batch,
):
    module.register(app)
commands_scenario.register(app)


def main() -> None:
    root.prepare_process()
    root.only_the_invoked_command(app, sys.argv[1:])
    try:
        app()
    finally:
        root.before_exit()
