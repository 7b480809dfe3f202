"""Every analytics table, view and column, described once.

This dict is the single source of the DuckDB schema: ``CREATE TABLE`` statements and
their ``COMMENT ON`` descriptions are generated from it, and so is
``docs/projections.md`` (``python -m projections.docs``). A column added here appears
in the file, the ``sql --schema`` listing and the docs together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

# Bump when a table or column changes: an analytics file built under another version is
# rebuilt from the log on its next catch-up instead of being read with the wrong shape.
# 3: variation_stats a table (was a view); 4: call_failures; 5: tags; 6: cached prompt tokens;
# 7: events.payload only for the types without a table of their own (PAYLOAD_TYPES)
SCHEMA_VERSION = 7

Column = tuple[str, str]  # (DuckDB type, description)

# The event types whose JSON `events.payload` keeps: those with no table of their own, so
# their payload is where their facts are (`turns` reads a TurnStarted's simulated date
# from it). The others' payloads, ~95% of the log's JSON, were the largest single cost of
# a rebuild (~1.8 s of 1M events' ~10 s of CPU) for facts their tables already hold.
# tests/test_projections_tables.py keeps this equal to the types without a table.
PAYLOAD_TYPES = (
    "ActorInterviewed",
    "DecisionRequested",
    "HumanInputRequested",
    "InjectQueued",
    "TurnCompleted",
    "TurnStarted",
    "WorldUpdateProposed",
    "WorldUpdateReviewed",
)


@dataclass(frozen=True)
class Table:
    description: str
    columns: dict[str, Column]
    # "event": rows come from events (own rows, plus a fork's inherited copies);
    # "derived": recomputed from the event tables for every run a catch-up touched;
    # "meta": bookkeeping of the projection itself.
    kind: str = "event"
    key: tuple[str, ...] = ("run_id", "seq")


@dataclass(frozen=True)
class View:
    description: str
    sql: str
    columns: dict[str, str] = field(default_factory=dict)  # name -> description


_TIMELINE: dict[str, Column] = {
    "run_id": (
        "VARCHAR",
        "The run whose timeline holds this row. A fork's rows include its parent's rows up "
        "to the fork point, so `WHERE run_id = ?` is the whole story of any run.",
    ),
    "seq": ("INTEGER", "Order of the event along the run's timeline (1, 2, ...)."),
    "turn": ("INTEGER", "The turn the event belongs to (0 is the setup)."),
    "position": ("BIGINT", "Global position of the event in the log (shared by inherited copies)."),
    "source_run_id": (
        "VARCHAR",
        "The run the event was recorded in: `run_id` itself, or an ancestor for inherited rows.",
    ),
    "inherited": (
        "BOOLEAN",
        "True when the row comes from an ancestor's timeline before the fork point. "
        "Filter `NOT inherited` to count each recorded event once across runs.",
    ),
}

_CALL: dict[str, Column] = {
    "model": ("VARCHAR", "The model that answered; null when no model was called."),
    "input_tokens": ("INTEGER", "Prompt tokens of the model call (0 without a call)."),
    "output_tokens": ("INTEGER", "Completion tokens of the model call (0 without a call)."),
    "cost_usd": ("DOUBLE", "Call cost in USD (0 without a call; null with no known price)."),
}

TABLES: dict[str, Table] = {
    "events": Table(
        "Every event of every timeline, flattened: the raw material of every other table.",
        {
            **_TIMELINE,
            "type": ("VARCHAR", "Stable event type name (e.g. `DecisionMade`)."),
            "schema_version": ("INTEGER", "Schema version the event was stored under."),
            "actor": ("VARCHAR", "The actor the event is about (a message's sender); may be null."),
            "event_id": ("VARCHAR", "Unique id of the stored event."),
            "recorded_at": ("TIMESTAMPTZ", "When the event was appended (UTC)."),
            "payload": (
                "VARCHAR",
                "The event as JSON text, as stored (query with `->>`), for the types no "
                f"other table holds ({', '.join(PAYLOAD_TYPES)}); null for the others, whose "
                "facts are the rows of their own tables (`decisions`, `messages`, `costs`, "
                "...). Every event's whole JSON is in the log: `scenario-lab log RUN --json`.",
            ),
        },
    ),
    "lifecycle": Table(
        "Run lifecycle events (RunStarted, RunForked, RunResumed, RunHalted, RunCompleted, "
        "RunFailed): how each timeline started, branched, paused and ended.",
        {
            **_TIMELINE,
            "type": ("VARCHAR", "The lifecycle event type."),
            "recorded_at": ("TIMESTAMPTZ", "When the event was appended (UTC)."),
            "reason": (
                "VARCHAR",
                "RunHalted: the halt reason (credit_limit, human_input, ...); "
                "RunFailed: the error type.",
            ),
            "detail": ("VARCHAR", "RunHalted/RunResumed: detail text; RunFailed: the error."),
            "waiting_for": ("VARCHAR[]", "RunHalted: actors whose human input is awaited."),
            "seed": ("BIGINT", "RunStarted: the run's seed; RunForked: the branch's new seed."),
            "scenario_name": ("VARCHAR", "RunStarted: the scenario's name."),
            "scenario_sha256": ("VARCHAR", "RunStarted: hash of the resolved scenario."),
            "tool_version": ("VARCHAR", "RunStarted: scenario-lab version that started the run."),
            "parent_run_id": ("VARCHAR", "RunForked: the run branched from."),
            "fork_turn": ("INTEGER", "RunForked: the last turn shared with the parent."),
            "fork_seq": ("INTEGER", "RunForked: the last seq shared with the parent."),
            "turns": ("INTEGER", "Planned number of turns (RunStarted settings) or its change."),
            "credit_limit_usd": ("DOUBLE", "Credit limit set or changed by this event."),
            "batch_id": ("VARCHAR", "Batch the run belongs to (RunStarted settings/RunForked)."),
            "variation": (
                "VARCHAR",
                "JSON object of the settings varied for this run (RunStarted settings."
                "variation, or a RunForked's additions); keys sorted.",
            ),
            "changes": (
                "VARCHAR",
                "RunForked: JSON object of what the branch changed (model_overrides, "
                "control_changes, forced_decisions, injections); RunStarted: the settings.",
            ),
            "name": ("VARCHAR", "RunStarted/RunForked: the name given to the run, if any."),
            "tags": ("VARCHAR[]", "RunStarted/RunForked: the tags given to the run."),
        },
    ),
    "decisions": Table(
        "One row per actor decision: DecisionMade, a human's HumanDecisionSubmitted, and "
        "DecisionFailed (failed = true). A failure followed by a successful retry gives two rows.",
        {
            **_TIMELINE,
            "actor": ("VARCHAR", "The deciding actor (short name)."),
            "request_id": ("VARCHAR", "Id tying the decision to its request and cost events."),
            "brain": ("VARCHAR", "Who decided: ai, rules, scripted, human or counterfactual."),
            **_CALL,
            "long_term_goals": ("VARCHAR[]", "The actor's stated long-term goals."),
            "short_term_priorities": ("VARCHAR[]", "The actor's stated short-term priorities."),
            "reasoning": ("VARCHAR", "The actor's reasoning."),
            "action": ("VARCHAR", "The action taken, as text."),
            "action_name": ("VARCHAR", "The declared action chosen, in a rule-driven scenario."),
            "parse_method": (
                "VARCHAR",
                "How the answer was read: json_schema, json, json_fence, markdown, reask:..., "
                "rules, scripted, forced, human.",
            ),
            "latency_ms": ("DOUBLE", "Wall time of the model call, all attempts (0 without)."),
            "attempts": ("INTEGER", "HTTP attempts of the model call (0 without a call)."),
            "human": ("BOOLEAN", "True for a decision submitted by a human."),
            "submitted_by": ("VARCHAR", "Who submitted a human decision; null otherwise."),
            "failed": ("BOOLEAN", "True for a DecisionFailed row."),
            "error": ("VARCHAR", "DecisionFailed: what went wrong."),
            "error_kind": ("VARCHAR", "DecisionFailed: unparsable, llm_unavailable, ..."),
        },
    ),
    "messages": Table(
        "Messages of the communication phase: bilateral talks, coalition messages, "
        "public statements.",
        {
            **_TIMELINE,
            "message_id": ("VARCHAR", "Id of the message."),
            "channel": ("VARCHAR", "bilateral, coalition or public."),
            "sender": ("VARCHAR", "The sending actor."),
            "recipients": ("VARCHAR[]", "The addressed actors (empty for public statements)."),
            "visibility": ("VARCHAR", "private, group or public."),
            "kind": ("VARCHAR", "talk, reply, proposal, accept, reject or statement."),
            "content": ("VARCHAR", "The message text."),
            "thread_id": ("VARCHAR", "The talk or coalition the message belongs to."),
            "in_reply_to": ("VARCHAR", "The message answered, if any."),
            **_CALL,
        },
    ),
    "world_states": Table(
        "The world update of each turn (WorldUpdated): narrative, key changes, consequences. "
        "Numeric world variables are in `variables`, one row per variable.",
        {
            **_TIMELINE,
            "narrative": ("VARCHAR", "The narrative of what happened this turn."),
            "key_changes": ("VARCHAR[]", "The key changes to the world."),
            "consequences": ("VARCHAR[]", "Expected consequences."),
            "source": ("VARCHAR", "Who wrote the update: llm or rules."),
            **_CALL,
        },
    ),
    "variables": Table(
        "Numeric world variables after each world update: one row per (update, variable), "
        "so `WHERE name = 'tension'` gives a variable's trajectory.",
        {
            **_TIMELINE,
            "name": ("VARCHAR", "The variable's name."),
            "value": ("DOUBLE", "Its value after the update."),
        },
        key=("run_id", "seq", "name"),
    ),
    "metrics": Table(
        "Metric values (MetricRecorded): one row per extraction, failed ones included "
        "(value null, error set).",
        {
            **_TIMELINE,
            "name": ("VARCHAR", "The metric's name."),
            "value": ("DOUBLE", "The value; null when the extraction failed."),
            "category": ("VARCHAR", "The category of a categorical metric."),
            "actor": ("VARCHAR", "The actor of an actor-specific metric; null otherwise."),
            "method": ("VARCHAR", "How it was extracted: llm, keyword, pattern, rules."),
            "error": ("VARCHAR", "Why the extraction failed; null on success."),
            "model": ("VARCHAR", "The judging model of an llm extraction; null otherwise."),
            "cost_usd": ("DOUBLE", "Cost of the extraction's model call in USD."),
        },
    ),
    "costs": Table(
        "One row per model call's cost (CostIncurred): the ledger every cost view sums.",
        {
            **_TIMELINE,
            "actor": ("VARCHAR", "The actor the call was for; null for world/metric/validation."),
            "model": ("VARCHAR", "The model called."),
            "purpose": (
                "VARCHAR",
                "The phase: decision, communication, world_update, metric, validation.",
            ),
            "input_tokens": ("INTEGER", "Prompt tokens."),
            "output_tokens": ("INTEGER", "Completion tokens."),
            "cost_usd": (
                "DOUBLE",
                "Cost in USD (cached prompt tokens at the cache price when known); null when "
                "the model has no known price.",
            ),
            "request_id": ("VARCHAR", "The request the cost belongs to."),
            "cached_prompt_tokens": (
                "INTEGER",
                "Of `input_tokens`, those the provider served from its prompt cache, as its "
                "usage said; null when it did not say (and for calls recorded before "
                "CostIncurred v4).",
            ),
            "cache_saving_usd": (
                "DOUBLE",
                "What the cached prompt tokens would have cost at the full input price minus "
                "what they cost (USD); null when unknown.",
            ),
        },
    ),
    "call_failures": Table(
        "Model calls whose answer was not used (CallFailed): a talk, coalition answer, world "
        "update, metric or check that got no usable answer (no model answered, or every "
        "answer, re-asks included, was unreadable or cut off at the token limit). A "
        "decision's failure is a `failed` row of `decisions`.",
        {
            **_TIMELINE,
            "purpose": ("VARCHAR", "The phase: communication, world_update, metric, validation."),
            "actor": ("VARCHAR", "The actor the call was for; null for world/metric/validation."),
            "request_id": ("VARCHAR", "The request (its calls' costs share it in `costs`)."),
            "error_kind": ("VARCHAR", "unparsable, truncated or llm_unavailable."),
            "error": ("VARCHAR", "What went wrong, with the last answer's problem."),
            "asks": ("INTEGER", "Calls made for it, re-asks included."),
            "model": ("VARCHAR", "The model asked."),
        },
    ),
    "validations": Table(
        "Validation checks after each turn (ValidationRecorded).",
        {
            **_TIMELINE,
            "check_name": ("VARCHAR", "The check's name."),
            "passed": ("BOOLEAN", "Whether the check passed."),
            "severity": ("VARCHAR", "low, medium or high."),
            "issues": ("VARCHAR[]", "Issues found."),
            "explanation": ("VARCHAR", "The validator's explanation."),
            "model": ("VARCHAR", "The validating model; null when none was called."),
            "cost_usd": ("DOUBLE", "Cost of the validation call in USD."),
        },
    ),
    "exogenous_events": Table(
        "Events from outside the actors (ExogenousEventTriggered): scheduled, random, "
        "conditional, trend or injected by a fork.",
        {
            **_TIMELINE,
            "name": ("VARCHAR", "The event's name."),
            "description": ("VARCHAR", "What happened."),
            "kind": ("VARCHAR", "scheduled, random, conditional, trend or injected."),
            "source_index": ("INTEGER", "Position in the scenario's exogenous events, if any."),
            "effects": ("MAP(VARCHAR, DOUBLE)", "Effects on world variables (name -> delta)."),
        },
    ),
    "turns": Table(
        "One row per turn of each timeline (turn 0 is the setup), derived from `events`.",
        {
            "run_id": ("VARCHAR", "The run whose timeline holds the turn."),
            "turn": ("INTEGER", "The turn number."),
            "first_seq": ("INTEGER", "Seq of the turn's first event."),
            "last_seq": ("INTEGER", "Seq of the turn's last event so far."),
            "source_run_id": ("VARCHAR", "The run the turn's first event was recorded in."),
            "inherited": ("BOOLEAN", "True when every event of the turn is inherited."),
            "simulated_date": ("VARCHAR", "The in-world date of the turn, if any."),
            "started_at": ("TIMESTAMPTZ", "When TurnStarted was recorded."),
            "completed_at": ("TIMESTAMPTZ", "When TurnCompleted was recorded; null if unfinished."),
            "completed": ("BOOLEAN", "Whether the turn has its TurnCompleted."),
            "events": ("INTEGER", "Number of events of the turn."),
            "decisions": ("INTEGER", "Decisions recorded (made or submitted) in the turn."),
            "messages": ("INTEGER", "Messages sent in the turn."),
            "cost_usd": ("DOUBLE", "Model cost of the turn in USD."),
        },
        kind="derived",
        key=("run_id", "turn"),
    ),
    "runs": Table(
        "One row per run: lineage, status, progress, seed, models and cost, derived from "
        "its timeline (inherited turns included).",
        {
            "run_id": ("VARCHAR", "The run's id."),
            "scenario_name": ("VARCHAR", "The scenario's name."),
            "scenario_sha256": ("VARCHAR", "Hash of the resolved scenario (join `scenarios`)."),
            "parent_run_id": ("VARCHAR", "The run this one was forked from; null for a root."),
            "fork_turn": ("INTEGER", "The last turn shared with the parent."),
            "fork_seq": ("INTEGER", "The last seq shared with the parent."),
            "root_run_id": ("VARCHAR", "The root of the run's lineage (itself for a root)."),
            "depth": ("INTEGER", "Forks between the root and this run (0 for a root)."),
            "status": (
                "VARCHAR",
                "running, halted, completed or failed, from the last lifecycle event; the CLI "
                "shows `interrupted` for a running run no live process plays (`not_started` "
                "for a fork that never began a turn of its own).",
            ),
            "halt_reason": ("VARCHAR", "Why a halted or failed run stopped."),
            "turns_completed": ("INTEGER", "The last completed turn."),
            "turns_planned": ("INTEGER", "Turns the run is set to play (after forks/resumes)."),
            "seed": ("BIGINT", "The seed in effect (a fork's new seed, or the root's)."),
            "models": ("VARCHAR[]", "Distinct models called along the timeline, sorted."),
            "total_cost_usd": ("DOUBLE", "Model cost of the whole timeline in USD."),
            "own_cost_usd": ("DOUBLE", "Model cost recorded in this run itself (not inherited)."),
            "input_tokens": ("BIGINT", "Prompt tokens of the whole timeline."),
            "output_tokens": ("BIGINT", "Completion tokens of the whole timeline."),
            "events": ("INTEGER", "Events in the timeline."),
            "started_at": ("TIMESTAMPTZ", "When the run started (a fork: when it was forked)."),
            "finished_at": ("TIMESTAMPTZ", "When it completed or failed; null otherwise."),
            "batch_id": ("VARCHAR", "The batch the run belongs to, if any."),
            "variation": (
                "VARCHAR",
                "JSON object of the varied settings in effect (keys sorted); `{}` if none.",
            ),
            "name": ("VARCHAR", "The run's name (`run --name`; a fork's own); null if none."),
            "tags": ("VARCHAR[]", "Its tags and its ancestors': `list_contains(tags, 'x')`."),
        },
        kind="derived",
        key=("run_id",),
    ),
    "scenarios": Table(
        "One row per distinct resolved scenario (by hash), as recorded in RunStarted.",
        {
            "scenario_sha256": ("VARCHAR", "Hash of the resolved scenario."),
            "name": ("VARCHAR", "The scenario's name."),
            "description": ("VARCHAR", "The scenario's description."),
            "initial_world_state": ("VARCHAR", "The situation at turn 0."),
            "turns": ("INTEGER", "Turns the scenario plays by default."),
            "actors": ("VARCHAR", "JSON object: actor id -> name, role, control, model, goals."),
            "metrics": ("VARCHAR", "JSON array of the metric definitions."),
            "scenario": ("VARCHAR", "The whole resolved scenario as JSON."),
        },
        kind="scenario",
        key=("scenario_sha256",),
    ),
    "batches": Table(
        "One row per batch (`scenario-lab batch run`, `fork --count`), as recorded in the "
        "log with its resolved configuration.",
        {
            "batch_id": ("VARCHAR", "The batch's id."),
            "name": ("VARCHAR", "The experiment's name."),
            "kind": (
                "VARCHAR",
                "`matrix` (a batch file's variations) or `continuations` (branches of one run "
                "from one turn, `fork --count`).",
            ),
            "description": ("VARCHAR", "The experiment's description."),
            "source": ("VARCHAR", "The batch file, or the run and turn continued."),
            "created_at": ("TIMESTAMPTZ", "When the batch was recorded (UTC)."),
            "config_sha256": ("VARCHAR", "Hash of the resolved configuration."),
            "seed": ("BIGINT", "The batch seed every run's seed derives from."),
            "runs_planned": ("INTEGER", "Runs the batch plans (join `batch_runs`)."),
            "variations": ("INTEGER", "Variations in the matrix (1 for continuations)."),
            "runs_per_variation": ("INTEGER", "Runs of each variation."),
            "budget_usd": ("DOUBLE", "The batch's budget in USD; null without one."),
            "cost_per_run_limit_usd": ("DOUBLE", "Each run's credit limit; null without one."),
            "base_scenario_sha256": (
                "VARCHAR",
                "Hash of the base scenario before variations; null for continuations.",
            ),
            "parent_run_id": ("VARCHAR", "Continuations: the run they fork from."),
            "fork_turn": ("INTEGER", "Continuations: the last turn shared with that run."),
            "config": ("VARCHAR", "The whole resolved configuration as JSON."),
        },
        kind="batch",
        key=("batch_id",),
    ),
    "batch_runs": Table(
        "Every run a batch plans, started or not, with its variation: join `runs` on "
        "`run_id` for status and cost, `final_metrics` for outcomes.",
        {
            "batch_id": ("VARCHAR", "The batch."),
            "run_id": ("VARCHAR", "The planned run (no `runs` row until it starts)."),
            "run_index": ("INTEGER", "Position in the batch's plan (its seed derives from it)."),
            "variation_index": ("INTEGER", "The variation's number in the matrix (0, 1, ...)."),
            "variation_name": (
                "VARCHAR",
                "The variation as the batch commands print it, e.g. "
                "`variables.tension.initial=4, techco.model=m/a`.",
            ),
            "variation": ("VARCHAR", "JSON object of the variation's settings (keys sorted)."),
            "replicate": ("INTEGER", "Which of the variation's runs this is (0, 1, ...)."),
            "seed": ("BIGINT", "The run's seed."),
        },
        kind="batch",
        key=("batch_id", "run_id"),
    ),
    "variation_stats": Table(
        "Per batch, variation and metric: statistics of the final values of the batch's "
        "completed runs, as `scenario-lab report --batch` shows them (computed at each "
        "catch-up by the same code as that report, so the numbers are the same).",
        {
            "batch_id": ("VARCHAR", "The batch."),
            "variation_index": ("INTEGER", "The variation's number in the matrix."),
            "variation_name": ("VARCHAR", "The variation as the batch commands print it."),
            "name": ("VARCHAR", "The metric."),
            "actor": ("VARCHAR", "The actor of an actor-specific metric; null otherwise."),
            "n": ("BIGINT", "Completed runs with a final value."),
            "mean": ("DOUBLE", "Mean of the final values."),
            "stddev": ("DOUBLE", "Sample standard deviation (null for one run)."),
            "ci95_low": (
                "DOUBLE",
                "Lower bound of the mean's 95% confidence interval (Student's t).",
            ),
            "ci95_high": (
                "DOUBLE",
                "Upper bound of the mean's 95% confidence interval (Student's t).",
            ),
            "min": ("DOUBLE", "Smallest final value."),
            "median": ("DOUBLE", "Median of the final values."),
            "max": ("DOUBLE", "Largest final value."),
        },
        kind="batch",
        key=("batch_id", "variation_index", "name", "actor"),
    ),
    "projection_state": Table(
        "Bookkeeping: the last log position applied, written in the same transaction as "
        "the rows it covers.",
        {
            "schema_version": ("INTEGER", "Version of this schema; another version is rebuilt."),
            "position": ("BIGINT", "The last global log position applied."),
            "event_id": ("VARCHAR", "Id of that event: tells a replaced log from this one."),
        },
        kind="meta",
        key=("position",),
    ),
    "variation_stats_state": Table(
        "Bookkeeping: the last log position `variation_stats` covers, written in the same "
        "transaction as its rows.",
        {
            "position": (
                "BIGINT",
                "A catch-up recomputes the statistics of the batches whose runs have events "
                "after this position, and of batches new to the file.",
            ),
        },
        kind="meta",
        key=("position",),
    ),
}

EVENT_TABLES = [name for name, t in TABLES.items() if t.kind == "event"]

_FINAL = """
SELECT m.run_id, m.name, m.actor,
       arg_max(m.value, m.seq) AS value,
       max(m.turn) AS turn,
       r.scenario_name, r.batch_id, r.variation
