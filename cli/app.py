"""The ``scenario-lab`` command: a thin Typer app over the library.

Each ``commands_*`` module registers its commands; they import the library lazily so
that ``scenario-lab --help`` stays fast. The root callback takes the options every
command shares: where log lines go and how they look, and tracing from the environment.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli import (
    commands_accounts,
    commands_analytics,
    commands_batch,
    commands_human,
    commands_interview,
    commands_log,
    commands_run,
    commands_scenario,
    commands_serve,
)
from cli.errors import fail
from cli.root import VersionOpt, before_exit, epilog, only_the_invoked_command, prepare_process

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
    epilog=epilog(),
)


@app.callback()
def root(
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            envvar="SCENARIO_LAB_LOG_LEVEL",
            help="Log lines at this level and above: debug, info, warning, error.",
        ),
    ] = "warning",
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            envvar="SCENARIO_LAB_LOG_FORMAT",
            help="text (key=value) or json (one object a line).",
        ),
    ] = "text",
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            envvar="SCENARIO_LAB_LOG_FILE",
            help="Append log lines to this file instead of stderr.",
        ),
    ] = None,
    version: VersionOpt = False,  # eager: prints the version and exits (cli/root.py)
) -> None:
    # Log lines go to stderr (or the file), never stdout: data output stays clean.
    # Spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT is set (the otel extra).
    import os

    # scenario_lab.observe, not scenario_lab.app: this runs before every command's
    # --help too, and the application API would load the engine for it
    from scenario_lab.observe import (
        LogSettings,
        LogSetupError,
        configure_logging,
        configure_tracing,
        secrets_from_env,
    )

    settings = LogSettings(log_level, log_format, log_file, secrets_from_env(os.environ))
    try:
        configure_logging(settings)
    except LogSetupError as e:
        env = f"SCENARIO_LAB_LOG_{e.setting.upper()}"
        raise fail(f"{e} (--log-{e.setting} or {env})", 2) from None
    configure_tracing(os.environ)


for module in (
    commands_run,
    commands_log,
    commands_interview,
    commands_human,
    commands_analytics,
    commands_batch,
    commands_serve,
    commands_accounts,
):
    module.register(app)
commands_scenario.register(app)


def main() -> None:
    prepare_process()
    only_the_invoked_command(app, sys.argv[1:])
    try:
        app()
    finally:
        before_exit()
