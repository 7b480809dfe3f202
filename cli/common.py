"""What every command shares: the log's path, error mapping, and output streams.

Library errors become one line on stderr and an exit code (2 for usage mistakes, 1 for
failures); data goes to stdout and status to stderr so commands compose in pipes.
Heavy libraries are imported inside commands, never here, to keep start-up fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

DEFAULT_DB = "scenario-lab.db"

DbOption = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar="SCENARIO_LAB_DB",
        help="The log file (SQLite).",
        show_default=True,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Turn library errors into one line and an exit code; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from eventstore import ScenarioLabError

        try:
            return fn(*args, **kwargs)
        except ScenarioLabError as e:
            raise fail(e.one_line(), e.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except BrokenPipeError:
            # the reader of a pipe went away (e.g. `| head`): not an error of ours
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def open_store(db: Path, *, create: bool = False) -> Any:
    """Open the log; a missing file is an error unless the command creates runs."""
    from eventstore import EventStore

    return EventStore.open(db, create=create)


def command(args: str, db: Path) -> str:
    """``scenario-lab ARGS`` as a user should type it next: with ``--db`` when the log is
    not the default one, so a suggested command works as printed."""
    import shlex

    where = "" if db == Path(DEFAULT_DB) else f" --db {shlex.quote(str(db))}"
    return f"scenario-lab {args}{where}"


def finite_usd(value: float | None) -> float | None:
    """Typer callback of an amount of USD: NaN or infinity would disable the limit."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not an amount of USD")
    return value


def status(message: str) -> None:
    typer.echo(message, err=True)


def emit_json(data: Any) -> None:
    from eventstore import canonical_json  # the same bytes in every process

    typer.echo(canonical_json(data))