FROM metrics m JOIN runs r USING (run_id)
WHERE m.value IS NOT NULL
GROUP BY m.run_id, m.name, m.actor, r.scenario_name, r.batch_id, r.variation
"""

_STATS = """
SELECT scenario_name,
       CASE WHEN grouping(variation) = 1 THEN 'scenario' ELSE 'variation' END AS grouped_by,
       variation, name, actor,
       count(*) AS runs, avg(value) AS mean, stddev_samp(value) AS stddev,
       min(value) AS min, max(value) AS max
FROM final_metrics
GROUP BY GROUPING SETS ((scenario_name, name, actor), (scenario_name, variation, name, actor))
"""


def _cost_by(key: str) -> str:
    return f"""
SELECT run_id, {key},
       count(*) AS calls, count(*) - count(cost_usd) AS unpriced_calls,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(cost_usd) AS cost_usd,
       coalesce(sum(cost_usd) FILTER (WHERE NOT inherited), 0) AS own_cost_usd,
       sum(cached_prompt_tokens) AS cached_prompt_tokens,
       sum(cache_saving_usd) AS cache_saving_usd
FROM costs GROUP BY run_id, {key}
"""


_COST_COLUMNS = {
    "calls": "Model calls.",
    "input_tokens": "Prompt tokens.",
    "output_tokens": "Completion tokens.",
    "cost_usd": "Cost along the run's whole timeline (USD), of the calls with a known price.",
    "own_cost_usd": "Cost recorded in the run itself, inherited calls excluded (USD).",
    "unpriced_calls": "Calls of a model with no known price: their cost is in no sum here.",
    "cached_prompt_tokens": "Prompt tokens the providers' caches served, of the calls that "
    "reported it; null when none did.",
    "cache_saving_usd": "What the cached prompt tokens saved against the full input price "
    "(USD); null when unknown.",
}

VIEWS: dict[str, View] = {
    "final_metrics": View(
        "The last recorded value of each metric per run and actor, with the run's scenario "
        "and varied settings.",
        _FINAL,
        {
            "run_id": "The run.",
            "name": "The metric.",
            "actor": "The actor of an actor-specific metric; null otherwise.",
            "value": "The metric's last non-null value in the run's timeline.",
            "turn": "The last turn with a value.",
            "scenario_name": "The run's scenario.",
            "batch_id": "The run's batch.",
            "variation": "The run's varied settings (JSON text).",
        },
    ),
    "metric_stats": View(
        "Statistics of final metric values across runs: per scenario (grouped_by = "
        "'scenario', variation null) and per varied setting (grouped_by = 'variation').",
        _STATS,
        {
            "scenario_name": "The scenario.",
            "grouped_by": "'scenario' (all runs) or 'variation' (runs of one setting).",
            "variation": "The varied settings (JSON text); null for per-scenario rows.",
            "name": "The metric.",
            "actor": "The actor of an actor-specific metric; null otherwise.",
            "runs": "Runs with a final value.",
            "mean": "Mean of the final values.",
            "stddev": "Sample standard deviation (null for one run).",
            "min": "Smallest final value.",
            "max": "Largest final value.",
        },
    ),
    "cost_by_run": View(
        "Cost and tokens per run.",
        """
