"""Playing runs: ``run``, ``resume``, ``fork``, ``replay``, ``validate``, ``estimate``."""

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
    decide_args,
    emit_json,
    fail,
    finite_usd,
    handle_errors,
    make_lab,
    print_table,
    status,
    stdout_to,
)
from cli.errors import EXIT_FAILED, EXIT_HALTED, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from scenario_lab.app import Lab, RunOutcome

TurnsOpt = Annotated[
    int | None,
    typer.Option("--turns", min=1, help="Number of turns (default: the scenario's)."),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Seed of every random draw of the run.")
]
CreditOpt = Annotated[
    float | None,
    typer.Option(
        "--credit-limit",
        min=0.0,
        callback=finite_usd,
        help="Halt before a model call would cross this USD total.",
    ),
]
ModelOpt = Annotated[
    list[str] | None,
    typer.Option("--model", help="ACTOR=MODEL: use another model for one actor (repeatable)."),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--llm-base-url",
        envvar="SCENARIO_LAB_LLM_BASE_URL",
        help="Send every model call to this OpenAI-compatible endpoint.",
    ),
]
DEFAULT_CONCURRENCY = 8
ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", min=1, help="Cap on concurrent model calls.")
]
PricesOpt = Annotated[
    Path | None,
    typer.Option(
        "--prices",
        envvar="SCENARIO_LAB_PRICES",
        help="JSON of model -> {input, output} USD per 1M tokens, over the shipped table.",
    ),
]
PriceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--price",
        help="MODEL=IN,OUT[,CACHED]: USD per 1M input and output tokens of a model (and "
        "of prompt tokens served from the provider's cache), over every price table "
        "(repeatable). Needed for a model with no known price under --credit-limit or a "
        "budget.",
    ),
]


def parse_prices(values: list[str] | None) -> dict[str, tuple[float, ...]]:
    """``--price MODEL=IN,OUT[,CACHED]`` options as model -> (in, out[, cached]); a
    malformed or repeated one is a usage error."""
    from scenario_lab.app import parse_price

    out: dict[str, tuple[float, ...]] = {}
    for item in values or []:
        model, pair = parse_price(item)
        if model in out:
            raise fail(f"--price names {model} twice: give one price per model", 2)
        out[model] = pair
    return out


NameOpt = Annotated[
    str | None, typer.Option("--name", help="A name for the run, shown by runs and reports.")
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option("--tag", help="A tag to find the run by (repeatable): runs --tag, SQL."),
]


def parse_pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """``ACTOR=VALUE`` options as a dict; a malformed or repeated one is a usage error."""
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise fail(f"{flag} takes ACTOR=VALUE, got {item!r}", 2)
        if key.strip() in out:
            raise fail(f"{flag} names {key.strip()} twice: give one value per actor", 2)
        out[key.strip()] = value.strip()
    return out


def play(
    lab: Lab, run_id: str, *, interactive: bool = False, resume_options: str = ""
) -> RunOutcome:
    """Play a recorded run with a progress display on stderr; where it stands after."""
    import anyio

    from cli.progress import progress_display
    from cli.prompting import ask_human
    from cli.root import long_lived_from_here
    from scenario_lab.app import PlayHooks, Progress

    progress = Progress()

    async def main() -> RunOutcome:
        with progress_display(progress) as display:

            def ask(actor: str, ctx: Any, messages: list[dict[str, str]]) -> Any:
                # the progress line stops while a human types, then goes on
                with display.paused():
                    return ask_human(actor, ctx, messages)

            hooks = PlayHooks(progress=progress, human_prompt=ask if interactive else None)
            return await lab.play_run(run_id, hooks)

    from scenario_lab.app import StoreWriteFailed

    db = lab.settings.db
    long_lived_from_here()
    try:
        return anyio.run(main)
    except KeyboardInterrupt:
        # what is recorded stays: the run is interrupted and goes on where it stopped
        resume = command(f"resume {run_id}{resume_options}", db)
        raise fail(f"interrupted; `{resume}` goes on", EXIT_INTERRUPTED) from None
    except StoreWriteFailed as e:
        # the run stopped at the step the disk refused; every step before it is kept
        resume = command(f"resume {run_id}{resume_options}", db)
        raise fail(
            f"{e.message}; run {run_id} stopped there (free space on that disk, "
            f"then `{resume}` goes on; everything recorded is kept)"
        ) from None
    finally:
        lab.close()


