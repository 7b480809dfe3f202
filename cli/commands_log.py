"""Looking inside the log: ``runs``, ``log``, ``verify``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import (
    DEFAULT_DB,
    DbOption,
    JsonOption,
    OutOption,
    command,
    emit_json,
    fail,
    handle_errors,
    make_lab,
    print_table,
    status,
    stdout_to,
)

if TYPE_CHECKING:
    from scenario_lab.app import Lab, ListRuns, TreeLine


def runs(
    db: DbOption = DEFAULT_DB,
    tree: Annotated[
        bool,
        typer.Option("--tree", help="Show forks under their parents, each batch as one line."),
    ] = False,
    as_json: JsonOption = False,
    out: OutOption = None,
    batch: Annotated[
        str | None,
        typer.Option("--batch", help="Only the runs of this batch (id or a unique prefix)."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only runs with this tag (repeatable: with every one)."),
    ] = None,
) -> None:
    """List runs, newest first, with lineage, status, turns completed and cost.

    Status: running (a live process plays it), not_started (a fork recorded without
    --play), interrupted (its process died), halted(reason), completed or failed.
    `resume RUN` starts a not_started run and goes on with an interrupted one (and with
    a halted one, once what it waits for is given).
    """
    from scenario_lab.app import ListRuns

    lab = make_lab(db)
    query = ListRuns(batch=batch, tags=tuple(tag or ()))
    with stdout_to(out):
        _print_runs(lab, query, db, tree=tree, as_json=as_json)


def _print_runs(lab: Lab, query: ListRuns, db: str | Path, *, tree: bool, as_json: bool) -> None:
    tag = query.tags
    if as_json and tree:
        emit_json(lab.run_tree(query))
        return
    listed = lab.list_runs(query)
    if as_json:
        emit_json(listed.runs)
        return
    if not listed.runs:
        if listed.batch_id is not None:
            resume = command(f"batch resume {listed.batch_id}", db)
            status(f"batch {listed.batch_id} has started no run yet: `{resume}`")
        elif tag:
            status(f"no run has the tag(s) {', '.join(tag)}")
        else:
            status(f"no runs yet: {_first_run_hint()}")
        return
    from scenario_lab.app import TreeLine

    lines = lab.run_tree(query) if tree else tuple(TreeLine(depth=0, run=r) for r in listed.runs)
    rows = [_tree_row(line) for line in lines]
    headers = [("RUN", "left"), ("SCENARIO", "left"), ("STATUS", "left"), ("TURNS", "right")]
    print_table([*headers, ("COST $", "right"), ("LINEAGE", "left"), ("NAME/TAGS", "left")], rows)
    _hint_not_started([r for r in listed.runs if r.status == "not_started"], db)


def _first_run_hint() -> str:
    """How to start a first run from here: the bundled example where it is (the
    repository's top folder), else a scenario ``init`` writes."""
    if (Path("scenarios") / "strait-crisis" / "scenario.yaml").is_file():
        return "start one with `scenario-lab run scenarios/strait-crisis`"
    return "`scenario-lab init DIR` writes a scenario, `scenario-lab run DIR` plays it"


def _hint_not_started(runs: list[Any], db: str | Path) -> None:
    """Say how to play runs recorded but never started (a fork made without --play)."""
    if len(runs) == 1:
        start = command(f"resume {runs[0].run_id}", db)
        status(f"run {runs[0].run_id} was recorded but not started: `{start}` plays it")
    elif runs:
        start = command("resume RUN", db)
        status(f"{len(runs)} runs were recorded but not started: `{start}` plays one")


def _labels(name: str | None, tags: tuple[str, ...]) -> str:
    return " ".join([*([name] if name else []), *(f"#{t}" for t in tags)])


def _tree_row(line: TreeLine) -> list[str]:
    indent = "  " * line.depth + ("└ " if line.depth else "")
    if line.batch is not None:
        b = line.batch
        states = ", ".join(f"{n} {s}" for s, n in b.statuses.items())
        return [
            indent + f"batch {b.batch_id}",
            b.name[:22],
            states,
            f"{b.runs} runs",
            f"{b.own_cost_usd:.4f}",
            f"branches of {b.parent_run_id}" if b.parent_run_id else "",
            _labels(None, b.tags),
        ]
    r = line.run
    assert r is not None
    return [
        indent + r.run_id,
        (r.scenario or "?")[:22],
        r.status + (f"({r.halt_reason})" if r.halt_reason else ""),
        str(r.turns_completed),
        f"{r.total_cost_usd:.4f}",
        f"fork of {r.parent_run_id} at turn {r.fork_turn}" if r.parent_run_id else "",
        _labels(r.name, r.tags),
    ]


def log(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    db: DbOption = DEFAULT_DB,
    turn: Annotated[int | None, typer.Option("--turn", help="Only this turn.")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only events about this actor.")
    ] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Full payloads, one JSON object per line.")
    ] = False,
    out: OutOption = None,
) -> None:
    """The audit trail of a run (inherited events of a fork included), one line per event."""
    from cli.event_lines import line
    from scenario_lab.app import LogQuery

    lines = make_lab(db).log(LogQuery(run=run, turn=turn, actor=actor, type=type_))
    with stdout_to(out):
        for rec in lines:
            if as_json:
                emit_json(rec)
            else:
                typer.echo(line(rec))


def verify(
    run: Annotated[
        str | None, typer.Argument(metavar="RUN", help="Run id; all runs when omitted.")
    ] = None,
    db: DbOption = DEFAULT_DB,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="Also check the runs against this anchor (from --anchor-out): a rollback "
            "or rewrite past its heads fails.",
        ),
    ] = None,
    anchor_out: Annotated[
        Path | None,
        typer.Option(
            "--anchor-out",
            help="Write each run's chain head to this file (canonical JSON) when every "
            "run verifies; keep it away from the log.",
        ),
    ] = None,
    as_json: JsonOption = False,
    out: OutOption = None,
) -> None:
    """Verify hash chains, run metadata and blobs; exit 1 naming the first bad event of
    each run that was altered (or rolled back past an --anchor)."""
    from scenario_lab.app import VerifyRequest

    report = make_lab(db).verify(
        VerifyRequest(
            run=run,
            anchor=str(anchor) if anchor is not None else None,
            anchor_out=str(anchor_out) if anchor_out is not None else None,
        )
    )
    # the results are the output, also when a run fails: written before exit 1
    with stdout_to(out):
        _print_verify(report, as_json)
    if anchor is not None:
        status(f"checked {report.anchored} anchored run(s) against {anchor}")
    if report.anchor_written is not None:
        status(f"wrote the chain heads of {len(report.results)} run(s) to {anchor_out}")
    if report.failed:
        unwritten = "; the anchor was not written" if anchor_out is not None else ""
        raise fail(
            f"{report.failed} of {len(report.results)} run(s) failed verification{unwritten}", 1
        )


def _print_verify(report: Any, as_json: bool) -> None:
    from scenario_lab.app import verdict

    if as_json:
        emit_json(report)
        return
    for result in report.results:
        if result.ok:
            typer.echo(f"{result.run_id}: ok ({result.checked} events)")
        else:
            typer.echo(f"{result.run_id}: {verdict(result)}")


def register(app: typer.Typer) -> None:
    app.command("runs")(handle_errors(runs))
    app.command("log")(handle_errors(log))
    app.command("verify")(handle_errors(verify))
