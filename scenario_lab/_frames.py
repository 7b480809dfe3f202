"""Arrow tables as the DataFrames a notebook works with: pandas or polars.

Both are optional (``pip install 'scenario-lab[notebook]'``); asking for one that is not
installed is a one-line ``MissingExtra`` naming what to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

from eventstore import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

FrameKind = Literal["pandas", "polars", "arrow"]
FRAME_KINDS: tuple[str, ...] = ("pandas", "polars", "arrow")


class MissingExtra(UsageError):
    """A DataFrame library the call needs is not installed."""

    code = "missing-extra"


def check_kind(kind: str) -> None:
    """Refuse a DataFrame kind this module cannot make."""
    if kind not in FRAME_KINDS:
        raise UsageError(
            f"unknown DataFrame kind {kind!r} (known: {', '.join(FRAME_KINDS)})",
            hint='open(..., frames="pandas")',
        )


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingExtra(
            f"{name} is not installed: pip install 'scenario-lab[notebook]' (or pip install {name})"
        ) from None


def to_frame(table: pa.Table, kind: str) -> Any:
    """``table`` as a pandas or polars DataFrame (``arrow``: the table itself)."""
    check_kind(kind)
    if kind == "arrow":
        return table
    if kind == "polars":
        return _module("polars").from_arrow(table)
    _module("pandas")
    return table.to_pandas()
