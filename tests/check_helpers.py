"""Helpers of the replay-check and resume tests: a scenario that uses every kind of model
call, a fake model that answers it, waiting for a kill point, and the check itself."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace as with_fields
from pathlib import Path
from typing import Any

import anyio

from engine.fold.state import RunState
from engine.llm import LLMClient, LLMSettings, PriceTable, Router
from engine.play.player import RunPlayer
from engine.play.session import prepare_resume, start_run
from engine.scenario.load import load_scenario
from eventstore import EventStore
from tests.engine_helpers import LLM3, cli, llm_env
from tests.fakellm import DEFAULT_DECISION

Wrap = Callable[[LLMClient], LLMClient]

TALKERS = ("techco", "regulator", "ngo")

VALIDATION = """\
validation_model: test/world
checks:
  plausibility:
    description: The world update follows from the actions
    severity: medium
run_after_each_turn: true
halt_on_critical: false
"""


def talks_scenario(tmp_path: Path, *, validation: bool = False) -> Path:
    """llm3 with every channel open and room for three communications per actor; with
    ``validation``, one check after each turn too (every kind of call in every turn)."""
    root = tmp_path / "talks3"
    shutil.copytree(LLM3, root)
    yaml = root / "scenario.yaml"
    text = yaml.read_text()
    for channel in ("bilateral_communication", "coalition_formation", "public_statements"):
        text = text.replace(f"enable_{channel}: false", f"enable_{channel}: true")
    yaml.write_text(text + "max_communications_per_turn: 3\n")
    if validation:
        (root / "validation-rules.yaml").write_text(VALIDATION)
    return root


def talker(request: dict[str, Any]) -> str | None:
    """Answers that use every channel: techco and regulator talk, ngo says nothing readable.

    techco writes to regulator, regulator to ngo (each is answered), both speak in public;
    techco proposes a coalition, regulator joins, ngo declines; in turn 2 both members
    write to the coalition. Each decision's answer depends on its whole prompt, so an
    answer served to the wrong call shows.
    """
    schema = request.get("response_format", {}).get("json_schema", {}).get("name")
    prompt = json.dumps(request["messages"])
    me = next((a for a in TALKERS if f"SECRET-{a}-PRIVATE" in prompt), None)
    if me is None:
        return None
    if schema == "decision":  # each decision its own answer, so one can be changed alone
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
        return json.dumps({**DEFAULT_DECISION, "action": f"{me} acts ({digest})"})
    if schema not in ("talkplan", "reply", "coalitionanswer"):
        return None
    if schema == "reply":
        return json.dumps({"reply": f"{me} answers"})
    if schema == "coalitionanswer":
        return json.dumps({"accept": me == "regulator", "reason": f"{me} has reasons"})
    if me == "ngo":
        return "Nothing to say this turn."  # unreadable: the plan sends nothing
    messages = [{"to": TALKERS[TALKERS.index(me) + 1], "content": f"{me} writes privately"}]
    coalition = re.search(r"`to`: (m\d+-[a-z]+-\d+)", prompt)
    if coalition:
        messages.append({"to": coalition.group(1), "content": f"{me} writes to the coalition"})
    proposes = me == "techco" and coalition is None
    return json.dumps(
        {
            "messages": messages,
            "coalition_members": ["regulator", "ngo"] if proposes else [],
            "coalition_purpose": "common export rules" if proposes else "",
            "public_statement": f"{me} speaks in public",
        }
    )


def event_count(db: Path | str) -> int:
    """Events in the log (0 before it exists), read as any other process could."""
    if isinstance(db, str):  # a PostgreSQL log's URL
        from eventstore import StoreError
        from tests.store_helpers import raw_connection

        try:
            with raw_connection(db) as pg:
                return int(pg.execute("SELECT count(*) FROM events").fetchone()[0])
        except (StoreError, sqlite3.DatabaseError):
            return 0  # the tables are not made yet
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is being created


def wait_for_events(db: Path | str, n: int, proc: Any, timeout: float = 30.0) -> None:
    """Block until the log holds at least ``n`` events (a kill point), or ``proc`` ended."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if event_count(db) >= n or proc.poll() is not None:
            return
        time.sleep(0.005)
    raise AssertionError(f"the run never reached {n} events")


def consistent(db: Path | str, run_id: str) -> None:
    """``replay --check`` passes on the run, as the CLI runs it."""
    check = cli("replay", run_id, "--db", db, "--check")
    assert check.exit_code == 0, check.output
    assert f"{run_id}: consistent" in check.stdout


def play_here(
    base_url: str,
    db: Path,
    scenario: Path,
    run_id: str | None = None,
    *,
    wrap: Wrap | None = None,
    json_mode: bool = True,
    turns: int = 2,
) -> tuple[str, RunState]:
    """Start (or resume) a run in this process, against the model at ``base_url`` with no
    retries (so one failed attempt is the call's failure); ``wrap`` wraps the client."""
    settings = with_fields(LLMSettings.from_env(llm_env(base_url)), max_retries=0)

    async def go() -> tuple[str, RunState]:
        async with Router(settings) as router:
            client = wrap(router) if wrap else router
            with EventStore.open(db) as store:
                rid = run_id
                if rid is None:
                    loaded = load_scenario(scenario)
                    rid = start_run(store, loaded, seed=5, turns=turns, json_mode=json_mode)
                else:
                    prepare_resume(store, rid)
                player = RunPlayer(store, rid, client=client, prices=PriceTable.load())
                return rid, await player.play()

    return anyio.run(go)