def report_end(outcome: RunOutcome, db: str | Path, resume_options: str = "") -> int:
    """Say how a run ended, with the command that goes on; its exit code (``cli.errors``):
    0 completed, 3 halted (resumable), 1 failed. ``resume_options`` are the options the
    run was started with that its resume needs again (``--llm-base-url``...)."""
    run_id = outcome.run_id
    if outcome.status == "completed":
        unknown = outcome.unpriced_calls
        cost = f"${outcome.cost_usd:.4f}" + (
            f" and {unknown} call(s) of unknown cost (no price known)" if unknown else ""
        )
        status(f"run {run_id} completed {outcome.turns_completed} turns, {cost}")
        return EXIT_OK
    if outcome.status == "halted":
        status(f"run {run_id} halted ({outcome.halt_reason}): {outcome.halt_detail}")
        resume = f"resume {run_id}"
        if outcome.halt_reason == "human_input":
            for seat in outcome.pending:
                status(f"  next: {command(decide_args(run_id, seat), db)}")
        elif outcome.halt_reason == "credit_limit":
            # resuming needs a higher limit: suggest twice the one that was reached
            limit = outcome.credit_limit or 0.0
            resume += f" --credit-limit {max(2 * limit, 1.0):.2f}"
        elif outcome.halt_reason == "white_cell":
            # a facilitator approves or edits it in the server (API or run page)
            status(
                f"  next: {command('serve', db)}, then approve or edit it on the run's "
                f"page or with POST /api/v1/runs/{run_id}/world-update (the run goes on)"
            )
            return EXIT_HALTED
        status(f"  then: {command(resume + resume_options, db)}")
        return EXIT_HALTED
    status(
        f"run {run_id} is {outcome.status}"
        + (f": {outcome.halt_detail}" if outcome.halt_detail else "")
    )
    return EXIT_FAILED


def play_options(
    *,
    llm_base_url: str | None,
    concurrency: int,
    prices: Path | None,
    default_concurrency: int = DEFAULT_CONCURRENCY,
) -> str:
    """The options given to a playing command that a resume must be given again: they
    are settings of the process, not of the run, so the log does not hold them. An
    option set from the environment is left out: the same shell has it."""
    import os
    import shlex

    parts = []
    if llm_base_url and llm_base_url != os.environ.get("SCENARIO_LAB_LLM_BASE_URL"):
        parts.append(f"--llm-base-url {shlex.quote(llm_base_url)}")
    if prices is not None and str(prices) != os.environ.get("SCENARIO_LAB_PRICES"):
        parts.append(f"--prices {shlex.quote(str(prices))}")
    if concurrency != default_concurrency:
        parts.append(f"--concurrency {concurrency}")
    return "".join(f" {p}" for p in parts)


def finish(run_id: str, code: int) -> None:
    """Print the run id last on stdout, then exit with ``code`` when it is not 0."""
    typer.echo(run_id)
    if code != EXIT_OK:
        raise typer.Exit(code)


