"""Looking inside the log: ``runs``, ``log``, ``verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import (
    DEFAULT_DB,
    DbOption,
    command,
    emit_json,
    fail,
    handle_errors,
    open_store,
    status,
)


def runs(
    db: DbOption = Path(DEFAULT_DB),
    tree: Annotated[bool, typer.Option("--tree", help="Show forks under their parents.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
    batch: Annotated[
        str | None,
        typer.Option("--batch", help="Only the runs of this batch (id or a unique prefix)."),
    ] = None,
) -> None:
    """List runs, newest first, with lineage, status, turns completed and cost."""
    from engine.summary import lineage_tree, summarize_all

    with open_store(db) as store:
        batch_id = store.batch(batch)["batch_id"] if batch is not None else None
        rows = summarize_all(store, batch_id=batch_id)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        if batch_id is not None:
            resume = command(f"batch resume {batch_id}", db)
            status(f"batch {batch_id} has started no run yet: `{resume}`")
        else:
            status("no runs yet: start one with `scenario-lab run scenarios/strait-crisis`")
        return
    ordered = lineage_tree(rows) if tree else [(0, r) for r in rows]
    typer.echo(f"{'RUN':<16} {'SCENARIO':<22} {'STATUS':<12} {'TURNS':>5} {'COST $':>9}  LINEAGE")
    for depth, r in ordered:
        name = ("  " * depth + ("└ " if depth else "") + r["run_id"])[:16]
        state = r["status"] + (f"({r['halt_reason']})" if r["halt_reason"] else "")
        lineage = (
            f"fork of {r['parent_run_id']} at turn {r['fork_turn']}" if r["parent_run_id"] else ""
        )
        typer.echo(
            f"{name:<16} {(r['scenario'] or '?')[:22]:<22} {state:<12} "
            f"{r['turns_completed']:>5} {r['total_cost_usd']:>9.4f}  {lineage}"
        )


def log(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    db: DbOption = Path(DEFAULT_DB),
    turn: Annotated[int | None, typer.Option("--turn", help="Only this turn.")] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only events about this actor.")
    ] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Full payloads, one JSON object per line.")
    ] = False,
) -> None:
    """The audit trail of a run (inherited events of a fork included), one line per event."""
    from cli.event_lines import as_json as rec_json
    from cli.event_lines import line
    from eventstore import EVENT_TYPES, TurnOutOfRange

    if type_ is not None and type_ not in EVENT_TYPES:
        raise fail(f"unknown event type {type_!r} (known: {', '.join(sorted(EVENT_TYPES))})", 2)
    with open_store(db) as store:
        run_id = store.resolve(run)
        check_actor(store, run_id, actor)
        records = store.read(run_id, to_turn=turn)
        if turn is not None:
            last = max((r.turn for r in records), default=0)
            if turn < 0 or not any(r.turn == turn for r in records):
                all_turns = max((r.turn for r in store.iter_events(run_id)), default=0)
                raise TurnOutOfRange(run_id, turn, max(last, all_turns))
            records = [r for r in records if r.turn == turn]
        for rec in records:
            if actor is not None and rec.actor != actor:
                continue
            if type_ is not None and rec.type != type_:
                continue
            if as_json:
                emit_json(rec_json(rec))
            else:
                typer.echo(line(rec))


def check_actor(store: Any, run_id: str, actor: str | None) -> None:
    """A filter on an actor the run does not have matches nothing by mistake: refuse it."""
    if actor is None:
        return
    from engine.replay import replay
    from eventstore import UsageError

    actors = list(replay(store, run_id).scenario.get("actors", {}))
    if actor not in actors:
        raise UsageError(
            f"run {run_id} has no actor {actor!r}", hint=f"actors: {', '.join(actors)}"
        )


def check_turn(store: Any, run_id: str, turn: int | None) -> None:
    """A turn the run's timeline does not reach matches nothing by mistake: refuse it."""
    if turn is None:
        return
    from eventstore import TurnOutOfRange

    last = max((r.turn for r in store.iter_events(run_id)), default=0)
    if not 0 <= turn <= last:
        raise TurnOutOfRange(run_id, turn, last)


def verify(
    run: Annotated[str | None, typer.Argument(help="Run id; all runs when omitted.")] = None,
    db: DbOption = Path(DEFAULT_DB),
) -> None:
    """Recompute hash chains; exit 1 naming the first bad event if anything was altered."""
    with open_store(db) as store:
        run_ids = [store.resolve(run)] if run else [r.run_id for r in store.list_runs()]
        bad = 0
        for run_id in run_ids:
            result = store.verify(run_id)
            if result.ok:
                typer.echo(f"{run_id}: ok ({result.checked} events)")
            else:
                bad += 1
                # events missing from the end have no position to point at
                where = (
                    f"position {result.first_bad_position} (seq {result.first_bad_seq})"
                    if result.first_bad_position is not None
                    else f"seq {result.first_bad_seq}"
                )
                typer.echo(f"{run_id}: BROKEN at {where}: {result.reason}")
    if bad:
        raise fail(f"{bad} of {len(run_ids)} run(s) failed verification", 1)


def register(app: typer.Typer) -> None:
    app.command("runs")(handle_errors(runs))
    app.command("log")(handle_errors(log))
    app.command("verify")(handle_errors(verify))
