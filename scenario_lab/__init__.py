"""scenario-lab as a Python library.

For notebooks and scripts: ``scenario_lab.open(path)`` gives a ``Database`` whose
methods are synchronous (they work inside Jupyter's running event loop too) and return
DataFrames (pandas or polars, from the ``notebook`` extra):

    import scenario_lab
    db = scenario_lab.open("study.db")
    run = db.run("scenarios/strait-crisis", seed=7, name="baseline", tags=["study"])
    db.metrics(run.run_id)

``scenario_lab.app`` is the application API every front end (the CLI, the HTTP server,
this facade) is built on: ``Lab(LabSettings(db=...))`` has one method per user
operation. Importing this package loads nothing else; each name loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Database", "Lab", "LabSettings", "MissingExtra", "open"]

_HOMES = {
    "Database": "scenario_lab._database",
    "open": "scenario_lab._database",
    "MissingExtra": "scenario_lab._frames",
    "Lab": "scenario_lab.app",
    "LabSettings": "scenario_lab.app",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'scenario_lab' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
