"""What every command shares: the log's path, the ``Lab`` over it, error mapping, output.

Each command parses its options, makes one call to ``scenario_lab.app.Lab``, and renders
the typed result: data to stdout, status to stderr, so commands compose in pipes.
Library errors become one line on stderr and an exit code (``cli.errors``). Heavy
libraries are imported inside commands, never here, to keep start-up fast.
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from cli.errors import error_line, exit_code, fail

if TYPE_CHECKING:
    from scenario_lab.app import Lab

DEFAULT_DB = "scenario-lab.db"

# a str: a postgresql:// URL is not a path (Path would fold its "//")
DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="SCENARIO_LAB_DB",
        help="The log: an SQLite file, or a postgresql:// URL.",
        show_default=True,
    ),
]

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        "--output",
        help="Write what the command prints to this file instead of stdout.",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="JSON output: the same bytes for the same data in every process."),
]

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DEFAULT_DB", "DbOption", "JsonOption", "OutOption", "fail"]


def handle_errors(fn: F) -> F:
    """Turn library errors into one line and an exit code; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from scenario_lab.app import ScenarioLabError

        try:
            return fn(*args, **kwargs)
        except ScenarioLabError as e:
            raise fail(error_line(e, kwargs.get("db")), exit_code(e)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except BrokenPipeError:
            # the reader of a pipe went away (e.g. `| head`): not an error of ours
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def make_lab(
    db: str | Path,
    *,
    analytics: Path | None = None,
    prices: Path | None = None,
    price_overrides: dict[str, tuple[float, ...]] | None = None,
    concurrency: int = 8,
    plays: bool = False,
    llm_base_url: str | None = None,
) -> Lab:
    """The ``Lab`` over the log at ``db``. For a command that ``plays`` (calls models),
    endpoints and keys come from the environment (``SCENARIO_LAB_LLM_*``,
    ``OPENROUTER_API_KEY``, ``OLLAMA_BASE_URL``, proxies), ``--llm-base-url`` first."""
    import os

    from scenario_lab.app import Lab, LabSettings, log_location

    show_integrity_warnings()
    llm = None
    if plays:
        from scenario_lab.app import LLMSettings

        llm = LLMSettings.from_env(os.environ, base_url=llm_base_url)
    return Lab(
        LabSettings(
            db=log_location(db),
            analytics=analytics,
            llm=llm,
            prices=prices,
            price_overrides=dict(price_overrides or {}),
            concurrency=concurrency,
        )
    )


def show_integrity_warnings() -> None:
    """Print the library's integrity warnings (a run of the log that fails verification,
    read anyway by ``sql``/``project``) on stderr as they come: the library logs them."""
    import logging

    class StderrLines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            typer.echo(record.getMessage(), err=True)

    logger = logging.getLogger("scenario_lab.integrity")
    if not any(type(h).__name__ == "StderrLines" for h in logger.handlers):
        logger.addHandler(StderrLines(logging.WARNING))


def command(args: str, db: str | Path | None) -> str:
    """``scenario-lab ARGS`` as a user should type it next: with ``--db`` when the log is
    not the default one, so a suggested command works as printed."""
    import shlex

    where = "" if db is None or str(db) == DEFAULT_DB else f" --db {shlex.quote(str(db))}"
    return f"scenario-lab {args}{where}"


def decide_args(run_id: str, seat: Any) -> str:
    """The arguments of ``decide`` that answer what a seat is asked first: a decision
    (``--action``, with ``--action-name`` where its world's rules need one of its
    declared actions), a reply to a talk, or a coalition invitation (``--reject``
    declines)."""
    args = f"decide {run_id} --actor {seat.actor}"
    if seat.kind == "reply":
        return args + " --reply '...'"
    if seat.kind == "coalition":
        return args + " --accept"
    if seat.action_name:
        args += f" --action-name {seat.action_name}"
    return args + " --action '...'"


def finite_usd(value: float | None) -> float | None:
    """Typer callback of an amount of USD: NaN or infinity would disable the limit."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not an amount of USD")
    return value


@contextlib.contextmanager
def stdout_to(out: Path | None) -> Iterator[None]:
    """What the block prints on stdout goes to the file ``out`` (``-o``), written once
    the block has succeeded: a failed command leaves no half-written file."""
    if out is None:
        yield
        return
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    write_file(out, buffer.getvalue())


def write_file(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` and say so on stderr; a path that cannot be written is
    one error line naming it."""
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise fail(f"cannot write {out}: {e.strerror or e}") from None
    status(f"wrote {out}")


def status(message: str) -> None:
    typer.echo(message, err=True)


def emit_json(data: Any) -> None:
    """One JSON document on a line, the same bytes in every process; typed results
    (msgspec Structs) as their fields."""
    from scenario_lab.app import canonical_json

    typer.echo(canonical_json(data))


def print_table(
    headers: list[tuple[str, str]], rows: list[list[str]], *, err: bool = False
) -> None:
    """A table of text: a header line, then one line per row, columns by ``(title,
    justify)``. Piped, no cell is cut or wrapped, so lines can be parsed."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    for title, justify in headers:
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    stream = sys.stderr if err else sys.stdout
    # cells are plain text: no markup, emoji codes or highlighting read into them
    plain = {"highlight": False, "markup": False, "emoji": False}
    if stream.isatty():
        Console(file=stream, **plain).print(table)  # type: ignore[arg-type]
        return
    # piped: as wide as the cells need, no trailing blanks
    console = Console(width=100_000, color_system=None, **plain)  # type: ignore[arg-type]
    with console.capture() as captured:
        console.print(table)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    typer.echo(text, err=err)
