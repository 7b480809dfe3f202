"""``scenario-lab`` itself, before any command: ``--version`` (an option of the root
callback in ``cli/app.py``), the help's epilogue listing the exit codes, and what the
process does at its start and end to start and exit fast."""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated

import typer

from cli.errors import EXIT_CODES

DEFAULT_GC_THRESHOLD = gc.get_threshold()


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


def epilog() -> str:
    """The exit codes, as ``--help`` ends with them (``\\b``: click keeps the lines)."""
    lines = "\n".join(f"{code:>3}  {meaning}" for code, meaning in EXIT_CODES)
    return f"Exit codes:\n\n\b\n{lines}"


def only_the_invoked_command(app: typer.Typer, argv: list[str]) -> None:
    """Keep only the command ``argv`` invokes: Typer reads the signature and builds the
    parameters of every registered command on each start (~30 ms for 20 commands),
    though one runs. Anything else (``--help``, ``--version``, a mistyped name) keeps
    them all, so help lists every command and a typo gets its suggestions."""
    name = argv[0] if argv else None
    commands = [c for c in app.registered_commands if c.name == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if commands or groups:
        app.registered_commands = commands
        app.registered_groups = groups


def prepare_process() -> None:
    """Cut what a command's process imports that it never uses (measured with
    ``python -X importtime``; ``benchmarks/bench_engine.py`` has the figures):

    - ``httpx`` imports its own command line (``httpx._main``) whenever click, rich and
      pygments are installed, as they are beside Typer: ~100 ms of every model-calling
      command. A ``None`` in ``sys.modules`` makes that import fail, which httpx
      expects (it then leaves ``httpx.main`` a stub).
    - pydantic scans every installed distribution's entry points for plugins when the
      first model is built (~30-70 ms); none is wanted here. A user's own setting of
      ``PYDANTIC_DISABLE_PLUGINS`` is kept.
    - the collector runs ~100 times while a command imports its libraries (20-25 ms
      of CPU), finding nothing to free: modules and classes live till exit. It runs
      rarely until ``long_lived_from_here()``.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    gc.set_threshold(100_000, 50, 50)


def long_lived_from_here() -> None:
    """Called once a command has loaded what it needs, before its long work (playing a
    run): what exists now lives till exit, so the collector stops scanning it
    (``gc.freeze``) and collects what comes next at the usual pace."""
    gc.freeze()
    gc.set_threshold(*DEFAULT_GC_THRESHOLD)


def before_exit() -> None:
    """Freeze what is alive, so the interpreter's last collections at exit do not walk
    every module, model and event left (240 ms down to 26 ms after a run)."""
    gc.freeze()
