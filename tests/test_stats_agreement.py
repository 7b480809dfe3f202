"""``sql ... FROM variation_stats`` and the batch report give the same statistics.

A property over generated batches: variations, replicates, runs that complete, halt or
are still playing, metrics whose extraction failed on the last turn (the final value is
the last one recorded), actor-specific metrics, ties and single values. The batch's
runs are written as the engine records them, then read twice:

- as ``scenario-lab report --batch`` does: ``batch_stats`` folds each run from the log;
- as a user does: ``scenario-lab sql "SELECT ... FROM variation_stats" --format json``
  through the real CLI (catch-up, then the sandboxed read-only connection).

Both must give the very same numbers (JSON floats round-trip exactly), before and after
a later catch-up brings the runs that finished since.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from engine.batch.plan import BatchPlan, Variation, plan_runs, record_batch
from engine.batch.stats import batch_stats
from engine.scenario.load import LoadedScenario, load_scenario
from eventstore import (
    Event,
    EventStore,
    MetricRecorded,
    RunCompleted,
    RunHalted,
    RunSettings,
    RunStarted,
    TurnCompleted,
    TurnStarted,
)
from tests.engine_helpers import RULES3, cli

ACTORS = ("north", "south")
# (name, actor) of the metrics a run may record; "resolve" is actor-specific
METRICS = (("tension", None), ("trade", None), ("resolve", "north"), ("resolve", "south"))

# a value drawn from a few, so that variations have ties and equal spreads
values = st.one_of(st.sampled_from([0.0, 1.5, 2.0, -3.25, 1e6]), st.floats(-1e6, 1e6))
maybe = st.one_of(values, values, values, st.none())  # None: the extraction failed


@dataclass(frozen=True)
class RunSpec:
    end: str  # completed, halted, running
    late: bool  # its last turn arrives after the first query
    # per metric: the values of turns 1 and 2 (None: the extraction failed) or absent
    metrics: dict[int, tuple[float | None, float | None]]


runs_strategy = st.builds(
    RunSpec,
    end=st.sampled_from(["completed", "completed", "completed", "halted", "running"]),
    late=st.booleans(),
    metrics=st.dictionaries(
        st.integers(0, len(METRICS) - 1),
        st.tuples(maybe, maybe),
        min_size=1,
        max_size=len(METRICS),
    ),
)


@st.composite
def batches(draw: st.DrawFn) -> tuple[int, int, list[RunSpec]]:
    variations = draw(st.integers(1, 3))
    replicates = draw(st.integers(1, 5))
    specs = draw(st.lists(runs_strategy, min_size=variations * replicates).map(tuple))
    return variations, replicates, list(specs[: variations * replicates])


def _plan(base: LoadedScenario, variations: int, replicates: int) -> BatchPlan:
    return BatchPlan(
        kind="matrix",
        name="generated",
        description="",
        config={"runs_per_variation": replicates, "seed": 3, "base_scenario": "rules3"},
        variations=[
            Variation(
                index=i,
                label={"level": i},
                model_overrides={},
                overrides={},
                scenario_sha256=base.sha256,
                loaded=base,
            )
            for i in range(variations)
        ],
        runs=plan_runs(variations, replicates, seed=3),
        base=base,
        source="generated",
    )


def _turn(turn: int, spec: RunSpec) -> list[Event]:
    events: list[Event] = [TurnStarted(turn=turn)]
    for index, pair in sorted(spec.metrics.items()):
        name, actor = METRICS[index]
        value = pair[turn - 1]
        error = "unparsable metric answer" if value is None else None
        events.append(
            MetricRecorded(
                turn=turn, name=name, actor=actor, value=value, method="llm", error=error
            )
        )
    return [*events, TurnCompleted(turn=turn)]


def _ending(spec: RunSpec) -> list[Event]:
    if spec.end == "completed":
        return [RunCompleted(turn=2, turns_completed=2, total_cost_usd=0.0)]
    if spec.end == "halted":
        return [RunHalted(turn=2, reason="credit_limit", detail="the next call would cross $1")]
    return []


def _python(db: Path, batch_id: str) -> dict[tuple[int, str], tuple[Any, ...]]:
    """What the batch report shows: (variation, metric) -> the summary's numbers."""
    with EventStore.open(db) as store:
        stats = batch_stats(store, batch_id)
    out = {}
    for v in stats.variations:
        for key, s in v.metrics.items():
            if s.n:  # the table has no row for a metric no completed run of it has
                ci = s.ci95 or (None, None)
                out[(v.index, key)] = (s.n, s.mean, s.stddev, *ci, s.min, s.median, s.max)
    return out


def _sql(db: Path, batch_id: str) -> dict[tuple[int, str], tuple[Any, ...]]:
    """What a user gets from ``scenario-lab sql`` (JSON output)."""
    result = cli(
        "sql",
        "SELECT variation_index, name || coalesce('/' || actor, '') AS metric, n, mean, "
        f"stddev, ci95_low, ci95_high, min, median, max FROM variation_stats "
        f"WHERE batch_id = '{batch_id}'",
        "--db",
        str(db),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    out = {}
    for r in rows:
        key = (r.pop("variation_index"), r.pop("metric"))
        assert key not in out
        out[key] = tuple(r.values())
    return out


BASE = load_scenario(RULES3)


# An example takes about a second (a log, a catch-up, the CLI, twice): shrinking a
# failure would run past the test timeout, so a failure is reported as found.
@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batches())
def test_sql_and_the_report_agree_on_generated_batches(
    batch: tuple[int, int, list[RunSpec]],
) -> None:
    variations, replicates, specs = batch
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "log.db"
        plan = _plan(BASE, variations, replicates)
        with EventStore.open(db) as store:
            batch_id = record_batch(store, plan)
            for planned, spec in zip(plan.runs, specs, strict=True):
                started = RunStarted(
                    turn=0,
                    scenario_name=BASE.scenario.name,
                    scenario=BASE.resolved,
                    scenario_sha256=BASE.sha256,
                    seed=planned.seed,
                    settings=RunSettings(
                        turns=2, batch_id=batch_id, variation={"level": planned.variation}
                    ),
                    tool_version="test",
                )
                now = [started, TurnCompleted(turn=0), *_turn(1, spec)]
                if not spec.late:
                    now += [*_turn(2, spec), *_ending(spec)]
                store.create_run(planned.run_id, batch_id=batch_id, events=now)
        first = _sql(db, batch_id)
        assert first == _python(db, batch_id)
        with EventStore.open(db) as store:
            for planned, spec in zip(plan.runs, specs, strict=True):
                if spec.late:
                    later = [*_turn(2, spec), *_ending(spec)]
                    store.append(planned.run_id, later, expected_seq=store.last_seq(planned.run_id))
        final = _sql(db, batch_id)
        assert final == _python(db, batch_id)
        event(f"rows compared, capped at 5: {min(len(first), 5)} then {min(len(final), 5)}")
