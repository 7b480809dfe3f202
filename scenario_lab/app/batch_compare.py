"""Two batches compared: a counterfactual set against its baseline, or any two batches
of one scenario (``compare --batch A --batch B``, ``report --batch A --batch B``).

``compare_batches`` returns the numbers (``BatchComparison``: per metric and turn the
difference ``B - A`` with its 95% confidence interval, effect size and n per side);
``batch_comparison_document`` draws them as a report with the two sets' fan charts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from engine.batch.results import BatchComparison
from eventstore import InvalidRequest

from .settings import LabSettings
from .store import open_store

if TYPE_CHECKING:
    from projections import Document


class CompareBatches(msgspec.Struct, frozen=True, kw_only=True):
    """Compare ``batches`` (exactly two ids or unique prefixes, A then B: differences
    are B - A). ``paired``: None decides from the batches (paired when their runs pair
    by seed and fork point), True insists on pairing (refused when they do not pair),
    False compares them as independent samples (Welch) even when they pair."""

    batches: tuple[str, ...]
    paired: bool | None = None


def compare_batches(settings: LabSettings, request: CompareBatches) -> BatchComparison:
    """The two batches compared (see ``BatchComparison``)."""
    from engine.batch.compare import compare_batches as compare

    if len(request.batches) != 2:
        raise InvalidRequest(
            "{batches} takes exactly two batches (A, then B), got {n}",
            field="batches",
            values={"n": len(request.batches)},
        )
    a, b = request.batches
    with open_store(settings) as store:
        return compare(store, a, b, paired=request.paired)


def batch_comparison_document(settings: LabSettings, comparison: BatchComparison) -> Document:
    """The comparison as a report (``Document``): summary of the final differences,
    the two sets, then per metric the differences by turn and both sets' fan charts."""
    from projections import batch_comparison_document as document_of

    with open_store(settings) as store:
        return document_of(store, comparison)
