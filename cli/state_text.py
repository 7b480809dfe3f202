"""A readable rendering of a folded run state, for ``scenario-lab replay``."""

from __future__ import annotations

from typing import Any

from scenario_lab.app import metric_label


def describe_state(state: Any) -> str:
    lines = [
        f"scenario: {state.scenario_name}",
        f"status: {state.status}"
        + (f" ({state.halt_reason}: {state.halt_detail})" if state.halt_reason else ""),
        f"turn: {state.last_completed_turn} completed of {state.settings.turns}"
        + (f", turn {state.turn} open" if state.turn_open else ""),
        f"seed: {state.seed}",
        f"cost: ${state.costs.total_usd:.4f} over {state.costs.calls} model calls "
        f"({state.costs.input_tokens}+{state.costs.output_tokens} tokens)"
        + (
            f", {state.costs.unpriced_calls} of unknown cost (no price known)"
            if state.costs.unpriced_calls
            else ""
        )
        + (
            f", {state.costs.cached_prompt_tokens} input tokens cached "
            f"(saving ${state.costs.cache_saving_usd:.4f})"
            if state.costs.cached_prompt_tokens
            else ""
        ),
        "",
        "world:",
        "  " + (state.world.narrative or "(empty)").replace("\n", "\n  "),
    ]
    if state.world.variables:
        lines.append(
            "variables: " + ", ".join(f"{k}={v:g}" for k, v in state.world.variables.items())
        )
    if state.world.key_changes:
        lines.append("key changes:")
        lines += [f"  - {c}" for c in state.world.key_changes]
    if state.actors:
        lines.append("actors:")
        for name, view in state.actors.items():
            last = view.recent[-1] if view.recent else None
            lines.append(
                f"  {name}: {view.decisions} decisions"
                + (f"; last (turn {last.turn}): {last.action}" if last else "")
            )
            if view.goals:
                lines.append(f"    goals: {'; '.join(view.goals)}")
    if state.metrics.latest:
        lines.append(
            "metrics: "
            + ", ".join(
                f"{metric_label(k)}={v:g}" if v is not None else f"{metric_label(k)}=n/a"
                for k, v in state.metrics.latest.items()
            )
        )
    if state.pending_human:
        lines.append("waiting for: " + ", ".join(sorted(state.pending_human)))
    by_actor = state.costs.by("actor")
    if by_actor:
        lines.append("cost by actor: " + ", ".join(f"{k} ${v:.4f}" for k, v in by_actor.items()))
    return "\n".join(lines)