def run(
    path: Annotated[Path, typer.Argument(help="Scenario directory.")],
    db: DbOption = DEFAULT_DB,
    turns: TurnsOpt = None,
    seed: SeedOpt = None,
    credit_limit: CreditOpt = None,
    model: ModelOpt = None,
    world_model: Annotated[
        str | None, typer.Option("--world-model", help="Model of the adjudicator.")
    ] = None,
    json_mode: Annotated[
        bool, typer.Option("--json-mode/--no-json-mode", help="Ask models for JSON.")
    ] = True,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    llm_base_url: BaseUrlOpt = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Ask for human actors' decisions inline.")
    ] = False,
    prices: PricesOpt = None,
    price: PriceOpt = None,
    allow_long_prompts: Annotated[
        bool,
        typer.Option(
            "--allow-long-prompts", help="Send prompts longer than the model's context window."
        ),
    ] = False,
    name: NameOpt = None,
    tag: TagOpt = None,
    white_cell: Annotated[
        bool | None,
        typer.Option(
            "--white-cell/--no-white-cell",
            help="Each world update waits for a facilitator's review (default: the "
            "scenario's white_cell).",
        ),
    ] = None,
    cache_markers: Annotated[
        bool,
        typer.Option(
            "--cache-markers/--no-cache-markers",
            help="Mark the stable opening of actors' prompts for Anthropic models' prompt "
            "cache (cache_control); other models cache without markers.",
        ),
    ] = True,
) -> None:
    """Run a scenario; the run id is the last line of stdout."""
    from scenario_lab.app import StartRun

    lab = make_lab(
        db,
        prices=prices,
        price_overrides=parse_prices(price),
        concurrency=concurrency,
        plays=True,
        llm_base_url=llm_base_url,
    )
    request = StartRun(
        scenario=str(path),
        seed=seed if seed is not None else 0,
        turns=turns,
        credit_limit=credit_limit,
        models=parse_pairs(model, "--model"),
        world_model=world_model,
        json_mode=json_mode,
        allow_long_prompts=allow_long_prompts,
        name=name,
        tags=tuple(tag or ()),
        white_cell=white_cell,
        cache_markers=cache_markers,
    )
    try:
        created = lab.create_run(request)
    except BaseException:
        lab.close()
        raise
    for warning in created.warnings:
        status(f"warning: {warning}")
    status(f"run {created.run_id}: {created.scenario}")
    options = play_options(llm_base_url=llm_base_url, concurrency=concurrency, prices=prices)
    outcome = play(lab, created.run_id, interactive=interactive, resume_options=options)
    code = report_end(outcome, db, options)
    finish(created.run_id, code)


def resume(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    db: DbOption = DEFAULT_DB,
    credit_limit: CreditOpt = None,
    turns: TurnsOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    llm_base_url: BaseUrlOpt = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Ask for human actors inline.")
    ] = False,
    prices: PricesOpt = None,
    price: PriceOpt = None,
) -> None:
    """Continue a halted, interrupted or crashed run from its last recorded step, or
    start a fork recorded without --play (listed as not_started)."""
    from scenario_lab.app import ResumeRun

    lab = make_lab(
        db,
        prices=prices,
        price_overrides=parse_prices(price),
        concurrency=concurrency,
        plays=True,
        llm_base_url=llm_base_url,
    )
    run_id = lab.resume_run(
        ResumeRun(run=run_ref, credit_limit=credit_limit, turns=turns, interactive=interactive)
    )
    options = play_options(llm_base_url=llm_base_url, concurrency=concurrency, prices=prices)
    outcome = play(lab, run_id, interactive=interactive, resume_options=options)
    code = report_end(outcome, db, options)
    finish(run_id, code)


