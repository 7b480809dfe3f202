"""Batches: ``batch run``, ``batch resume``, ``batch list``, ``batch show``.

The batch id is the last line of stdout of ``run`` and ``resume``; progress (runs done
and running, events, cost, ETA) goes to stderr: a live line on a terminal, plain lines
otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands_run import BaseUrlOpt, PricesOpt, load_prices, make_client, models_needed
from cli.common import (
    DEFAULT_DB,
    DbOption,
    command,
    emit_json,
    fail,
    finite_usd,
    handle_errors,
    open_store,
    status,
)

if TYPE_CHECKING:
    from engine.batch.stats import BatchStatus

ParallelOpt = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        min=1,
        help="Runs at once (default: the file's max_parallel; else 8, or 2 worker "
        "processes for a batch that calls no model).",
    ),
]
BudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--budget",
        callback=finite_usd,
        help="USD for the whole batch (replaces the file's budget_limit).",
    ),
]
CallsOpt = Annotated[
    int, typer.Option("--concurrency", min=1, help="Cap on model calls in flight, batch-wide.")
]
BatchArg = Annotated[str, typer.Argument(metavar="BATCH", help="Batch id (or a unique prefix).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON output.")]


def run(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Batch file (YAML).")],
    db: DbOption = Path(DEFAULT_DB),
    parallel: ParallelOpt = None,
    budget: BudgetOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the matrix and cost estimate; write nothing.")
    ] = False,
    concurrency: CallsOpt = 16,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
) -> None:
    """Run every variation of a batch file; the batch id is the last line of stdout."""
    from engine.batch.config import load_batch
    from engine.batch.plan import record_batch
    from engine.errors import ScenarioInvalid

    try:
        plan = load_batch(path, budget_usd=budget)
    except ScenarioInvalid as e:  # every problem of the file, one line each
        for line in e.problems:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(e.exit_code) from None
    for warning in plan.warnings:
        status(f"warning: {warning}")
    if dry_run:
        _dry_run(plan, prices)
        return
    client = make_client(_models(plan), llm_base_url)
    if prices is not None:
        from engine.llm.pricing import read_price_file

        read_price_file(prices)  # a bad price file is reported before anything is recorded
    with open_store(db, create=True) as store:
        batch_id = record_batch(store, plan)
    status(
        f"batch {batch_id}: {plan.name}: {len(plan.variations)} variation(s) x "
        f"{plan.config['runs_per_variation']} run(s) = {len(plan.runs)} runs"
    )
    _play(db, batch_id, client, prices, parallel, concurrency, None)
    typer.echo(batch_id)


def resume(
    batch_ref: BatchArg,
    db: DbOption = Path(DEFAULT_DB),
    parallel: ParallelOpt = None,
    budget: BudgetOpt = None,
    concurrency: CallsOpt = 16,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
) -> None:
    """Finish a batch: resume its interrupted runs and start the ones not started."""
    from engine.batch.plan import batch_plan

    if budget is not None and budget <= 0:
        raise fail(f"--budget {budget} must be more than 0", 2)
    with open_store(db) as store:
        batch_id, plan = batch_plan(store, batch_ref)
        models = _models(plan, store)
    client = make_client(models, llm_base_url)
    status(f"batch {batch_id}: {plan.name}: resuming")
    _play(db, batch_id, client, prices, parallel, concurrency, budget)
    typer.echo(batch_id)


def list_cmd(db: DbOption = Path(DEFAULT_DB), as_json: JsonOpt = False) -> None:
    """Every batch in the log, newest first, with its runs and cost."""
    from engine.batch.stats import batch_status

    with open_store(db) as store:
        rows = [batch_status(store, b["batch_id"]) for b in store.list_batches()]
    if as_json:
        import msgspec

        skip = ("runs", "cut_short", "config")
        emit_json(
            [{k: v for k, v in msgspec.to_builtins(r).items() if k not in skip} for r in rows]
        )
        return
    typer.echo(f"{'BATCH':<13} {'NAME':<36} {'RUNS':>5} {'DONE':>5} {'CUT':>5} {'USD':>9}  CREATED")
    for r in rows:
        cut = r.runs_planned - r.counts["completed"]
        typer.echo(
            f"{r.batch_id:<13} {r.name[:36]:<36} {r.runs_planned:>5} "
            f"{r.counts['completed']:>5} {cut:>5} {r.cost_usd:>9.4f}  {r.created_at[:19]}"
        )


def show(batch_ref: BatchArg, db: DbOption = Path(DEFAULT_DB), as_json: JsonOpt = False) -> None:
    """Status per variation (runs by status, cost) and the runs cut short, with why."""
    from engine.batch.stats import batch_status

    with open_store(db) as store:
        s = batch_status(store, batch_ref)
    if as_json:
        import msgspec

        emit_json(msgspec.to_builtins(s))
        return
    budget = f" of ${s.budget_usd:.4f}" if s.budget_usd is not None else ""
    typer.echo(f"batch {s.batch_id}: {s.name} ({s.kind}, {s.source})")
    typer.echo(f"created {s.created_at}; {_counts(s.counts)}; cost ${s.cost_usd:.4f}{budget}")
    # the label last and whole, as in the dry run: its values tell variations apart
    typer.echo(
        f"{'#':>3} {'PLAN':>4} {'DONE':>4} {'HALT':>4} {'FAIL':>4} {'INTR':>4} {'TODO':>4} "
        f"{'USD':>9}  VARIATION"
    )
    for v in s.variations:
        n = v.counts
        typer.echo(
            f"{v.index:>3} {v.planned:>4} {n['completed']:>4} {n['halted']:>4} "
            f"{n['failed']:>4} {n['interrupted'] + n['running']:>4} {n['not_started']:>4} "
            f"{v.cost_usd:>9.4f}  {v.name}"
        )
    _print_cut_short(s, limit=None)


# -- helpers ---------------------------------------------------------------------------


def _models(plan: Any, store: Any = None) -> list[str]:
    """Every model any run of the plan may call (for the credentials check)."""
    found: set[str] = set()
    for v in plan.variations:
        if v.loaded is not None:
            found.update(models_needed(v.loaded.scenario, v.model_overrides, None))
    if plan.kind == "continuations" and store is not None:
        from engine.replay import replay
        from engine.scenario.model import Scenario

        state = replay(store, plan.runs[0].run_id)
        found.update(
            models_needed(
                Scenario.from_resolved(state.scenario),
                dict(state.settings.model_overrides),
                state.settings.world_model,
            )
        )
    return sorted(found)


def _play(
    db: Path,
    batch_id: str,
    client: Any,
    prices: Path | None,
    parallel: int | None,
    concurrency: int,
    budget: float | None,
) -> None:
    import anyio

    from engine.batch.play import BatchProgress, run_batch
    from engine.llm import PriceTable

    table = (
        anyio.run(load_prices, prices, client) if client is not None else PriceTable.load(prices)
    )
    progress = BatchProgress()
    try:
        with progress_display(progress):
            run_batch(
                db,
                batch_id,
                client=client,
                prices=table,
                parallel=parallel,
                call_limit=concurrency,
                budget_usd=budget,
                progress=progress,
            )
    except KeyboardInterrupt:
        raise fail(
            f"interrupted; `{command(f'batch resume {batch_id}', db)}` goes on", 130
        ) from None
    from engine.batch.stats import batch_status

    with open_store(db) as store:
        s = batch_status(store, batch_id)
    budget_text = f" of ${s.budget_usd:.4f}" if s.budget_usd is not None else ""
    status(f"batch {batch_id}: {_counts(s.counts)}; cost ${s.cost_usd:.4f}{budget_text}")
    _print_cut_short(s, limit=10, err=True)


def _counts(counts: dict[str, int]) -> str:
    parts = [f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n]
    return ", ".join(parts) or "no runs"


def _print_cut_short(s: BatchStatus, *, limit: int | None, err: bool = False) -> None:
    cut = s.cut_short
    if not cut:
        return
    typer.echo("cut short:", err=err)
    for r in cut[:limit]:
        typer.echo(f"  run {r.run_id} (variation {r.variation}): {r.why}", err=err)
    if limit is not None and len(cut) > limit:
        typer.echo(
            f"  ... and {len(cut) - limit} more: scenario-lab batch show {s.batch_id}", err=err
        )


def _dry_run(plan: Any, prices: Path | None) -> None:
    from engine.llm import PriceTable
    from engine.play.estimate import estimate_run

    table = PriceTable.load(prices)
    per_run = plan.config["runs_per_variation"]
    base = plan.base
    typer.echo(f"experiment: {plan.name} ({plan.source})")
    typer.echo(
        f"base scenario: {base.scenario.name} ({plan.config['base_scenario']}, "
        f"sha256 {base.sha256[:12]})"
    )
    typer.echo(
        f"matrix: {len(plan.variations)} variation(s) x {per_run} run(s) = {len(plan.runs)} "
        f"runs; seed {plan.config['seed']}"
    )
    # the label last and whole: cutting it would hide the values that tell variations apart
    typer.echo(f"{'#':>3} {'RUNS':>4} {'CALLS/RUN':>9} {'USD/RUN':>9} {'USD':>10}  VARIATION")
    total = 0.0
    unpriced: set[str] = set()
    for v in plan.variations:
        est = estimate_run(v.loaded.scenario, table, model_overrides=v.model_overrides)
        unpriced.update(r["model"] for r in est["by_model"] if not r["priced"])
        total += est["cost_usd"] * per_run
        typer.echo(
            f"{v.index:>3} {per_run:>4} {est['calls']:>9} {est['cost_usd']:>9.4f} "
            f"{est['cost_usd'] * per_run:>10.4f}  {v.name}"
        )
    budget = plan.budget_usd
    typer.echo(
        f"estimated cost: ${total:.4f}" + (f" (budget ${budget:.4f})" if budget is not None else "")
    )
    if budget is not None and total > budget:
        status("warning: the estimate is over the budget: the batch will stop before its end")
    if unpriced:
        status(f"warning: no price known for {', '.join(sorted(unpriced))}: counted as $0")
    status("dry run: nothing was written")


# -- progress --------------------------------------------------------------------------


def _progress_text(p: Any) -> str:
    eta = p.eta_s()
    eta_text = "-" if eta is None else f"{int(eta // 60)}m{int(eta % 60):02d}s"
    budget = f" of ${p.budget_usd:.2f}" if p.budget_usd is not None else ""
    return (
        f"batch {p.batch_id}: {p.done}/{p.total} runs done, {p.running} running | "
        f"{p.events} events | ${p.cost_usd:.4f}{budget} | ETA {eta_text}"
    )


def progress_display(progress: Any, *, interval: float = 0.25, every_s: float = 10.0) -> Any:
    """A live line on a terminal; otherwise a plain line per finished run (at most one a
    second), every ``every_s`` seconds, and at the end."""
    from cli.progress import live_display

    return live_display(
        lambda: _progress_text(progress),
        lambda: progress.done,
        interval=interval,
        min_gap=1.0,
        every_s=every_s,
        final_line=True,
    )


def register(app: typer.Typer) -> None:
    batch = typer.Typer(
        help="Batches: every variation of a batch file, many runs each, with statistics.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    batch.command("run")(handle_errors(run))
    batch.command("resume")(handle_errors(resume))
    batch.command("list")(handle_errors(list_cmd))
    batch.command("show")(handle_errors(show))
    app.add_typer(batch, name="batch")
