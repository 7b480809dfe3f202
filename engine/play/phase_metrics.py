"""The metrics of a turn: keyword and pattern metrics computed here, the others judged
by a model, all from the turn's world update and decisions.

A metric that cannot be measured (no model answered, an answer still unreadable or cut
off after a re-ask, no match) is still recorded, with its error and no value, beside
the ``CallFailed`` of its call: a missing number never stops a run, and a resume does
not ask for it again.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from engine.play.measure import clamp, local_metric
from engine.play.outputs import MetricOut
from engine.play.phase import Play, ask_structured, turn_decisions
from engine.play.prompts import metric_messages
from eventstore import Event, MetricRecorded


class Metrics:
    """One turn's metrics not yet recorded; what to measure is read when it is made."""

    def __init__(self, p: Play, turn: int):
        self.p = p
        self.turn = turn
        st, scenario = p.state, p.scenario
        self.world = st.world.narrative
        self.decisions = turn_decisions(st, scenario)
        all_text = self.world + "\n" + "\n".join(a for _w, a in self.decisions)
        done = st.turn_progress.metrics
        self.local: list[Event] = []
        self.judged: list[tuple[Any, str | None]] = []  # (metric, actor) a model judges
        for metric in scenario.metrics:
            targets: list[str | None] = list(scenario.actors) if metric.actor_specific else [None]
            for actor_id in targets:
                if (metric.name, actor_id) in done:
                    continue
                if metric.extraction.type in ("keyword", "pattern"):
                    text = all_text
                    if actor_id is not None:
                        d = st.turn_progress.decisions.get(actor_id)
                        text = (d.action + "\n" + d.reasoning) if d else ""
                    self.local.append(local_metric(metric, text, turn=turn, actor=actor_id))
                else:
                    self.judged.append((metric, actor_id))

    def record_computed(self) -> None:
        """Record the keyword and pattern metrics: no call needed."""
        if self.local:
            self.p.append(self.local)

    def calls(self) -> list[Callable[[], Awaitable[None]]]:
        """One call per metric a model judges, in metric order, for a round of calls."""
        return [functools.partial(self._judge, metric, actor) for metric, actor in self.judged]

    async def _judge(self, metric: Any, actor_id: str | None) -> None:
        p, turn = self.p, self.turn
        model = (
            metric.extraction.model or p.world_model() or p.model_for(next(iter(p.scenario.actors)))
        )
        messages = metric_messages(
            metric,
            prompt=metric.extraction.prompt or metric.description or metric.name,
            turn=turn,
            world=self.world,
            decisions=self.decisions,
            actor=actor_id,
        )
        answer = await ask_structured(
            p,
            MetricOut,
            model,
            messages,
            purpose="metric",
            turn=turn,
            actor=actor_id,
            request_id=metric_request_id(turn, metric.name, actor_id),
            seed_key=f"metric:{metric.name}:{actor_id}",
            max_tokens=300,
            temperature=0.0,
        )
        value: float | None = None
        error = None
        if answer.failure is not None:
            error = answer.failure.error
        elif answer.parsed is not None:
            try:
                value = clamp(metric, float(answer.parsed.value))
            except (TypeError, ValueError) as e:  # NaN, infinity
                error = f"unparsable metric answer: {e}"
        recorded = MetricRecorded(
            turn=turn,
            name=metric.name,
            value=value,
            actor=actor_id,
            method="llm",
            error=error,
            call=answer.call,
        )
        if answer.failure is not None:
            answer.record_failure(p, recorded)
        else:
            answer.record(p, [recorded])


def metric_request_id(turn: int, name: str, actor: str | None) -> str:
    """The request id of a judged metric's call (its ``CostIncurred`` and ``CallFailed``)."""
    return f"m{turn}-{name}-{actor or ''}"