def fork(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    at_turn: Annotated[
        int,
        typer.Option("--at-turn", min=0, help="The branch shares turns 0..N and plays N+1 next."),
    ],
    db: DbOption = DEFAULT_DB,
    play_it: Annotated[bool, typer.Option("--play", help="Play the branch now.")] = False,
    turns: TurnsOpt = None,
    seed: SeedOpt = None,
    model: ModelOpt = None,
    decision: Annotated[
        list[str] | None,
        typer.Option(
            "--decision",
            help='ACTOR="action": that actor\'s decision in turn N+1 (repeatable). In a '
            "rule-driven world, ACTOR=NAME of a declared action applies its effects.",
        ),
    ] = None,
    inject: Annotated[
        list[str] | None,
        typer.Option("--inject", help="An exogenous event in turn N+1 (repeatable)."),
    ] = None,
    human: Annotated[
        list[str] | None, typer.Option("--human", help="A human takes this seat from N+1.")
    ] = None,
    ai: Annotated[
        list[str] | None, typer.Option("--ai", help="A model takes this seat from N+1.")
    ] = None,
    credit_limit: CreditOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
    price: PriceOpt = None,
    count: Annotated[
        int | None,
        typer.Option(
            "--count",
            help="With --play: K branches with derived seeds, as a batch (with --decision "
            "or --inject a counterfactual set, else the baseline set).",
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel",
            min=1,
            help="With --count: branches played at once (default 8, or 2 worker processes "
            "for a run that calls no model).",
        ),
    ] = None,
    paired: Annotated[
        bool,
        typer.Option(
            "--paired",
            help="With --count: each branch's seed from the run's seed (or --seed), "
            "--at-turn and its index only, so a baseline and an edited set both made "
            "with --paired share seeds (common random numbers).",
        ),
    ] = False,
    budget: Annotated[
        float | None,
        typer.Option("--budget", callback=finite_usd, help="With --count: USD for the whole set."),
    ] = None,
    name: NameOpt = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="A tag added to the run's (repeatable; every branch's)."),
    ] = None,
) -> None:
    """Branch a run at a turn, recording what the branch changes; the branch id is printed last.

    With --play --count K, K branches from the same point play with different derived
    seeds, recorded as a batch (Monte-Carlo continuations); the batch id is printed last.
    With --decision/--inject every branch makes that edit (a counterfactual set); the same
    command without it gives the baseline set; compare them with
    `compare --batch BASELINE --batch EDITED`. An interrupted set goes on with
    `batch resume BATCH`.
    """
    from scenario_lab.app import ForkRun

    request = ForkRun(
        run=run_ref,
        at_turn=at_turn,
        seed=seed,
        turns=turns,
        models=parse_pairs(model, "--model"),
        decisions=parse_pairs(decision, "--decision"),
        inject=tuple(inject or ()),
        humans=tuple(human or ()),
        ais=tuple(ai or ()),
        credit_limit=credit_limit,
        play=play_it,
        count=count,
        parallel=parallel,
        paired=paired,
        budget=budget,
        name=name,
        tags=tuple(tag or ()),
    )
    lab = make_lab(
        db,
        prices=prices,
        price_overrides=parse_prices(price),
        concurrency=concurrency,
        plays=True,
        llm_base_url=llm_base_url,
    )
    if count is not None:
        from cli.commands_batch import play_batch

        created = lab.create_continuations(request)
        status(f"batch {created.batch_id}: {created.name}")
        options = play_options(llm_base_url=llm_base_url, concurrency=concurrency, prices=prices)
        code = play_batch(lab, created.batch_id, parallel=parallel, resume_options=options)
        finish(created.batch_id, code)
        return
    branch = lab.fork_run(request)
    made = f"branch {branch.run_id} of {branch.parent_run_id} at turn {at_turn}"
    code = EXIT_OK
    if play_it:
        status(made)
        options = play_options(llm_base_url=llm_base_url, concurrency=concurrency, prices=prices)
        code = report_end(play(lab, branch.run_id, resume_options=options), db, options)
    else:
        status(f"{made}, not started: `{command(f'resume {branch.run_id}', db)}` plays it")
    finish(branch.run_id, code)


def replay_cmd(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    db: DbOption = DEFAULT_DB,
    turn: Annotated[
        int | None, typer.Option("--turn", help="State at the end of this turn (default: last).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole state as JSON.")] = False,
    out: OutOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Re-execute the engine against the recorded responses and compare."
        ),
    ] = False,
) -> None:
    """The state of a run at the end of a turn, folded from the log (no model calls).

    With --check, re-runs the engine offline over the run and reports the first step whose
    request or event differs from the log, else "consistent".
    """
    lab = make_lab(db)
    with stdout_to(out):
        if check:
            checked = lab.check_run(run_ref)
            if as_json:
                emit_json({"run_id": checked.run_id, "consistent": True, "events": checked.events})
            else:
                typer.echo(f"{checked.run_id}: consistent ({checked.events} events re-executed)")
            return
        state = lab.state(run_ref, turn)
        if as_json:
            from scenario_lab.app import state_document

            emit_json(state_document(state))
            return
        from cli.state_text import describe_state

        typer.echo(describe_state(state))


