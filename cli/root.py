"""Options of ``scenario-lab`` itself, before any command: ``--version``; and the help's
epilogue listing the exit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.errors import EXIT_CODES


def _print_version(value: bool) -> None:
    if not value:
        return
    # the installed distribution's version: the one pyproject.toml declares
    from importlib.metadata import version

    typer.echo(f"scenario-lab {version('scenario-lab')}")
    raise typer.Exit()


VersionOpt = Annotated[
    bool,
    typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
]


def root(version: VersionOpt = False) -> None:
    """Event-sourced multi-actor scenario exercises: run scenarios with LLM, human and
    rule-driven actors, fork them at any turn, audit every decision, query with SQL."""


def epilog() -> str:
    """The exit codes, as ``--help`` ends with them (``\\b``: click keeps the lines)."""
    lines = "\n".join(f"{code:>3}  {meaning}" for code, meaning in EXIT_CODES)
    return f"Exit codes:\n\n\b\n{lines}"
