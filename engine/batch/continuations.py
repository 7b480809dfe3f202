"""Sets of continuations of one run: K branches from one turn, recorded as a batch.

A *baseline set* is K plain continuations (``fork RUN --at-turn N --count K``); a
*counterfactual set* gives every branch the same edit (forced decisions, injected
events) in turn N+1. Both are batches of kind ``continuations``, so batch tooling,
statistics, ``batch resume`` and ``compare --batch A --batch B`` treat them alike.

How branch ``i``'s seed derives (``S`` is ``seed`` if given, else the parent run's own):

- paired (common random numbers): ``derive_seed(S, i, "paired:<N>")``. It depends on
  the parent run (its seed), the fork turn and the index only, never on the edit, so a
  baseline made with ``paired`` today pairs with an edited set made with ``paired``
  last week (branch i of each draws the same numbers), whatever order they were made
  in; and the same parent replayed into another log gives the same seeds.
- unpaired, no edit: ``derive_seed(S, i, "continue")``;
- unpaired, with an edit: ``derive_seed(S, i, "continue:<edit digest>")``, so an edited
  set and a baseline are independent samples unless asked to pair.

The same request gives the same seeds, hence (rule-driven, or with recorded answers) the
same logs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.batch.plan import BatchPlan, PlannedRun, Variation, record_batch
from engine.errors import ScenarioInvalid
from engine.play.session import fork_run
from engine.replay import replay
from engine.rng import derive_seed
from eventstore import EventStore, new_id


@dataclass(frozen=True)
class ForkEdit:
    """What every branch of a counterfactual set changes in its first turn."""

    decisions: Mapping[str, str] = field(default_factory=dict)  # actor -> action
    injections: tuple[str, ...] = ()  # exogenous events

    def __bool__(self) -> bool:
        return bool(self.decisions or self.injections)

    def document(self) -> dict[str, Any]:
        return {"decisions": dict(sorted(self.decisions.items())), "inject": list(self.injections)}

    def digest(self) -> str:
        """A short hash of the edit (it tells unpaired sets' seeds apart)."""
        text = json.dumps(self.document(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """The edit in words for a batch's name, e.g. ``eastern-power=hotline_call``."""
        parts = [f"{a}={t}" for a, t in sorted(self.decisions.items())]
        parts += [f"inject {t!r}" for t in self.injections]
        return ", ".join(parts)


def continuation_seed(
    base_seed: int, at_turn: int, index: int, edit: ForkEdit, *, paired: bool
) -> int:
    """Branch ``index``'s seed (see the module docstring for the scheme)."""
    if paired:
        return derive_seed(base_seed, index, f"paired:{at_turn}")
    if edit:
        return derive_seed(base_seed, index, f"continue:{edit.digest()}")
    return derive_seed(base_seed, index, "continue")


def record_continuations(
    store: EventStore,
    run_id: str,
    at_turn: int,
    count: int,
    *,
    seed: int | None = None,
    turns: int | None = None,
    model_overrides: Mapping[str, str] | None = None,
    credit_limit_usd: float | None = None,
    budget_usd: float | None = None,
    edit: ForkEdit | None = None,
    paired: bool = False,
    tags: tuple[str, ...] = (),
) -> str:
    """Fork ``run_id`` at ``at_turn`` ``count`` times, each branch with ``edit`` and
    ``tags``, and
    record the branches as a batch of continuations (played by ``play_batch``); returns
    the batch id. Seeds: ``continuation_seed``.

    The forks and the batch are recorded before any is played, so ``batch resume``
    finishes them after a crash.
    """
    if count < 1:
        raise ScenarioInvalid("{count} {n} must be at least 1", field="count", values={"n": count})
    edit = edit or ForkEdit()
    run_id = store.resolve(run_id)
    base_seed = seed if seed is not None else replay(store, run_id, to_turn=at_turn).seed
    label: dict[str, Any] = {"fork_of": run_id, "fork_turn": at_turn}
    label |= {f"decision.{a}": t for a, t in sorted(edit.decisions.items())}
    if edit.injections:
        label["inject"] = list(edit.injections)
    # The forks carry the batch id from birth; the batch is recorded once they all
    # exist, so a recorded batch always has all its runs (a crash in between leaves
    # unplayed forks that no batch lists).
    batch_id = new_id()
    runs = []
    for i in range(count):
        branch_seed = continuation_seed(base_seed, at_turn, i, edit, paired=paired)
        branch = fork_run(
            store,
            run_id,
            at_turn,
            seed=branch_seed,
            turns=turns,
            model_overrides=model_overrides,
            forced_decisions=edit.decisions,
            injections=edit.injections,
            credit_limit_usd=credit_limit_usd,
            batch_id=batch_id,
            variation=label,
            tags=tags,
        )
        runs.append(PlannedRun(i, branch, 0, i, branch_seed))
    config = {
        "parent_run_id": run_id,
        "at_turn": at_turn,
        "count": count,
        "seed": base_seed,
        "turns": turns,
        "model_overrides": dict(model_overrides or {}),
        "cost_per_run_limit": credit_limit_usd,
        "budget_limit": budget_usd,
    }
    if edit or paired:  # absent otherwise: plain sets keep the config they always had
        config |= {"edit": edit.document(), "paired": paired}
    what = f" with {edit.describe()}" if edit else ""
    plan = BatchPlan(
        kind="continuations",
        name=f"continuations of {run_id} at turn {at_turn}{what}"
        + (" (paired seeds)" if paired else ""),
        description=f"{count} branches of run {run_id} from turn {at_turn + 1}{what}",
        config=config,
        variations=[Variation(0, label, dict(model_overrides or {}), {}, "", None)],
        runs=runs,
        source=f"run {run_id} at turn {at_turn}",
        tags=tags,
    )
    record_batch(store, plan, batch_id=batch_id)
    return batch_id