def validate(
    path: Annotated[Path, typer.Argument(help="Scenario directory.")],
    as_json: JsonOption = False,
    out: OutOption = None,
) -> None:
    """Check a scenario directory; prints every problem and exits 1 if any is an error."""
    found = make_lab(Path(DEFAULT_DB)).validate(path)
    problems = len(found.problems)
    # the problems are the output, also of an invalid scenario: written before exit 1
    with stdout_to(out):
        if as_json:
            listed = [{"severity": p.severity, "text": p.text} for p in found.problems]
            emit_json(
                {"path": str(path), "valid": not found.errors, "errors": found.errors}
                | {"problems": listed}
            )
        else:
            for p in found.problems:
                typer.echo(f"{p.severity}: {p.text}")
            if not found.errors:
                typer.echo(f"{path}: valid" + (f" ({problems} warning(s))" if problems else ""))
    if found.errors:
        raise fail(f"{found.errors} error(s) in {path}", 1)


def estimate(
    path: Annotated[Path, typer.Argument(help="Scenario directory.")],
    turns: TurnsOpt = None,
    model: ModelOpt = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    prices: PricesOpt = None,
    price: PriceOpt = None,
) -> None:
    """Expected model calls, tokens and cost of a run, from the price table.

    The cost counts prompt caching: from turn 2, each actor's stable opening (system
    message and briefing) is expected from the provider's cache when its model has a
    cache price (--price MODEL=IN,OUT,CACHED) and the opening is at least 1,024 tokens;
    the cost without cache hits is shown beside it.
    """
    from scenario_lab.app import EstimateRequest

    lab = make_lab(Path(DEFAULT_DB), prices=prices, price_overrides=parse_prices(price))
    est = lab.estimate(
        EstimateRequest(scenario=str(path), turns=turns, models=parse_pairs(model, "--model"))
    )
    for warning in est.warnings:
        status(f"warning: {warning}")
    with stdout_to(out):
        _print_estimate(est, as_json)


def _print_estimate(est: Any, as_json: bool) -> None:
    if as_json:
        emit_json(est)
        return
    typer.echo(f"{est.scenario}: {est.turns} turns")
    rows = [
        [
            r.model,
            str(r.calls),
            str(r.input_tokens),
            str(r.output_tokens),
            "?" if r.cost_usd is None else f"{r.cost_usd:.4f}",
            "" if r.priced else "(no price known: cost unknown)",
        ]
        for r in est.by_model
    ]
    total = [str(est.calls), str(est.input_tokens), str(est.output_tokens)]
    rows.append(["total", *total, f"{est.cost_usd:.4f}", "(priced models)" if est.unpriced else ""])
    headers = [("MODEL", "left"), ("CALLS", "right"), ("IN TOK", "right"), ("OUT TOK", "right")]
    print_table([*headers, ("USD", "right"), ("", "left")], rows)
    if est.max_calls > est.calls:
        typer.echo(
            f"talks may add calls: up to {est.max_calls} calls, ${est.max_cost_usd:.4f}, "
            "if every actor opens every talk it may"
        )
    if est.cached_tokens:
        typer.echo(
            f"prompt caching: {est.cached_tokens} of the prompt tokens are expected from the "
            f"providers' caches (each actor's opening, from turn 2): ${est.cost_usd:.4f} "
            f"with these cache hits, ${est.cost_without_cache_usd:.4f} without"
        )
    elif est.by_model and len(est.unpriced) < len(est.by_model):
        typer.echo(
            "prompt caching: none expected (an actor's opening is cached from turn 2 when "
            "its model has a cache price and the opening is at least 1,024 tokens)"
        )


def register(app: typer.Typer) -> None:
    from cli.root import epilog

    app.command("run", epilog=epilog())(handle_errors(run))
    app.command("resume", epilog=epilog())(handle_errors(resume))
    app.command("fork", epilog=epilog())(handle_errors(fork))
    app.command("replay")(handle_errors(replay_cmd))
    app.command("validate")(handle_errors(validate))
    app.command("estimate")(handle_errors(estimate))
