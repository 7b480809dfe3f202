"""The application API: every user operation of scenario-lab, typed, in one place.

The CLI and the HTTP server are thin front ends over it: they parse, call one method of
``Lab``, and render the typed result (msgspec Structs: ``msgspec.to_builtins`` or
``msgspec.json.encode`` give their JSON). Checks of a request live here or in the
engine, so every front end gets the same ones; errors are the one tree of
``ScenarioLabError`` (see ``scenario_lab.app.errors``), whose messages name request
fields, never a front end's flags.

    lab = Lab(LabSettings(db=Path("scenario-lab.db"), llm=LLMSettings.from_env(os.environ)))
    created = lab.create_run(StartRun(scenario="scenarios/strait-crisis", seed=7))
    outcome = anyio.run(lab.play_run, created.run_id)        # RunOutcome
    lab.list_runs(ListRuns(status="completed")).runs         # RunSummary, newest first
    lab.state(created.run_id, turn=3)                         # RunState at the end of turn 3
    lab.fork_run(ForkRun(run=created.run_id, at_turn=2, decisions={"a": "Withdraws."}))

Operations (``Lab`` methods): scenarios (``validate``, ``estimate``, ``list_scenarios``,
``scenario``, ``scenario_files``, ``save_scenario``); runs (``create_run``, ``resume_run``, ``fork_run``, ``play_run``,
``halt``, ``list_runs``, ``run_tree``, ``run``, ``state``, ``log``, ``log_page``, ``verify``, ``interview``); human
seats (``seat_questions``, ``seat_question``, ``answer_seat``); audit (``audit_trail``,
``check_run``); analytics (``project``, ``sql``, ``sql_arrow``, ``report``,
``report_document``, ``compare``, ``export``, ``batch_report``,
``batch_report_document``, ``compare_batches``, ``batch_comparison_document``);
batches (``plan_batch``, ``create_batch``, ``create_continuations``,
``prepare_batch_resume``, ``check_executor``, ``play_batch``, ``batch_status``,
``batch_statistics``,
``list_batches``); for a
server (``validate_files``, ``scenario_path``, ``summary``, ``stop``, ``playing``,
``inject``, ``world_proposal``, ``review_world``, ``seat_view``, ``visible_page``,
``tail``, ``after_action``).

The errors, ``Lab``, its settings and the requests of runs are imported with the
package; every other name loads on first use, with its module (``Progress``,
``BatchProgress``, ``LLMSettings``, ``AnalyticsError``, ``QueryError`` and ``Document``
bring the engine's player, the LLM client or DuckDB with them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eventstore import (
    canonical_json,  # every JSON a front end prints or serves
    log_location,  # what --db names: a file, or a postgresql:// URL
)

from .errors import (
    CATEGORY_STATUS,
    BudgetExceeded,
    ConcurrencyConflict,
    ErrorInfo,
    ForkError,
    HumanInputPending,
    IntegrityError,
    InvalidRequest,
    LLMUnavailable,
    MissingCredentials,
    NondeterminismError,
    NotFound,
    RunLocked,
    RunNotFound,
    RunNotPlayable,
    ScenarioInvalid,
    ScenarioLabError,
    SeatAsk,
    SeatNotWaiting,
    StoreError,
    StoreWriteFailed,
    TurnOutOfRange,
    UsageError,
    error_info,
)
from .lab import Lab
from .models import parse_price
from .runs import (
    ForkCreated,
    ForkRun,
    PendingSeat,
    PlayHooks,
    ResumeRun,
    RunCreated,
    RunOutcome,
    StartRun,
)
from .settings import BUNDLED_SCENARIOS, DEFAULT_DB, LabSettings

# The rest loads on first use (PEP 562 ``__getattr__``): a command imports the modules
# of the operations it calls, not of all of them (``run`` never loads the analytics,
# audit, batch or reading modules: ~10 ms of its start). By module, as the names
# are imported under TYPE_CHECKING below; a module in "" is this package's.
_LAZY_MODULES: dict[str, tuple[str, ...]] = {
    "engine.batch.results": (
        "BatchComparison",
        "ComparedSet",
        "MetricComparison",
        "TurnDifference",
        "VariationStatus",
    ),
    "engine.batch.sample_stats": ("MeanDifference",),
    "engine.fold.state": ("metric_label",),
    "engine.play.estimate": ("Estimate", "ModelEstimate"),
    "engine.summary": ("RunSummary",),
    ".after_action": ("AfterAction", "after_action_markdown"),
    ".analytics": (
        "EXPORT_FORMATS",
        "REPORT_FORMATS",
        "SQL_FORMATS",
        "Comparison",
        "ExportRequest",
        "ExportResult",
        "ProjectOutcome",
        "QueryResult",
        "SqlRequest",
        "analytics_path",
        "check_report_format",
        "compare_document",
        "compare_markdown",
        "render",
        "rich_table",
    ),
    ".audit": ("AuditEntry", "AuditQuery", "CheckResult", "audit_markdown"),
    ".batch_compare": ("CompareBatches",),
    ".batches": (
        "BatchCreated",
        "BatchPlanView",
        "BatchResume",
        "BatchRunRequest",
        "BatchStatus",
        "VariationEstimate",
    ),
    ".interview": ("InterviewAnswer", "InterviewRequest"),
    ".reads": (
        "EventLine",
        "ListRuns",
        "LogPage",
        "LogQuery",
        "RunDetail",
        "RunLink",
        "RunList",
        "lineage_order",
        "state_document",
    ),
    ".scenarios": (
        "EstimateRequest",
        "ScenarioDetail",
        "ScenarioEntry",
        "ScenarioProblem",
        "Validation",
        "init_scenario",
        "json_schema",
    ),
    ".seats": ("SeatAnswer", "SeatAnswered", "SeatQuestion"),
    ".steer": ("Inject", "InjectQueuedResult", "WorldProposal", "WorldReview"),
    ".store": ("prepare_log",),
    ".tail": ("LogTail",),
    ".tree": ("BatchLine", "TreeLine"),
    ".verification": ("VerifyReport", "VerifyRequest", "verdict"),
    ".visibility": (
        "STAFF",
        "Seat",
        "SeatPrompt",
        "SeatView",
        "Staff",
        "Viewer",
        "VisiblePage",
        "visible_line",
    ),
    # the analytics layer's errors and documents: importing it loads DuckDB
    "projections": ("AnalyticsError", "QueryError", "Document"),
    # they bring the engine's player, batch player or LLM client with them
    "engine.play.player": ("Progress",),
    "engine.batch.play": ("BatchProgress",),
    "engine.llm": ("LLMSettings",),
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}
_RENAMED = {"BatchRunStatus": ("engine.batch.results", "RunStatus")}

if TYPE_CHECKING:
    from engine.batch.play import BatchProgress
    from engine.batch.results import (
        BatchComparison,
        ComparedSet,
        MetricComparison,
        TurnDifference,
        VariationStatus,
    )
    from engine.batch.results import RunStatus as BatchRunStatus
    from engine.batch.sample_stats import MeanDifference
    from engine.fold.state import metric_label
    from engine.llm import LLMSettings
    from engine.play.estimate import Estimate, ModelEstimate
    from engine.play.player import Progress
    from engine.summary import RunSummary
    from projections import AnalyticsError, Document, QueryError

    from .after_action import AfterAction, after_action_markdown
    from .analytics import (
        EXPORT_FORMATS,
        REPORT_FORMATS,
        SQL_FORMATS,
        Comparison,
        ExportRequest,
        ExportResult,
        ProjectOutcome,
        QueryResult,
        SqlRequest,
        analytics_path,
        check_report_format,
        compare_document,
        compare_markdown,
        render,
        rich_table,
    )
    from .audit import AuditEntry, AuditQuery, CheckResult, audit_markdown
    from .batch_compare import CompareBatches
    from .batches import (
        BatchCreated,
        BatchPlanView,
        BatchResume,
        BatchRunRequest,
        BatchStatus,
        VariationEstimate,
    )
    from .interview import InterviewAnswer, InterviewRequest
    from .reads import (
        EventLine,
        ListRuns,
        LogPage,
        LogQuery,
        RunDetail,
        RunLink,
        RunList,
        lineage_order,
        state_document,
    )
    from .scenarios import (
        EstimateRequest,
        ScenarioDetail,
        ScenarioEntry,
        ScenarioProblem,
        Validation,
        init_scenario,
        json_schema,
    )
    from .seats import SeatAnswer, SeatAnswered, SeatQuestion
    from .steer import Inject, InjectQueuedResult, WorldProposal, WorldReview
    from .store import prepare_log
    from .tail import LogTail
    from .tree import BatchLine, TreeLine
    from .verification import VerifyReport, VerifyRequest, verdict
    from .visibility import (
        STAFF,
        Seat,
        SeatPrompt,
        SeatView,
        Staff,
        Viewer,
        VisiblePage,
        visible_line,
    )


def __getattr__(name: str) -> Any:
    module, attr = _RENAMED.get(name) or (_LAZY.get(name), name)
    if module is None:
        raise AttributeError(f"module 'scenario_lab.app' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value  # found once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    # the lazy names too, as if imported (for completion in an editor or a REPL)
    return sorted({*globals(), *__all__})


__all__ = [
    "BUNDLED_SCENARIOS",
    "CATEGORY_STATUS",
    "DEFAULT_DB",
    "EXPORT_FORMATS",
    "REPORT_FORMATS",
    "SQL_FORMATS",
    "STAFF",
    "AfterAction",
    "AnalyticsError",
    "AuditEntry",
    "AuditQuery",
    "BatchComparison",
    "BatchCreated",
    "BatchLine",
    "BatchPlanView",
    "BatchProgress",
    "BatchResume",
    "BatchRunRequest",
    "BatchRunStatus",
    "BatchStatus",
    "BudgetExceeded",
    "CheckResult",
    "CompareBatches",
    "ComparedSet",
    "Comparison",
    "ConcurrencyConflict",
    "Document",
    "ErrorInfo",
    "Estimate",
    "EstimateRequest",
    "EventLine",
    "ExportRequest",
    "ExportResult",
    "ForkCreated",
    "ForkError",
    "ForkRun",
    "HumanInputPending",
    "Inject",
    "InjectQueuedResult",
    "IntegrityError",
    "InterviewAnswer",
    "InterviewRequest",
    "InvalidRequest",
    "LLMSettings",
    "LLMUnavailable",
    "Lab",
    "LabSettings",
    "ListRuns",
    "LogPage",
    "LogQuery",
    "LogTail",
    "MeanDifference",
    "MetricComparison",
    "MissingCredentials",
    "ModelEstimate",
    "NondeterminismError",
    "NotFound",
    "PendingSeat",
    "PlayHooks",
    "Progress",
    "ProjectOutcome",
    "QueryError",
    "QueryResult",
    "ResumeRun",
    "RunCreated",
    "RunDetail",
    "RunLink",
    "RunList",
    "RunLocked",
    "RunNotFound",
    "RunNotPlayable",
    "RunOutcome",
    "RunSummary",
    "ScenarioDetail",
    "ScenarioEntry",
    "ScenarioInvalid",
    "ScenarioLabError",
    "ScenarioProblem",
    "Seat",
    "SeatAnswer",
    "SeatAnswered",
    "SeatAsk",
    "SeatNotWaiting",
    "SeatPrompt",
    "SeatQuestion",
    "SeatView",
    "SqlRequest",
    "Staff",
    "StartRun",
    "StoreError",
    "StoreWriteFailed",
    "TreeLine",
    "TurnDifference",
    "TurnOutOfRange",
    "UsageError",
    "Validation",
    "VariationEstimate",
    "VariationStatus",
    "VerifyReport",
    "VerifyRequest",
    "Viewer",
    "VisiblePage",
    "WorldProposal",
    "WorldReview",
    "after_action_markdown",
    "analytics_path",
    "audit_markdown",
    "canonical_json",
    "check_report_format",
    "compare_document",
    "compare_markdown",
    "error_info",
    "init_scenario",
    "json_schema",
    "lineage_order",
    "log_location",
    "metric_label",
    "parse_price",
    "prepare_log",
    "render",
    "rich_table",
    "state_document",
    "verdict",
    "visible_line",
]
