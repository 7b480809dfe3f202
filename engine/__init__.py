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
    "apply": "engine.fold",
    "replay_events": "engine.fold",
    "replay": "engine.replay",
    "RunState": "engine.state",
    "visible_messages": "engine.state",
    "Scenario": "engine.scenario_model",
    "LoadedScenario": "engine.scenario_load",
    "Problem": "engine.scenario_load",
    "load_scenario": "engine.scenario_load",
    "validate_scenario": "engine.scenario_load",
    "apply_overrides": "engine.scenario_load",
    "start_run": "engine.session",
    "prepare_resume": "engine.session",
    "fork_run": "engine.session",
    "RunPlayer": "engine.runner",
    "Progress": "engine.runner",
    "check_run": "engine.replay_check",
    "audit": "engine.audit",
    "estimate_run": "engine.estimate",
    "summarize_all": "engine.run_summary",
    "run_batch": "engine.batch",
    "continue_fork": "engine.batch",
    "load_batch": "engine.batch_config",
    "batch_stats": "engine.batch_stats",
    "batch_report_markdown": "engine.batch_report",
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
