"""``scenario-lab serve``: the HTTP API over the log, on uvicorn."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from cli.commands_run import BaseUrlOpt, ConcurrencyOpt, PricesOpt
from cli.common import DEFAULT_DB, DbOption, fail, handle_errors, status


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket on ``host:port`` (port 0: a free one), so the real port is known
    before the server starts and can be printed."""
    try:
        family, kind, proto, _name, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
    except socket.gaierror as e:
        raise fail(f"cannot listen on {host!r}: {e.strerror}", 2) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        hint = " (choose another --port, or --port 0 for a free one)" if port else ""
        raise fail(f"cannot listen on {host}:{port}: {e.strerror}{hint}", 1) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    db: DbOption = DEFAULT_DB,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8000,
    scenarios: Annotated[
        list[Path] | None,
        typer.Option(
            "--scenarios",
            help="A folder whose sub-folders are scenarios to offer (repeatable). The "
            "first one also receives the scenarios saved from the browser's editor "
            "(POST /api/v1/scenarios); without it nothing can be saved.",
        ),
    ] = None,
    analytics: Annotated[
        Path | None,
        typer.Option("--analytics", help="The analytics file (default: the log's .duckdb)."),
    ] = None,
    llm_base_url: BaseUrlOpt = None,
    prices: PricesOpt = None,
    concurrency: ConcurrencyOpt = 8,
) -> None:
    """Serve the HTTP API (runs, events, live streams, seats) over the log; prints its URL.
    Runs it starts call models as `run` does (the same environment variables and flags)."""
    import os

    import uvicorn

    from scenario_lab.app import LabSettings, LLMSettings, analytics_path, log_location
    from server import Settings, create_app, is_loopback
    from server.accounts import Accounts

    log = log_location(db)
    dirs = tuple(scenarios or ())
    for d in dirs:
        if not d.is_dir():
            raise fail(f"--scenarios {d}: no such folder", 2)
    if analytics is not None:
        analytics_path(LabSettings(db=log, analytics=analytics))
    with Accounts.open(log) as accounts:
        has_accounts = accounts.has_principals()
    if not has_accounts and not is_loopback(host):
        raise fail(
            f"refusing to serve on {host} without users or keys: anyone could use it "
            "(add one with `scenario-lab users add NAME --role admin`, or serve on 127.0.0.1)",
            2,
        )
    sock = _listen(host, port)
    real_port = sock.getsockname()[1]
    settings = Settings(
        db=log,
        analytics=analytics,
        scenario_dirs=dirs,
        host=host,
        port=real_port,
        accounts=has_accounts,
        llm=LLMSettings.from_env(os.environ, base_url=llm_base_url),
        prices=prices,
        concurrency=concurrency,
    )
    app = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"http://{shown}:{real_port}/", nl=True)
    if not has_accounts:
        status(
            "no users or keys: serving open on loopback only, every request acts as admin "
            "(add users with `scenario-lab users add`)"
        )
    status(f"API docs at http://{shown}:{real_port}/api/docs; stop with Ctrl-C")
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(handle_errors(serve))
