"""Batches: ``batch run``, ``batch resume``, ``batch list``, ``batch show``.

The batch id is the last line of stdout of ``run`` and ``resume``; progress (runs done
and running, events, cost, ETA) goes to stderr: a live line on a terminal, plain lines
otherwise.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.commands_run import (
    BaseUrlOpt,
    PriceOpt,
    PricesOpt,
    finish,
    parse_prices,
    play_options,
)
from cli.common import (
    DEFAULT_DB,
    DbOption,
    JsonOption,
    OutOption,
    command,
    emit_json,
    fail,
    finite_usd,
    handle_errors,
    make_lab,
    print_table,
    status,
    stdout_to,
)
from cli.errors import EXIT_HALTED, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from scenario_lab.app import BatchPlanView, BatchStatus, Lab

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
DEFAULT_CALLS = 16
CallsOpt = Annotated[
    int, typer.Option("--concurrency", min=1, help="Cap on model calls in flight, batch-wide.")
]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where the runs play: process (this machine) or ray (tasks on a Ray cluster; "
        "needs pip install 'scenario-lab[ray]').",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="With --executor ray: the Ray cluster's address (host:6379, as `ray start "
        "--head` prints it); default: a local Ray for this batch.",
    ),
]
BatchArg = Annotated[str, typer.Argument(metavar="BATCH", help="Batch id (or a unique prefix).")]


def run(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Batch file (YAML).")],
    db: DbOption = DEFAULT_DB,
    parallel: ParallelOpt = None,
    budget: BudgetOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the matrix and cost estimate; write nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: the plan as JSON.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", "--output", help="With --dry-run: write the plan to this file."
        ),
    ] = None,
    concurrency: CallsOpt = DEFAULT_CALLS,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
    price: PriceOpt = None,
    allow_long_prompts: Annotated[
        bool,
        typer.Option(
            "--allow-long-prompts", help="Send prompts longer than the model's context window."
        ),
    ] = False,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="A tag given to every run of the batch (repeatable)."),
    ] = None,
    executor: ExecutorOpt = "process",
    address: AddressOpt = None,
) -> None:
    """Run every variation of a batch file; the batch id is the last line of stdout."""
    from scenario_lab.app import BatchRunRequest, ScenarioInvalid

    lab = make_lab(
        db,
        prices=prices,
        price_overrides=parse_prices(price),
        concurrency=concurrency,
        plays=True,
        llm_base_url=llm_base_url,
    )
    request = BatchRunRequest(
        file=str(path),
        budget=budget,
        allow_long_prompts=allow_long_prompts,
        tags=tuple(tag or ()),
    )
    if (as_json or out is not None) and not dry_run:
        raise fail("--json and --out print a plan: give them with --dry-run", 2)
    lab.check_executor(executor, address)  # before anything is recorded
    try:
        if dry_run:
            plan = lab.plan_batch(request)
            with stdout_to(out):
                _dry_run(plan, as_json)
            return
        created = lab.create_batch(request)
    except ScenarioInvalid as e:  # every problem of the file, one line each
        if len(e.problems) < 2:
            raise
        for line in e.problems:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    for warning in created.warnings:
        status(f"warning: {warning}")
    status(
        f"batch {created.batch_id}: {created.name}: {created.variations} variation(s) x "
        f"{created.runs_per_variation} run(s) = {created.runs} runs"
    )
    options = _resume_options(llm_base_url, concurrency, prices, executor, address)
    code = play_batch(
        lab,
        created.batch_id,
        parallel=parallel,
        resume_options=options,
        executor=executor,
        address=address,
    )
    finish(created.batch_id, code)


def resume(
    batch_ref: BatchArg,
    db: DbOption = DEFAULT_DB,
    parallel: ParallelOpt = None,
    budget: BudgetOpt = None,
    concurrency: CallsOpt = DEFAULT_CALLS,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
    price: PriceOpt = None,
    executor: ExecutorOpt = "process",
    address: AddressOpt = None,
) -> None:
    """Finish a batch: resume its interrupted runs and start the ones not started."""
    from scenario_lab.app import BatchResume

    lab = make_lab(
        db,
        prices=prices,
        price_overrides=parse_prices(price),
        concurrency=concurrency,
        plays=True,
        llm_base_url=llm_base_url,
    )
    lab.check_executor(executor, address)
    found = lab.prepare_batch_resume(BatchResume(batch=batch_ref, budget=budget))
    status(f"batch {found.batch_id}: {found.name}: resuming")
    options = _resume_options(llm_base_url, concurrency, prices, executor, address)
    code = play_batch(
        lab,
        found.batch_id,
        parallel=parallel,
        budget=budget,
        resume_options=options,
        executor=executor,
        address=address,
    )
    finish(found.batch_id, code)


def list_cmd(db: DbOption = DEFAULT_DB, as_json: JsonOption = False, out: OutOption = None) -> None:
    """Every batch in the log, newest first, with its runs and cost."""
    found = make_lab(db).list_batches()
    with stdout_to(out):
        _print_batches(found, as_json)


def _print_batches(found: Any, as_json: bool) -> None:
    import msgspec

    if as_json:
        skip = ("runs", "cut_short", "config")
        emit_json(
            [{k: v for k, v in msgspec.to_builtins(b).items() if k not in skip} for b in found]
        )
        return
    rows = [
        [
            b.batch_id,
            b.name[:36],
            str(b.runs_planned),
            str(b.counts["completed"]),
            str(b.runs_planned - b.counts["completed"]),
            f"{b.cost_usd:.4f}",
            b.created_at[:19],
        ]
        for b in found
    ]
    headers = [("BATCH", "left"), ("NAME", "left"), ("RUNS", "right"), ("DONE", "right")]
    print_table([*headers, ("CUT", "right"), ("USD", "right"), ("CREATED", "left")], rows)


def show(
    batch_ref: BatchArg,
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
    out: OutOption = None,
) -> None:
    """Status per variation (runs by status, cost) and the runs cut short, with why."""
    s = make_lab(db).batch_status(batch_ref)
    with stdout_to(out):
        _print_status(s, as_json)


def _print_status(s: BatchStatus, as_json: bool) -> None:
    if as_json:
        import msgspec

        emit_json(msgspec.to_builtins(s))
        return
    typer.echo(f"batch {s.batch_id}: {s.name} ({s.kind}, {s.source})")
    typer.echo(f"created {s.created_at}; {_counts(s.counts)}; cost ${s.cost_usd:.4f}{_budget(s)}")
    rows = []
    for v in s.variations:
        n = v.counts
        counts = [n["completed"], n["halted"], n["failed"], n["interrupted"] + n["running"]]
        rows.append(
            [
                str(v.index),
                str(v.planned),
                *(str(c) for c in counts),
                str(n["not_started"]),
                f"{v.cost_usd:.4f}",
                # the label last and whole, as in the dry run: its values tell variations apart
                v.name,
            ]
        )
    headers = [("#", "right"), ("PLAN", "right"), ("DONE", "right"), ("HALT", "right")]
    headers += [("FAIL", "right"), ("INTR", "right"), ("UNSTARTED", "right"), ("USD", "right")]
    print_table([*headers, ("VARIATION", "left")], rows)
    _print_cut_short(s, limit=None)


# -- helpers ---------------------------------------------------------------------------


def _resume_options(
    llm_base_url: str | None,
    concurrency: int,
    prices: Path | None,
    executor: str = "process",
    address: str | None = None,
) -> str:
    options = play_options(
        llm_base_url=llm_base_url,
        concurrency=concurrency,
        prices=prices,
        default_concurrency=DEFAULT_CALLS,
    )
    if executor != "process":
        options += f" --executor {executor}"
    if address is not None:
        options += f" --address {shlex.quote(address)}"
    return options


def play_batch(
    lab: Lab,
    batch_id: str,
    *,
    parallel: int | None = None,
    budget: float | None = None,
    resume_options: str = "",
    executor: str = "process",
    address: str | None = None,
) -> int:
    """Play a recorded batch with a progress display on stderr, then say how it ended;
    the exit code: 3 when runs are left that ``batch resume`` goes on with (halted,
    interrupted, not started), else 0 (a failed run is one of the batch's results)."""
    import anyio

    from cli.root import long_lived_from_here
    from scenario_lab.app import BatchProgress

    progress = BatchProgress()

    async def main() -> BatchStatus:
        with progress_display(progress):
            return await lab.play_batch(
                batch_id,
                parallel=parallel,
                budget=budget,
                progress=progress,
                executor=executor,
                address=address,
            )

    long_lived_from_here()
    try:
        s = anyio.run(main)
    except KeyboardInterrupt:
        db = lab.settings.db
        resume = command(f"batch resume {batch_id}{resume_options}", db)
        raise fail(f"interrupted; `{resume}` goes on", EXIT_INTERRUPTED) from None
    status(f"batch {batch_id}: {_counts(s.counts)}; cost ${s.cost_usd:.4f}{_budget(s)}")
    _print_cut_short(s, limit=10, err=True)
    left = sum(s.counts.get(k, 0) for k in ("halted", "interrupted", "running", "not_started"))
    if left:
        resume = command(f"batch resume {batch_id}{resume_options}", lab.settings.db)
        status(f"  then: {resume}")
        return EXIT_HALTED
    return EXIT_OK


def _budget(s: BatchStatus) -> str:
    return f" of ${s.budget_usd:.4f}" if s.budget_usd is not None else ""


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


def _dry_run(plan: BatchPlanView, as_json: bool) -> None:
    for warning in plan.warnings:
        status(f"warning: {warning}")
    if as_json:
        emit_json(plan)
        status("dry run: nothing was written")
        return
    typer.echo(f"experiment: {plan.name} ({plan.source})")
    typer.echo(
        f"base scenario: {plan.base_scenario} ({plan.base_scenario_path}, "
        f"sha256 {plan.base_scenario_sha256[:12]})"
    )
    typer.echo(
        f"matrix: {len(plan.variations)} variation(s) x {plan.runs_per_variation} run(s) = "
        f"{plan.runs} runs; seed {plan.seed}"
    )
    rows = [
        [
            str(v.index),
            str(v.runs),
            str(v.calls_per_run),
            f"{v.usd_per_run:.4f}",
            f"{v.usd:.4f}",
            # the label last and whole: cutting it would hide the values that tell
            # variations apart
            v.name,
        ]
        for v in plan.variations
    ]
    headers = [("#", "right"), ("RUNS", "right"), ("CALLS/RUN", "right"), ("USD/RUN", "right")]
    print_table([*headers, ("USD", "right"), ("VARIATION", "left")], rows)
    budget = plan.budget_usd
    typer.echo(
        f"estimated cost: ${plan.estimated_usd:.4f}"
        + (f" (budget ${budget:.4f})" if budget is not None else "")
    )
    if budget is not None and plan.estimated_usd > budget:
        status("warning: the estimate is over the budget: the batch will stop before its end")
    if plan.unpriced:
        status(
            f"warning: no price known for {', '.join(plan.unpriced)}: its cost is unknown and "
            "not in the estimate (give one with --price MODEL=IN,OUT)"
        )
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
    from cli.root import epilog

    batch.command("run", epilog=epilog())(handle_errors(run))
    batch.command("resume", epilog=epilog())(handle_errors(resume))
    batch.command("list")(handle_errors(list_cmd))
    batch.command("show")(handle_errors(show))
    app.add_typer(batch, name="batch")
