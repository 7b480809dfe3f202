"""``scenario_lab.open``: a log as a notebook uses it, with DataFrames.

Every method is synchronous and works inside a running event loop (a Jupyter kernel):
playing runs in a worker thread with its own loop there (``_sync``). Each one is a call
of the application API (``scenario_lab.app.Lab``, reachable as ``Database.lab``), so a
notebook gets the same checks, errors and results as the CLI and the server.

    import scenario_lab
    db = scenario_lab.open("study.db")                    # created when missing
    first = db.run("scenarios/strait-crisis", seed=7, tags=["study"])
    branch = db.fork(first.run_id, at_turn=3, decisions={"atlantica": "Withdraws."})
    db.metrics(branch.run_id)                             # a pandas DataFrame
    db.sql("SELECT name, avg(value) FROM metrics GROUP BY name")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._frames import check_kind, to_frame
from ._sync import run_sync

if TYPE_CHECKING:
    from engine.fold.state import RunState
    from scenario_lab.app import InterviewAnswer, Lab, RunOutcome


class Database:
    """One log and its analytics, for notebooks; ``frames`` is what tables come back as:
    ``"pandas"`` (default), ``"polars"`` or ``"arrow"``."""

    def __init__(self, lab: Lab, *, frames: str = "pandas"):
        check_kind(frames)
        self.lab = lab
        self.frames = frames

    def close(self) -> None:
        """Let go of what the underlying ``Lab`` holds."""
        self.lab.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<scenario_lab.Database {self.lab.settings.db}>"

    # -- playing -------------------------------------------------------------------------

    def run(
        self,
        scenario: str | Path,
        *,
        seed: int = 0,
        turns: int | None = None,
        name: str | None = None,
        tags: Iterable[str] = (),
        credit_limit: float | None = None,
        models: Mapping[str, str] | None = None,
    ) -> RunOutcome:
        """Record and play a run of a scenario directory to its end (or halt)."""
        from scenario_lab.app import StartRun

        created = self.lab.create_run(
            StartRun(
                scenario=str(scenario),
                seed=seed,
                turns=turns,
                name=name,
                tags=tuple(tags),
                credit_limit=credit_limit,
                models=dict(models or {}),
            )
        )
        return self._play(created.run_id)

    def fork(
        self,
        run: str,
        at_turn: int,
        *,
        decisions: Mapping[str, str] | None = None,
        inject: Iterable[str] = (),
        seed: int | None = None,
        turns: int | None = None,
        name: str | None = None,
        tags: Iterable[str] = (),
        play: bool = True,
    ) -> RunOutcome:
        """Branch ``run`` after turn ``at_turn`` with what the branch changes, and play
        it (``play=False``: record it only; its outcome then says it is not_started)."""
        from scenario_lab.app import ForkRun

        branch = self.lab.fork_run(
            ForkRun(
                run=run,
                at_turn=at_turn,
                decisions=dict(decisions or {}),
                inject=tuple(inject),
                seed=seed,
                turns=turns,
                name=name,
                tags=tuple(tags),
            )
        )
        if play:
            return self._play(branch.run_id)
        return self.outcome(branch.run_id)

    def _play(self, run_id: str) -> RunOutcome:
        try:
            return run_sync(self.lab.play_run, run_id)
        finally:
            self.lab.close()

    def interview(
        self, run: str, actor: str, at_turn: int, question: str, *, keep: bool = False
    ) -> InterviewAnswer:
        """Ask a model-driven actor ``question`` with its memory at the end of
        ``at_turn`` (``keep``: record the branch it is asked on, with the call)."""
        from scenario_lab.app import InterviewRequest

        request = InterviewRequest(
            run=run, actor=actor, at_turn=at_turn, question=question, keep=keep
        )
        return run_sync(self.lab.interview, request)

    def outcome(self, run: str) -> RunOutcome:
        """Where a run stands (status, turns, cost, what it waits for)."""
        import msgspec

        from scenario_lab.app.runs import outcome_of

        summary = self.lab.run(run).summary
        outcome = outcome_of(summary.run_id, self.lab.state(summary.run_id))
        # the fold says "running" for a run nobody plays; the summary knows it stopped
        return msgspec.structs.replace(outcome, status=summary.status)

    def replay(self, run: str, turn: int | None = None) -> RunState:
        """The state folded from the log at the end of ``turn`` (default: now)."""
        return self.lab.state(run, turn)

    # -- tables --------------------------------------------------------------------------

    def sql(self, query: str, params: Iterable[Any] | None = None) -> Any:
        """One read-only SQL statement over the analytics tables (``?`` bound to
        ``params``), as a DataFrame. ``sql_schema()`` lists the tables."""
        table = self.lab.sql_arrow(query, tuple(params) if params is not None else None)
        return to_frame(table, self.frames)

    def sql_schema(self) -> Any:
        """Every analytics table and column with its description, as a DataFrame."""
        from scenario_lab.app import SqlRequest

        result = self.lab.sql(SqlRequest(schema=True))
        import pyarrow as pa

        columns = list(zip(*result.rows, strict=True)) or [()] * len(result.columns)
        table = pa.table({c: list(v) for c, v in zip(result.columns, columns, strict=True)})
        return to_frame(table, self.frames)

    def runs(self, *, tag: str | None = None, batch: str | None = None) -> Any:
        """Every run (the analytics ``runs`` table), newest first; only those with
        ``tag``, or of ``batch`` (an id or a unique prefix)."""
        where, params = [], []
        if tag is not None:
            where.append("list_contains(tags, ?)")
            params.append(tag)
        if batch is not None:
            where.append("batch_id = ?")
            params.append(self.lab.batch_status(batch).batch_id)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.sql(sql + " ORDER BY started_at DESC, run_id", params)

    def _timeline(self, table: str, run: str, order: str = "seq") -> Any:
        run_id = self.lab.run(run).summary.run_id
        return self.sql(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}", [run_id])

    def metrics(self, run: str) -> Any:
        """Every metric value of the run's timeline (inherited turns included)."""
        return self._timeline("metrics", run, "seq, name, actor")

    def decisions(self, run: str) -> Any:
        """Every decision of the run's timeline, failed ones included."""
        return self._timeline("decisions", run)

    def batch_stats(self, batch: str) -> Any:
        """Per variation and metric: statistics of the final values of a batch's runs."""
        batch_id = self.lab.batch_status(batch).batch_id
        return self.sql(
            "SELECT * FROM variation_stats WHERE batch_id = ? "
            "ORDER BY variation_index, name, actor",
            [batch_id],
        )

    def report(self, run: str) -> str:
        """The run's markdown report."""
        return self.lab.report(run)


def open(
    path: str | Path = "scenario-lab.db",
    *,
    frames: str = "pandas",
    analytics: str | Path | None = None,
    llm_base_url: str | None = None,
    api_key: str | None = None,
) -> Database:
    """Open (or create, on the first run) the log at ``path`` (a file, or a
    ``postgresql://`` URL). ``frames``: pandas,
    polars or arrow. Model calls go to ``llm_base_url`` (an OpenAI-compatible endpoint)
    when given, else where the environment's settings say (``LLMSettings.from_env``)."""
    import os

    from scenario_lab.app import Lab, LabSettings, LLMSettings, log_location

    llm = LLMSettings.from_env(os.environ, base_url=llm_base_url)
    if api_key is not None:
        import dataclasses

        llm = dataclasses.replace(llm, api_key=api_key)
    settings = LabSettings(
        db=log_location(path), analytics=Path(analytics) if analytics else None, llm=llm
    )
    return Database(Lab(settings), frames=frames)
