"""Facts about runs that the layers above read without folding every event.

Listing runs, a batch's budget and its resumable runs need a few numbers per run
(cost, last lifecycle event, turns done). Aggregates in SQL give them in a query or
two; folding each run would read every event. These queries read some payload fields
in SQL, bypassing the upcasters: ``SQL_FIELDS`` names them with the schema version they
were written against, and a test fails when one of those events gets a new version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ._reads import EVENT_COLS, Reads, recorded
from ._records import Recorded, TimelineFacts

LIFECYCLE = ("RunStarted", "RunForked", "RunResumed", "RunHalted", "RunCompleted", "RunFailed")

# event type -> (the schema version these queries read, the payload fields they read)
SQL_FIELDS: dict[str, tuple[int, tuple[str, ...]]] = {
    # v2 added call links; v3's null cost (no known price) is skipped by total(), so
    # these sums are of the known costs; v4 added cached tokens, which are not read here
    "CostIncurred": (4, ("cost_usd",)),
    "RunStarted": (2, ("scenario_name", "name", "tags")),  # v2 added name and tags
    "RunForked": (2, ("name", "tags")),
    "RunHalted": (1, ("reason",)),
}

_COST = "total(json_extract(CAST(payload AS TEXT), '$.cost_usd'))"


class Queries(Reads):
    """Per-run aggregates: costs, lifecycle, whether a run has played."""

    def timeline_facts(self, run_id: str) -> TimelineFacts:
        """Scenario, turns done, cost and last lifecycle event of the run's timeline."""
        turns, cost = 0, 0.0
        last: tuple[int, str, str | None] | None = None  # (seq, type, reason)
        scenario: str | None = None
        for (done,) in self._segment_query_where(
            run_id, "type = 'TurnCompleted'", "max(turn)", ordered=False
        ):
            turns = max(turns, done or 0)
        for (spent,) in self._segment_query_where(
            run_id, "type = 'CostIncurred'", _COST, ordered=False
        ):
            cost += spent or 0.0
        marks = ",".join(f"'{t}'" for t in LIFECYCLE)  # our own type names: safe to inline
        starts: list[tuple[int, str | None, str | None]] = []  # (seq, name, tags JSON)
        for seq, type_name, reason, name, label, tags in self._segment_query_where(
            run_id,
            f"type IN ({marks})",
            "seq, type, json_extract(CAST(payload AS TEXT), '$.reason'), "
            "json_extract(CAST(payload AS TEXT), '$.scenario_name'), "
            "json_extract(CAST(payload AS TEXT), '$.name'), "
            "json_extract(CAST(payload AS TEXT), '$.tags')",
        ):
            if type_name == "RunStarted" and scenario is None:
                scenario = name
            if type_name in ("RunStarted", "RunForked"):
                starts.append((seq, label, tags))
            if last is None or seq > last[0]:
                last = (seq, type_name, reason)
        starts.sort()
        labels: dict[str, None] = {}  # the timeline's tags, each once, in order given
        for _seq, _name, tags in starts:
            labels.update(dict.fromkeys(json.loads(tags) if tags else ()))
        return TimelineFacts(
            run_id=run_id,
            scenario_name=scenario,
            turns_completed=int(turns),
            cost_usd=cost,
            last_lifecycle=last[1] if last else None,
            halt_reason=last[2] if last and last[1] == "RunHalted" else None,
            name=starts[-1][1] if starts else None,
            tags=tuple(labels),
            # asked of forks alone: one indexed look-up, not one for every run listed
            fresh_fork=last is not None
            and last[1] == "RunForked"
            and not self.has_own_event(run_id, "TurnStarted"),
        )

    def own_cost(self, run_id: str) -> float:
        """What the run's own model calls cost (a fork's inherited calls are its parent's)."""
        row = self._conn.execute(
            f"SELECT {_COST} FROM events WHERE run_id = ? AND type = 'CostIncurred'",
            (run_id,),
        ).fetchone()
        return float(row[0] or 0.0)

    def own_costs(self, batch_id: str) -> dict[str, float]:
        """``own_cost`` of every run of the batch that has spent anything, in one query."""
        rows = self._conn.execute(
            f"SELECT e.run_id, {_COST.replace('payload', 'e.payload')} "
            "FROM events e JOIN runs r ON r.run_id = e.run_id "
            "WHERE r.batch_id = ? AND e.type = 'CostIncurred' GROUP BY e.run_id",
            (batch_id,),
        )
        return {str(r[0]): float(r[1] or 0.0) for r in rows}

    def batch_events(self, batch_id: str, types: Iterable[str]) -> list[Recorded]:
        """The own events of the given types of every run of the batch, in log order."""
        names = sorted(set(types))
        if not names:
            return []
        cols = ", ".join(f"e.{c.strip()}" for c in EVENT_COLS.split(","))
        rows = self._conn.execute(
            f"SELECT {cols}, e.payload FROM events e JOIN runs r ON r.run_id = e.run_id "
            f"WHERE r.batch_id = ? AND e.type IN ({','.join('?' * len(names))}) "
            "ORDER BY e.position",
            [batch_id, *names],
        )
        return [recorded(r) for r in rows]

    def has_own_event(self, run_id: str, type_name: str) -> bool:
        """Whether the run itself recorded an event of ``type_name`` (inherited ones do
        not count: a fresh fork has played no turn of its own)."""
        row = self._conn.execute(
            "SELECT 1 FROM events WHERE run_id = ? AND type = ? LIMIT 1", (run_id, type_name)
        ).fetchone()
        return row is not None