SELECT r.run_id, r.scenario_name, r.batch_id,
       coalesce(c.calls, 0) AS calls,
       coalesce(c.input_tokens, 0) AS input_tokens,
       coalesce(c.output_tokens, 0) AS output_tokens,
       coalesce(c.cost_usd, 0) AS cost_usd,
       coalesce(c.own_cost_usd, 0) AS own_cost_usd, coalesce(c.unpriced_calls, 0) AS unpriced_calls,
       c.cached_prompt_tokens, c.cache_saving_usd
FROM runs r LEFT JOIN (
    SELECT run_id, count(*) AS calls, count(*) - count(cost_usd) AS unpriced_calls,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd,
           sum(cost_usd) FILTER (WHERE NOT inherited) AS own_cost_usd,
           sum(cached_prompt_tokens) AS cached_prompt_tokens,
           sum(cache_saving_usd) AS cache_saving_usd
    FROM costs GROUP BY run_id
) c USING (run_id)
""",
        {
            "run_id": "The run.",
            "scenario_name": "Its scenario.",
            "batch_id": "Its batch.",
            **_COST_COLUMNS,
        },
    ),
    "cost_by_actor": View(
        "Cost and tokens per run and actor (null actor: world, metric and validation calls).",
        _cost_by("actor"),
        {"run_id": "The run.", "actor": "The actor.", **_COST_COLUMNS},
    ),
    "cost_by_model": View(
        "Cost and tokens per run and model.",
        _cost_by("model"),
        {"run_id": "The run.", "model": "The model.", **_COST_COLUMNS},
    ),
    "cost_by_purpose": View(
        "Cost and tokens per run and phase (decision, communication, world_update, ...).",
        _cost_by("purpose"),
        {"run_id": "The run.", "purpose": "The phase.", **_COST_COLUMNS},
    ),
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Columns of long JSON text: DuckDB's default string compression (chosen per segment)
# cost ~5 µs per 400-byte payload and made the payloads half of a rebuild's time;
# zstd writes them ~2x faster into a file ~5x smaller.
ZSTD_COLUMNS = {("events", "payload"), ("scenarios", "scenario")}


def create_statements() -> list[str]:
    """DDL for every table and view, with their descriptions as comments."""
    out: list[str] = []
    for name, table in TABLES.items():
        cols = ", ".join(
            f"{c} {t}" + (" USING COMPRESSION zstd" if (name, c) in ZSTD_COLUMNS else "")
            for c, (t, _) in table.columns.items()
        )
        out.append(f"CREATE TABLE {name} ({cols})")
        out.append(f"COMMENT ON TABLE {name} IS {_quote(table.description)}")
        for col, (_, desc) in table.columns.items():
            out.append(f"COMMENT ON COLUMN {name}.{col} IS {_quote(desc)}")
    for name, view in VIEWS.items():
        out.append(f"CREATE VIEW {name} AS {view.sql.strip()}")
        out.append(f"COMMENT ON VIEW {name} IS {_quote(view.description)}")
    return out


def drop_statements(con: duckdb.DuckDBPyConnection) -> list[str]:
    """DDL dropping every view and table of the catalogue that ``con``'s file holds, each
    as what it is there: a name may have been a view in an older schema version and be a
    table now (``variation_stats`` before version 3), and DuckDB's ``DROP TABLE`` refuses
    a view (and ``DROP VIEW`` a table)."""
    views = {row[0] for row in con.execute(_VIEWS_HELD).fetchall()}
    names = [*reversed(VIEWS), *reversed(TABLES)]
    out = [f"DROP VIEW IF EXISTS {name}" for name in names if name in views]
    return out + [f"DROP TABLE IF EXISTS {name}" for name in names if name not in views]


_VIEWS_HELD = (
    "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main' "
    "AND database_name = current_database()"
)
