"""Playing runs: ``run``, ``resume``, ``fork``, ``replay``, ``validate``, ``estimate``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

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


async def load_prices(override: Path | None, client: Any) -> Any:
    """The shipped price table, OpenRouter's list when a model goes there, then the user's file.

    The fetch is a refinement, never a requirement: if it fails the shipped table stays.
    """
    from engine.llm import PriceTable, fetch_openrouter_prices
    from engine.llm.pricing import read_price_file

    prices = PriceTable.load()
    settings = getattr(client, "settings", None)
    if settings is not None and not settings.base_url and settings.openrouter_api_key:
        fetched = await fetch_openrouter_prices(
            settings.openrouter_base_url, settings.openrouter_api_key
        )
        if fetched:
            prices = prices.merged(fetched)
    if override is not None:
        prices = prices.merged(read_price_file(override))
    return prices


def parse_pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise fail(f"{flag} takes ACTOR=VALUE, got {item!r}", 2)
        if key.strip() in out:
            raise fail(f"{flag} names {key.strip()} twice: give one value per actor", 2)
        out[key.strip()] = value.strip()
    return out


def models_needed(
    scenario: Any, settings_models: dict[str, str], world_model: str | None
) -> list[str]:
    """Every model a run of this scenario would call, for the credentials check."""
    models: set[str] = set()
    for actor_id, actor in scenario.actors.items():
        if actor.control == "ai":
            models.add(settings_models.get(actor_id) or actor.llm_model or "")
    world = world_model or scenario.world_state_model
    if world and world != "rules":
        models.add(world)
    for metric in scenario.metrics:
        if metric.extraction.type == "llm":
            models.add(metric.extraction.model or world or "")
    if scenario.validation is not None and any(
        c.enabled for c in scenario.validation.checks.values()
    ):
        models.add(scenario.validation.validation_model or world or "")
    models.discard("")
    return sorted(models)


def make_client(models: list[str], base_url: str | None) -> Any:
    """The LLM router for these models, after checking credentials (None if no model is needed)."""
    if not models:
        return None
    from urllib.parse import urlsplit

    from engine.llm import LLMSettings, Router

    if base_url:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise fail(
                f"--llm-base-url {base_url!r} is not an http(s) URL "
                "(e.g. http://localhost:11434/v1)",
                2,
            )
    settings = LLMSettings.from_env(os.environ, base_url=base_url)
    router = Router(settings)
    router.check_credentials(models)
    return router


def play(
    db: Path,
    run_id: str,
    *,
    client: Any,
    concurrency: int,
    interactive: bool = False,
    lease: Any = None,
    prices: Path | None = None,
) -> Any:
    """Play a run with a progress display on stderr; returns the final state."""
    import anyio

    from cli.progress import progress_display
    from cli.prompting import ask_human
    from engine.play.player import Progress, RunPlayer

    progress = Progress()

    async def main() -> Any:
        try:
            with open_store(db) as store:
                player = RunPlayer(
                    store,
                    run_id,
                    client=client,
                    prices=await load_prices(prices, client),
                    limiter=anyio.CapacityLimiter(concurrency),
                    human_prompt=ask_human if interactive else None,
                    progress=progress,
                    lease=lease,
                )
                with progress_display(progress):
                    return await player.play()
        finally:
            if client is not None:
                await client.aclose()

    try:
        return anyio.run(main)
    except KeyboardInterrupt:
        # what is recorded stays: the run is interrupted and goes on where it stopped
        raise fail(f"interrupted; `{command(f'resume {run_id}', db)}` goes on", 130) from None


def report_end(state: Any, run_id: str, db: Path) -> None:
    if state.status == "completed":
        status(
            f"run {run_id} completed {state.last_completed_turn} turns, ${state.costs.total_usd:.4f}"
        )
    elif state.status == "halted":
        status(f"run {run_id} halted ({state.halt_reason}): {state.halt_detail}")
        resume = f"resume {run_id}"
        if state.halt_reason == "human_input":
            from engine.play.session import decide_args

            for actor in state.pending_human:
                status(f"  next: {command(decide_args(state, run_id, actor), db)}")
        elif state.halt_reason == "credit_limit":
            # resuming needs a higher limit: suggest twice the one that was reached
            limit = state.settings.credit_limit_usd or 0.0
            resume += f" --credit-limit {max(2 * limit, 1.0):.2f}"
        status(f"  then: {command(resume, db)}")
    else:
        status(f"run {run_id} is {state.status}")


def run(
    path: Annotated[Path, typer.Argument(help="Scenario directory.")],
    db: DbOption = Path(DEFAULT_DB),
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
    concurrency: ConcurrencyOpt = 8,
    llm_base_url: BaseUrlOpt = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Ask for human actors' decisions inline.")
    ] = False,
    prices: PricesOpt = None,
    allow_long_prompts: Annotated[
        bool,
        typer.Option(
            "--allow-long-prompts", help="Send prompts longer than the model's context window."
        ),
    ] = False,
) -> None:
    """Run a scenario; the run id is the last line of stdout."""
    from engine.play.session import check_overrides, start_run
    from engine.scenario.load import load_scenario

    loaded = load_scenario(path)
    for warning in loaded.warnings:
        status(f"warning: {warning}")
    overrides = parse_pairs(model, "--model")
    check_overrides(loaded.scenario, overrides)
    from engine.play.limits import check_prompt_sizes

    for warning in check_prompt_sizes(
        loaded.scenario,
        turns=turns,
        model_overrides=overrides,
        world_model=world_model,
        allow=allow_long_prompts,
    ):
        status(f"warning: {warning}")
    client = make_client(models_needed(loaded.scenario, overrides, world_model), llm_base_url)
    if prices is not None:
        from engine.llm.pricing import read_price_file

        read_price_file(prices)  # a bad price file is reported before any run is recorded
    from eventstore import RunLease, new_id

    run_id = new_id()
    # hold the run's lease from before it exists, so it never looks interrupted
    lease = RunLease(db, run_id)
    with open_store(db, create=True) as store:
        lease.acquire()
        start_run(
            store,
            loaded,
            run_id=run_id,
            seed=seed if seed is not None else 0,
            turns=turns,
            credit_limit_usd=credit_limit,
            model_overrides=overrides,
            world_model=world_model,
            json_mode=json_mode,
        )
    status(f"run {run_id}: {loaded.scenario.name}")
    try:
        state = play(
            db,
            run_id,
            client=client,
            concurrency=concurrency,
            interactive=interactive,
            lease=lease,
            prices=prices,
        )
    finally:
        lease.release()
    report_end(state, run_id, db)
    typer.echo(run_id)


def resume(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    db: DbOption = Path(DEFAULT_DB),
    credit_limit: CreditOpt = None,
    turns: TurnsOpt = None,
    concurrency: ConcurrencyOpt = 8,
    llm_base_url: BaseUrlOpt = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Ask for human actors inline.")
    ] = False,
    prices: PricesOpt = None,
) -> None:
    """Continue a halted, interrupted or crashed run from its last recorded step."""
    from engine.play.session import prepare_resume
    from engine.replay import replay
    from engine.scenario.model import Scenario

    with open_store(db) as store:
        run_id = store.resolve(run_ref)
        state = replay(store, run_id)
        scenario = Scenario.from_resolved(state.scenario)
        client = make_client(
            models_needed(
                scenario, dict(state.settings.model_overrides), state.settings.world_model
            ),
            llm_base_url,
        )
        prepare_resume(
            store, run_id, credit_limit_usd=credit_limit, turns=turns, interactive=interactive
        )
    state = play(
        db, run_id, client=client, concurrency=concurrency, interactive=interactive, prices=prices
    )
    report_end(state, run_id, db)
    typer.echo(run_id)


def fork(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    at_turn: Annotated[
        int,
        typer.Option("--at-turn", min=0, help="The branch shares turns 0..N and plays N+1 next."),
    ],
    db: DbOption = Path(DEFAULT_DB),
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
    concurrency: ConcurrencyOpt = 8,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
    count: Annotated[
        int | None,
        typer.Option(
            "--count", min=1, help="With --play: K branches with derived seeds, as a batch."
        ),
    ] = None,
    parallel: Annotated[
        int, typer.Option("--parallel", min=1, help="With --count: branches played at once.")
    ] = 4,
) -> None:
    """Branch a run at a turn, recording what the branch changes; the branch id is printed last.

    With --play --count K, K branches from the same point play with different derived
    seeds, recorded as a batch (Monte-Carlo continuations); the batch id is printed last.
    """
    if count is not None:
        if not play_it:
            raise fail("--count needs --play", 2)
        changed = decision or inject or human or ai
        if changed:
            raise fail(
                "--count plays plain continuations; drop --decision/--inject/--human/--ai", 2
            )
        _continue(
            db,
            run_ref,
            at_turn,
            count,
            parallel,
            seed,
            turns,
            model,
            credit_limit,
            concurrency,
            llm_base_url,
            prices,
        )
        return
    from engine.play.session import fork_run
    from engine.replay import replay
    from engine.scenario.model import Scenario

    controls = {a: "human" for a in human or []} | {a: "ai" for a in ai or []}
    if set(human or []) & set(ai or []):
        raise fail("an actor cannot be both --human and --ai", 2)
    with open_store(db) as store:
        parent = store.resolve(run_ref)
        branch = fork_run(
            store,
            parent,
            at_turn,
            seed=seed,
            turns=turns,
            model_overrides=parse_pairs(model, "--model"),
            forced_decisions=parse_pairs(decision, "--decision"),
            injections=tuple(inject or ()),
            control_changes=controls,
            credit_limit_usd=credit_limit,
        )
        status(f"branch {branch} of {parent} at turn {at_turn}")
        client = None
        if play_it:
            state = replay(store, branch)
            scenario = Scenario.from_resolved(state.scenario)
            client = make_client(
                models_needed(
                    scenario, dict(state.settings.model_overrides), state.settings.world_model
                ),
                llm_base_url,
            )
    if play_it:
        final = play(db, branch, client=client, concurrency=concurrency, prices=prices)
        report_end(final, branch, db)
    typer.echo(branch)


def replay_cmd(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    db: DbOption = Path(DEFAULT_DB),
    turn: Annotated[
        int | None, typer.Option("--turn", help="State at the end of this turn (default: last).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole state as JSON.")] = False,
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
    if check:
        from engine.audit.check import check_run

        with open_store(db) as store:
            run_id = store.resolve(run_ref)
            checked = check_run(store, run_id)
        typer.echo(f"{run_id}: consistent ({checked} events re-executed)")
        return

    from engine.fold.state import to_builtins
    from engine.replay import replay
    from eventstore import TurnOutOfRange

    with open_store(db) as store:
        run_id = store.resolve(run_ref)
        if turn is not None:
            done = store.completed_turns(run_id)
            last = done[-1] if done else 0
            if turn < 0 or turn > last:
                raise TurnOutOfRange(run_id, turn, last)
        state = replay(store, run_id, to_turn=turn)
    if as_json:
        data = to_builtins(state)
        data.pop("scenario", None)  # the resolved scenario is in `log --type RunStarted --json`
        emit_json(data)
        return
    from cli.state_text import describe_state

    typer.echo(describe_state(state))


def validate(path: Annotated[Path, typer.Argument(help="Scenario directory.")]) -> None:
    """Check a scenario directory; prints every problem and exits 1 if any is an error."""
    from engine.scenario.load import validate_scenario

    problems = validate_scenario(path)
    errors = [p for p in problems if p.severity == "error"]
    for p in problems:
        typer.echo(f"{p.severity}: {p}")
    if errors:
        raise fail(f"{len(errors)} error(s) in {path}", 1)
    typer.echo(f"{path}: valid" + (f" ({len(problems)} warning(s))" if problems else ""))


def estimate(
    path: Annotated[Path, typer.Argument(help="Scenario directory.")],
    turns: TurnsOpt = None,
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    prices: PricesOpt = None,
) -> None:
    """Expected model calls, tokens and cost of a run, from the price table."""
    from engine.llm import PriceTable
    from engine.play.estimate import estimate_run
    from engine.play.session import check_overrides, check_turns
    from engine.scenario.load import load_scenario

    loaded = load_scenario(path)
    overrides = parse_pairs(model, "--model")
    check_overrides(loaded.scenario, overrides)
    if turns is not None:
        check_turns(loaded.scenario, turns)
    est = estimate_run(
        loaded.scenario, PriceTable.load(prices), turns=turns, model_overrides=overrides
    )
    from engine.play.limits import check_prompt_sizes

    for warning in check_prompt_sizes(
        loaded.scenario, turns=turns, model_overrides=overrides, allow=True
    ):
        status(f"warning: {warning}")
    if as_json:
        emit_json(est)
        return
    typer.echo(f"{loaded.scenario.name}: {est['turns']} turns")
    typer.echo(f"{'MODEL':<36} {'CALLS':>6} {'IN TOK':>9} {'OUT TOK':>9} {'USD':>9}")
    for row in est["by_model"]:
        flag = "" if row["priced"] else "  (no price known)"
        typer.echo(
            f"{row['model']:<36} {row['calls']:>6} {row['input_tokens']:>9} {row['output_tokens']:>9} "
            f"{row['cost_usd']:>9.4f}{flag}"
        )
    typer.echo(
        f"{'total':<36} {est['calls']:>6} {est['input_tokens']:>9} {est['output_tokens']:>9} {est['cost_usd']:>9.4f}"
    )


def register(app: typer.Typer) -> None:
    app.command("run")(handle_errors(run))
    app.command("resume")(handle_errors(resume))
    app.command("fork")(handle_errors(fork))
    app.command("replay")(handle_errors(replay_cmd))
    app.command("validate")(handle_errors(validate))
    app.command("estimate")(handle_errors(estimate))


def _continue(
    db: Path,
    run_ref: str,
    at_turn: int,
    count: int,
    parallel: int,
    seed: int | None,
    turns: int | None,
    model: list[str] | None,
    credit_limit: float | None,
    concurrency: int,
    llm_base_url: str | None,
    prices: Path | None,
) -> None:
    """``fork --play --count K``: Monte-Carlo continuations from one point, as a batch."""
    import anyio

    from engine.batch.play import continue_fork
    from engine.llm import PriceTable
    from engine.replay import replay
    from engine.scenario.model import Scenario

    overrides = parse_pairs(model, "--model")
    with open_store(db) as store:
        parent = store.resolve(run_ref)
        state = replay(store, parent)
        scenario = Scenario.from_resolved(state.scenario)
        client = make_client(
            models_needed(
                scenario,
                {**state.settings.model_overrides, **overrides},
                state.settings.world_model,
            ),
            llm_base_url,
        )
        table = (
            anyio.run(load_prices, prices, client)
            if client is not None
            else PriceTable.load(prices)
        )
        batch_id = continue_fork(
            store,
            parent,
            at_turn,
            count,
            parallel=parallel,
            seed=seed,
            client=client,
            prices=table,
            call_limit=concurrency,
            turns=turns,
            model_overrides=overrides,
            credit_limit_usd=credit_limit,
        )
    status(f"batch {batch_id}: {count} continuations of {parent} from turn {at_turn}")
    typer.echo(batch_id)
