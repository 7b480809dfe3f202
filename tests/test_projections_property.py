"""Property: catching up in any number of steps gives the tables a rebuild gives.

Hypothesis plays random logs (several roots, forks of forks at random completed turns,
parents going on after their forks, halts and completions) and projects them after
random stretches of appends, each catch-up in random transaction sizes. A rebuild of the
final log into another file must then hold exactly the same rows in every table.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore import EventStore, RunResumed
from projections import TABLES, project
from tests.projection_logs import RunShape, continue_run, write_run

SHAPE = RunShape(actors=("north", "south"), metrics=("tension",), words=6, fail_turns=(2,))


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name: con.execute(f"SELECT * FROM {name} ORDER BY {', '.join(t.key)}").fetchall()
            for name, t in TABLES.items()
        }
    finally:
        con.close()


def _step(store: EventStore, data: st.DataObject, runs: dict[str, int], n: int) -> None:
    """One random change to the log: a new run, a played turn, a fork, or an ending."""
    kind = data.draw(
        st.sampled_from(["root", "turn", "turn", "fork", "end"]) if runs else st.just("root")
    )
    if kind == "root":
        run = write_run(
            store,
            f"r{n}",
            turns=data.draw(st.integers(0, 2)),
            seed=n,
            shape=SHAPE,
            finish="running",
        )
        runs[run] = store.completed_turns(run)[-1]
        return
    run = data.draw(st.sampled_from(sorted(runs)))
    if kind == "turn":
        nxt = runs[run] + 1
        continue_run(
            store, run, range(nxt, nxt + 1), seed=n, shape=SHAPE, tag=f"-{n}", finish="running"
        )
        runs[run] = nxt
    elif kind == "fork":
        at = data.draw(st.integers(0, runs[run]))
        child = store.fork(
            run, at, new_run_id=f"f{n}", changes={"seed": n, "variation": {"k": n % 3}}
        )
        runs[child] = at
    else:
        how = data.draw(st.sampled_from(["completed", "halted", "resumed"]))
        if how == "resumed":
            store.append(run, [RunResumed(turn=runs[run])], expected_seq=store.last_seq(run))
        else:
            continue_run(store, run, range(0), finish=how)


def _catch_up(store: EventStore, path: Path, data: st.DataObject) -> None:
    """A catch-up in stretches and transactions of drawn sizes, so their edges fall
    anywhere: inside a run, between a fork and its parent, before a fork of a fork."""
    project(
        store,
        path,
        chunk_events=data.draw(st.integers(1, 200)),
        transaction_events=data.draw(st.integers(1, 400)),
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_incremental_catch_up_equals_rebuild(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = EventStore.open(root / "log.db")
        try:
            runs: dict[str, int] = {}
            steps = data.draw(st.integers(1, 10))
            for n in range(steps):
                _step(store, data, runs, n)
                if data.draw(st.booleans()):
                    _catch_up(store, root / "inc.duckdb", data)
            _catch_up(store, root / "inc.duckdb", data)
            project(store, root / "full.duckdb", rebuild=True)
        finally:
            store.close()
        incremental, rebuilt = _tables(root / "inc.duckdb"), _tables(root / "full.duckdb")
        for name in TABLES:
            assert incremental[name] == rebuilt[name], name
        assert len(rebuilt["runs"]) == len(runs)
