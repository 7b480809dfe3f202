"""A batch's plan: its variations and every run, with ids and seeds fixed up front.

The plan is what a batch records (``record_batch``: the resolved batch file, the base
scenario as resolved, each variation's overrides, each run's id and seed), so that
``batch resume`` rebuilds it from the log alone: editing the files later changes no
batch, and "not started" is "planned but not in the log".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ScenarioInvalid
from engine.rng import derive_seed
from engine.scenario.load import LoadedScenario, apply_overrides, scenario_sha256
from engine.scenario.model import Scenario
from eventstore import EventStore, new_id

PLAN_FORMAT = 1


@dataclass(frozen=True)
class Variation:
    """One combination of values: its label, and how a run of it is set up."""

    index: int
    label: dict[str, Any]  # label key -> value, as RunSettings.variation records it
    model_overrides: dict[str, str]
    overrides: dict[str, Any]  # dotted path -> value, applied to the base scenario
    scenario_sha256: str
    loaded: LoadedScenario | None = None  # None for continuations (forks need no scenario)

    @property
    def name(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.label.items()) or "base scenario"


@dataclass(frozen=True)
class PlannedRun:
    index: int  # position in the plan (the seed derives from it)
    run_id: str
    variation: int
    replicate: int
    seed: int


@dataclass
class BatchPlan:
    """What a batch plays: its variations and every run, ids and seeds fixed up front."""

    kind: str  # "matrix" (a batch file) or "continuations" (forks of one run)
    name: str
    description: str
    config: dict[str, Any]  # the resolved batch file (or the continuation request)
    variations: list[Variation]
    runs: list[PlannedRun]
    base: LoadedScenario | None = None
    source: str = ""  # the batch file, or "run <id> at turn <n>"
    warnings: list[str] = field(default_factory=list)
    tags: tuple[str, ...] = ()  # given to every run of the batch (not part of its config)

    @property
    def budget_usd(self) -> float | None:
        value = self.config.get("budget_limit")
        return None if value is None else float(value)

    @property
    def cost_per_run_usd(self) -> float | None:
        value = self.config.get("cost_per_run_limit")
        return None if value is None else float(value)

    @property
    def max_parallel(self) -> int | None:
        value = self.config.get("max_parallel")
        return None if value is None else int(value)

    def config_sha256(self) -> str:
        """Identifies the experiment (the resolved file and base scenario), not its run ids."""
        what = {"kind": self.kind, "config": self.config}
        if self.base is not None:
            what["base_scenario_sha256"] = self.base.sha256
        text = json.dumps(what, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def plan_runs(variations: int, replicates: int, seed: int) -> list[PlannedRun]:
    """Replicate-major order: replicate 0 of every variation first, then replicate 1...

    So a batch stopped early (its budget spent) leaves every variation with about the
    same number of runs. Each run's seed is ``derive_seed(seed, index, "batch")``.
    """
    out = []
    for replicate in range(replicates):
        for v in range(variations):
            index = replicate * variations + v
            out.append(
                PlannedRun(
                    index=index,
                    run_id=new_id(),
                    variation=v,
                    replicate=replicate,
                    seed=derive_seed(seed, index, "batch"),
                )
            )
    return out


def with_overrides(base: LoadedScenario, overrides: Mapping[str, Any]) -> LoadedScenario:
    """The base scenario with dotted-path values set (the base itself when there are none)."""
    if not overrides:
        return base
    resolved = apply_overrides(base.resolved, overrides)
    return LoadedScenario(
        scenario=Scenario.from_resolved(resolved),
        resolved=resolved,
        sha256=scenario_sha256(resolved),
    )


# -- the recorded plan ----------------------------------------------------------------


def plan_document(plan: BatchPlan) -> dict[str, Any]:
    """The JSON a batch records: enough to rebuild the plan with no file at hand."""
    doc: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "kind": plan.kind,
        "name": plan.name,
        "description": plan.description,
        "source": plan.source,
        "config": plan.config,
        "variations": [
            {
                "index": v.index,
                "label": v.label,
                "model_overrides": v.model_overrides,
                "overrides": v.overrides,
                "scenario_sha256": v.scenario_sha256,
            }
            for v in plan.variations
        ],
        "runs": [
            {
                "index": r.index,
                "run_id": r.run_id,
                "variation": r.variation,
                "replicate": r.replicate,
                "seed": r.seed,
            }
            for r in plan.runs
        ],
    }
    if plan.tags:
        doc["tags"] = list(plan.tags)
    if plan.base is not None:
        doc["base_scenario"] = {"sha256": plan.base.sha256, "resolved": plan.base.resolved}
    return doc


def plan_from_document(doc: Mapping[str, Any], *, batch_id: str = "") -> BatchPlan:
    """The plan a batch recorded; each variation's scenario is rebuilt and checked."""
    if doc.get("format") != PLAN_FORMAT:
        raise ScenarioInvalid(
            f"batch {batch_id} was recorded in plan format {doc.get('format')!r}, "
            f"this scenario-lab reads format {PLAN_FORMAT}",
            hint="use the scenario-lab version that recorded it",
        )
    base: LoadedScenario | None = None
    if "base_scenario" in doc:
        resolved = doc["base_scenario"]["resolved"]
        base = LoadedScenario(Scenario.from_resolved(resolved), resolved, scenario_sha256(resolved))
    variations = []
    for v in doc["variations"]:
        loaded = with_overrides(base, v["overrides"]) if base is not None else None
        if loaded is not None and loaded.sha256 != v["scenario_sha256"]:
            raise ScenarioInvalid(
                f"batch {batch_id}: variation {v['index']} no longer resolves to the scenario "
                "it recorded (scenario-lab changed how overrides apply)",
                hint="resume it with the scenario-lab version that started it",
            )
        variations.append(
            Variation(
                index=v["index"],
                label=dict(v["label"]),
                model_overrides=dict(v["model_overrides"]),
                overrides=dict(v["overrides"]),
                scenario_sha256=v["scenario_sha256"],
                loaded=loaded,
            )
        )
    runs = [PlannedRun(**r) for r in doc["runs"]]
    return BatchPlan(
        kind=doc["kind"],
        name=doc["name"],
        description=doc.get("description", ""),
        config=dict(doc["config"]),
        variations=variations,
        runs=runs,
        base=base,
        source=doc.get("source", ""),
        tags=tuple(doc.get("tags", ())),
    )


# -- recording -------------------------------------------------------------------------


def record_batch(store: EventStore, plan: BatchPlan, *, batch_id: str | None = None) -> str:
    """Record the batch (its resolved config and every planned run); returns its id."""
    # key order kept: a variation label reads in the order the file gave its dimensions
    doc = json.dumps(plan_document(plan), ensure_ascii=False).encode()
    return store.create_batch(plan.name, doc, plan.config_sha256(), batch_id=batch_id)


def batch_plan(store: EventStore, batch_ref: str) -> tuple[str, BatchPlan]:
    """The full batch id (``batch_ref`` may be a prefix) and the plan it recorded."""
    row = store.batch(batch_ref)
    try:
        doc = json.loads(row["config"])
    except ValueError as e:
        raise ScenarioInvalid(f"batch {row['batch_id']} has an unreadable plan: {e}") from e
    return row["batch_id"], plan_from_document(doc, batch_id=row["batch_id"])
