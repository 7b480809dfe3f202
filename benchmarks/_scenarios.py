"""Synthetic scenario directories the engine and batch benchmarks play.

Written as YAML files, like a user's, so a benchmark pays the same loading and
validation a real run does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Three declared actions whose effects pull the two variables apart.
ACTIONS: list[dict[str, Any]] = [
    {"name": "push", "effects": {"tension": 0.5}, "narrative": "{actor} pushes."},
    {"name": "trade", "effects": {"trade": 2}, "narrative": "{actor} trades."},
    {"name": "calm", "effects": {"tension": -0.5}, "narrative": "{actor} calms."},
]


def _write(root: Path, scenario: dict[str, Any], actors: list[dict[str, Any]]) -> Path:
    (root / "actors").mkdir(parents=True)
    (root / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    for actor in actors:
        (root / "actors" / f"{actor['short_name']}.yaml").write_text(yaml.safe_dump(actor))
    return root


def rules_scenario(root: Path, actors: int, turns: int, name: str = "bench-rules") -> Path:
    """``actors`` rule-driven actors over two variables, ``turns`` turns: no model calls."""
    names = [f"r{i}" for i in range(actors)]
    scenario = {
        "name": name,
        "turns": turns,
        "actors": names,
        "variables": {
            "tension": {"initial": 5, "min": 0, "max": 10, "noise": 0.2},
            "trade": {"initial": 50, "min": 0, "max": 100, "drift": -0.1},
        },
    }
    seats = [
        {
            "name": n,
            "short_name": n,
            "control": "rules",
            "actions": ACTIONS,
            # alternate signs: half the actors want tension up, half down
            "preferences": {"tension": (-1) ** i, "trade": 0.5},
        }
        for i, n in enumerate(names)
    ]
    return _write(root, scenario, seats)


def llm_scenario(root: Path, actors: int, turns: int, name: str = "bench") -> Path:
    """``actors`` AI actors and a world-update model: ``actors + 1`` calls a turn."""
    names = [f"a{i}" for i in range(actors)]
    scenario = {
        "name": name,
        "initial_world_state": "start",
        "turns": turns,
        "actors": names,
        "world_state_model": "bench/world",
    }
    seats = [
        {"name": n, "short_name": n, "llm_model": "bench/actor", "goals": ["g"]} for n in names
    ]
    return _write(root, scenario, seats)
