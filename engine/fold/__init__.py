"""State and the pure fold: ``apply(state, event) -> state`` over frozen values.

Nothing here does I/O, reads a clock or draws a random number, and importing it loads
no database or network library (an import-linter contract holds that).
"""

from engine.fold.handlers import apply, replay_events
from engine.fold.state import RunState

__all__ = ["RunState", "apply", "replay_events"]
