"""What a ``Lab`` needs to know, passed in explicitly: library code reads no environment.

The CLI builds ``LabSettings`` from its flags and environment variables; the server from
its own configuration. ``llm`` says where model calls go (``LLMSettings.from_env`` reads
the documented variables from a mapping the caller passes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.llm import LLMSettings

DEFAULT_DB = Path("scenario-lab.db")
# the bundled examples, when running from a source tree (they are data, not a package)
BUNDLED_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@dataclass(frozen=True)
class LabSettings:
    """Where the log and the analytics file are, where model calls go, and limits.

    ``db``: the log (SQLite). ``analytics``: the DuckDB file (default: beside the log).
    ``llm``: endpoints and keys (default: ``LLMSettings()``, nothing configured).
    ``prices``: a JSON price file merged over the shipped table. ``price_overrides``:
    model -> (input, output[, cached input]) USD per 1M tokens, over everything else
    (the CLI's ``--price MODEL=IN,OUT[,CACHED]``). ``concurrency``: model
    calls in flight at once (per run; batch-wide for a batch). ``scenario_dirs``: folders
    whose sub-folders are the scenarios offered by name (``list_scenarios``).
    """

    db: Path | str = DEFAULT_DB  # a file, or a postgresql:// URL (eventstore.log_location)
    analytics: Path | None = None
    llm: LLMSettings | None = None
    prices: Path | None = None
    price_overrides: dict[str, tuple[float, ...]] = field(default_factory=dict)
    concurrency: int = 8
    scenario_dirs: tuple[Path, ...] = ()

    def llm_settings(self) -> LLMSettings:
        from engine.llm import LLMSettings

        return self.llm if self.llm is not None else LLMSettings()
