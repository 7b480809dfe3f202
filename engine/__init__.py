"""The engine: scenarios, the fold, the turn loop, actor brains and the LLM layer.

    loaded = load_scenario("scenarios/strait-crisis")
    run_id = start_run(store, loaded, seed=7)
    state = anyio.run(RunPlayer(store, run_id, client=None, prices=PriceTable.load()).play)
    replay(store, run_id, to_turn=3)        # the state at the end of turn 3, no model calls

Importing ``engine`` stays light: the heavy parts load when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "apply": "engine.fold.handlers",
    "replay_events": "engine.fold.handlers",
    "replay": "engine.replay",
    "RunState": "engine.fold.state",
    "visible_messages": "engine.fold.state",
    "Scenario": "engine.scenario.model",
    "LoadedScenario": "engine.scenario.load",
    "Problem": "engine.scenario.load",
    "load_scenario": "engine.scenario.load",
    "validate_scenario": "engine.scenario.load",
    "apply_overrides": "engine.scenario.load",
    "start_run": "engine.play.session",
    "prepare_resume": "engine.play.session",
    "fork_run": "engine.play.session",
    "RunPlayer": "engine.play.player",
    "Progress": "engine.play.player",
    "check_run": "engine.audit.check",
    "audit": "engine.audit.trail",
    "estimate_run": "engine.play.estimate",
    "summarize_all": "engine.summary",
    "run_batch": "engine.batch.play",
    "continue_fork": "engine.batch.play",
    "load_batch": "engine.batch.config",
    "batch_stats": "engine.batch.stats",
    "PriceTable": "engine.llm",
    "Router": "engine.llm",
    "LLMSettings": "engine.llm",
    "ScenarioInvalid": "engine.errors",
    "MissingCredentials": "engine.errors",
    "LLMUnavailable": "engine.errors",
    "BudgetExceeded": "engine.errors",
    "RunNotPlayable": "engine.errors",
    "NondeterminismError": "engine.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
