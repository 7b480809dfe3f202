"""scenario-lab as a Python library.

``scenario_lab.app`` is the application API both front ends (the CLI and the HTTP
server) are built on: ``Lab(LabSettings(db=...))`` has one method per user operation.
Importing this package loads nothing else; ``Lab`` and ``LabSettings`` load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Lab", "LabSettings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("scenario_lab.app"), name)
    raise AttributeError(f"module 'scenario_lab' has no attribute {name!r}")
