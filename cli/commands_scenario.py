"""Writing scenarios: ``init`` (a small scenario to start from) and ``schema`` (the JSON
Schema of a kind of file, for editors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import OutOption, fail, handle_errors, status, stdout_to

SCHEMA_KINDS = "scenario, actor, metrics, validation, exogenous, batch"


def init(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A new or empty folder.")],
    rules: Annotated[
        bool, typer.Option("--rules", help="Rule-driven actors; plays offline (the default).")
    ] = False,
    llm: Annotated[bool, typer.Option("--llm", help="AI actors and a model adjudicator.")] = False,
    human: Annotated[
        bool, typer.Option("--human", help="One human seat beside a rule-driven actor.")
    ] = False,
) -> None:
    """Write a small scenario that validates and plays, to start from."""
    chosen = [kind for kind, on in (("rules", rules), ("llm", llm), ("human", human)) if on]
    if len(chosen) > 1:
        raise fail(f"give one of --rules, --llm, --human, not {' and '.join(chosen)}", 2)
    from scenario_lab.app import init_scenario

    written = init_scenario(folder, chosen[0] if chosen else "rules")
    for path in written:
        typer.echo(str(path))
    status(f"next: scenario-lab validate {folder}; scenario-lab run {folder}")


def schema(
    kind: Annotated[
        str, typer.Argument(metavar="KIND", help=f"One of: {SCHEMA_KINDS}.")
    ] = "scenario",
    out: OutOption = None,
) -> None:
    """Print the JSON Schema of one kind of file (always JSON), for editors' completion
    and checks."""
    from scenario_lab.app import json_schema

    with stdout_to(out):
        typer.echo(json.dumps(json_schema(kind), indent=2, sort_keys=True, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.command("init")(handle_errors(init))
    app.command("schema")(handle_errors(schema))
