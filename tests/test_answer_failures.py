"""Answers that cannot be used are asked for again, then recorded as failed; never dropped
silently, never taken as content when cut off. For every kind of call (a talk plan, a
reply, a coalition answer, a decision, the world update, a metric, a check), against
the loopback fake model: an unreadable answer, one cut at the token limit
(``finish_reason: length``), a structured answer the client gives up on, a malformed
HTTP body. Each run must still check consistent (``replay --check``), and its failures
must show in the log, the audit trail, the analytics tables and the report.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from engine.audit.trail import audit
from engine.llm import DecisionOut, json_schema_for
from engine.play.outputs import MetricOut, ValidationOut, WorldOut
from engine.play.talks import CoalitionAnswer, Reply, TalkPlan
from eventstore import (
    CallFailed,
    CostIncurred,
    DecisionFailed,
    DecisionMade,
    EventStore,
    MessageSent,
    MetricRecorded,
    ValidationRecorded,
    WorldUpdated,
)
from tests.check_helpers import TALKERS, consistent, play_here, talker, talks_scenario
from tests.engine_helpers import cli
from tests.fakellm import FakeLLMServer, instance_of

# kind of call -> (the answer's model, the actor whose call a test spoils, or None)
KINDS: dict[str, tuple[type[BaseModel], str | None]] = {
    "talkplan": (TalkPlan, "techco"),
    "reply": (Reply, "regulator"),
    "coalitionanswer": (CoalitionAnswer, "regulator"),
    "decision": (DecisionOut, "techco"),
    "world_update": (WorldOut, None),
    "metric": (MetricOut, None),
    "validation": (ValidationOut, None),
}
PURPOSE = {
    "talkplan": "communication",
    "reply": "communication",
    "coalitionanswer": "communication",
    "decision": "decision",
    "world_update": "world_update",
    "metric": "metric",
    "validation": "validation",
}
UNREADABLE = {"content": "I would rather not put this in any particular form."}


def kind_of(request: dict[str, Any]) -> str:
    """Which call a request is: by its schema's name, or (without JSON mode) by its
    token budget and its task."""
    name = request.get("response_format", {}).get("json_schema", {}).get("name")
    if name:
        return str(name)
    text = json.dumps(request["messages"])
    tokens = request.get("max_tokens")
    if tokens == 700:
        if "wrote to you privately" in text:
            return "reply"
        return "coalitionanswer" if "proposes a coalition" in text else "talkplan"
    return {1200: "decision", 1500: "world_update", 300: "metric", 500: "validation"}[tokens]


class Model:
    """The fake model's answers: ``spoiled`` replies first, for one kind of call (of one
    actor), then good ones; every plan is readable (ngo's says nothing)."""

    def __init__(self) -> None:
        self.spoiled: dict[tuple[str, str | None], deque[dict[str, Any]]] = {}

    def spoil(self, kind: str, *replies: dict[str, Any]) -> None:
        self.spoiled[(kind, KINDS[kind][1])] = deque(replies)

    def good(self, kind: str, request: dict[str, Any]) -> str:
        model = KINDS[kind][0]
        named = {**request, "response_format": {"json_schema": {"name": kind}}}
        answer = talker(named)
        if kind == "talkplan" and answer is not None and not answer.startswith("{"):
            answer = TalkPlan(
                messages=[], coalition_members=[], coalition_purpose="", public_statement=""
            ).model_dump_json()
        return answer or json.dumps(instance_of(json_schema_for(model), name=kind))

    def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = kind_of(request)
        prompt = json.dumps(request["messages"])
        actor = next((a for a in TALKERS if f"SECRET-{a}-PRIVATE" in prompt), None)
        queue = self.spoiled.get((kind, actor if KINDS[kind][1] else None))
        if queue:
            return queue.popleft()
        return {"content": self.good(kind, request)}


@pytest.fixture
def model() -> Model:
    return Model()


@pytest.fixture
def fake(model: Model) -> Iterator[FakeLLMServer]:
    with FakeLLMServer(responder=model) as server:
        yield server


def _cut(kind: str) -> dict[str, Any]:
    """A good answer of ``kind``, cut halfway at the token limit."""
    text = json.dumps(instance_of(json_schema_for(KINDS[kind][0]), name=kind))
    return {"content": text[: len(text) // 2], "finish_reason": "length"}


def _run(fake: FakeLLMServer, tmp_path: Path, *, json_mode: bool = True) -> tuple[Path, str, Any]:
    db = tmp_path / "log.db"
    scenario = talks_scenario(tmp_path, validation=True)
    run_id, state = play_here(fake.base_url, db, scenario, json_mode=json_mode, turns=1)
    return db, run_id, state


def _events(db: Path, run_id: str) -> list[Any]:
    with EventStore.open(db) as store:
        return store.read_events(run_id)


def _calls_of(events: list[Any], kind: str) -> list[CostIncurred]:
    """The costs of the spoiled calls: those of the purpose and actor a test spoils."""
    actor = KINDS[kind][1]
    return [
        e
        for e in events
        if isinstance(e, CostIncurred)
        and e.purpose == PURPOSE[kind]
        and (actor is None or e.actor == actor)
        and e.request_id is not None
        and kind_prefix(kind, e.request_id)
    ]


def kind_prefix(kind: str, request_id: str) -> bool:
    prefix = {"talkplan": "talk:", "reply": "reply:", "coalitionanswer": "coalition:"}
    return request_id.startswith(prefix.get(kind, ""))


ALL = list(KINDS)


@pytest.mark.parametrize("kind", ALL)
@pytest.mark.parametrize("spoiled", ["unreadable", "cut"])
def test_an_unusable_answer_is_asked_for_again(
    tmp_path: Path, fake: FakeLLMServer, model: Model, kind: str, spoiled: str
) -> None:
    # a cut answer reaches the engine only without JSON mode: with it, the client itself
    # retries a structured answer cut short (see the next tests)
    model.spoil(kind, UNREADABLE if spoiled == "unreadable" else _cut(kind))
    db, run_id, state = _run(fake, tmp_path, json_mode=spoiled == "unreadable")
    assert state.status == "completed"
    events = _events(db, run_id)
    assert not [e for e in events if isinstance(e, CallFailed | DecisionFailed)]
    first, again = _calls_of(events, kind)[:2]
    # both calls are in the ledger, the spoiled answer with how it ended
    assert first.request_id == again.request_id and first.prompt_hash != again.prompt_hash
    assert first.finish_reason == ("length" if spoiled == "cut" else "stop")
    with EventStore.open(db) as store:
        spoiled_text = store.get_blob(first.response_hash or "").decode()
    assert spoiled_text == (UNREADABLE if spoiled == "unreadable" else _cut(kind))["content"]
    used = [
        e.call
        for e in events
        if isinstance(e, DecisionMade | MessageSent | WorldUpdated)
        and e.call is not None
        and e.call.response_hash == again.response_hash
    ]
    if kind in ("talkplan", "reply", "coalitionanswer", "decision", "world_update"):
        assert used and used[0].parse_method.startswith("reask:")
    consistent(db, run_id)


def _failed(events: list[Any], kind: str) -> Any:
    if kind == "decision":
        [failed] = [e for e in events if isinstance(e, DecisionFailed)]
        return failed
    actor = KINDS[kind][1]
    [failed] = [
        e
        for e in events
        if isinstance(e, CallFailed)
        and e.purpose == PURPOSE[kind]
        and e.actor == actor
        and kind_prefix(kind, e.request_id)
    ]
    return failed


@pytest.mark.parametrize("kind", ALL)
@pytest.mark.parametrize("spoiled", ["unreadable", "cut"])
def test_an_answer_unusable_twice_is_recorded_as_failed(
    tmp_path: Path, fake: FakeLLMServer, model: Model, kind: str, spoiled: str
) -> None:
    bad = UNREADABLE if spoiled == "unreadable" else _cut(kind)
    model.spoil(kind, bad, bad)
    db, run_id, state = _run(fake, tmp_path, json_mode=spoiled == "unreadable")
    events = _events(db, run_id)
    failed = _failed(events, kind)
    expected_kind = "unparsable" if spoiled == "unreadable" else "truncated"
    assert failed.error_kind == expected_kind and "after" in failed.error
    assert len(_calls_of(events, kind)) == 2  # asked twice, both paid and linked
    if kind != "decision":
        assert failed.asks == 2 and failed.call is not None and failed.call.response_hash
    _outcome_without_the_answer(events, kind, state)
    # the failure shows: in the log's one-liners, the audit, the tables and the report
    log = cli("log", run_id, "--db", db, "--type", type(failed).__name__)
    assert log.exit_code == 0 and expected_kind in log.stdout
    with EventStore.open(db) as store:
        entries = audit(store, run_id)
    [entry] = [e for e in entries if e["request_id"] == failed.request_id]
    assert entry["outcome"] == "failed" and entry["error_kind"] == expected_kind
    assert [c["raw_response"] for c in entry["calls"]] == [bad["content"]] * 2
    if kind != "decision":
        sql = cli(
            "sql",
            "--db",
            db,
            "--format",
            "json",
            "SELECT purpose, error_kind, asks FROM call_failures",
        )
        assert sql.exit_code == 0, sql.output
        rows = json.loads(sql.stdout)
        assert {"purpose": PURPOSE[kind], "error_kind": expected_kind, "asks": 2} in rows
        report = cli("report", run_id, "--db", db)
        assert "### Answers not used" in report.stdout and expected_kind in report.stdout
    if state.status == "halted":  # the world update: a resume asks again
        resumed = cli(
            "resume", run_id, "--db", db, env={"SCENARIO_LAB_LLM_BASE_URL": fake.base_url}
        )
        assert resumed.exit_code == 0, resumed.output
    consistent(db, run_id)


def _outcome_without_the_answer(events: list[Any], kind: str, state: Any) -> None:
    """What a run does when a call of ``kind`` had no usable answer."""
    actor = KINDS[kind][1]
    said = [e for e in events if isinstance(e, MessageSent)]
    if kind == "talkplan":  # techco says nothing: no talk, no proposal, no statement
        assert not [m for m in said if m.sender == "techco"]
    elif kind == "reply":  # the talk stays unanswered
        assert not [m for m in said if m.sender == actor and m.kind == "reply"]
    elif kind == "coalitionanswer":  # neither joins nor declines
        assert not [m for m in said if m.sender == actor and m.kind in ("accept", "reject")]
    elif kind == "decision":
        assert actor in state.turn_progress.failed
    elif kind == "world_update":  # no narrative made of it: the run halts
        assert not [e for e in events if isinstance(e, WorldUpdated)]
        assert (state.status, state.halt_reason) == ("halted", "llm_unavailable")
    elif kind == "metric":
        [m] = [e for e in events if isinstance(e, MetricRecorded) and e.method == "llm"]
        assert m.value is None and m.error
    elif kind == "validation":
        [v] = [e for e in events if isinstance(e, ValidationRecorded)]
        assert not v.passed and v.issues == ("unparsable check answer",)
    if kind not in ("world_update",):
        assert state.status == "completed"


def test_a_decision_cut_off_mid_action_is_not_taken_as_the_decision(
    tmp_path: Path, fake: FakeLLMServer, model: Model
) -> None:
    # readable as markdown, but cut: its ACTION is not what the model meant to say
    cut = {"content": "REASONING: Calm.\nACTION: Propose a cease", "finish_reason": "length"}
    model.spoil("decision", cut)
    db, run_id, state = _run(fake, tmp_path, json_mode=False)
    assert state.status == "completed"
    [made] = [e for e in _events(db, run_id) if isinstance(e, DecisionMade) and e.actor == "techco"]
    assert made.action != "Propose a cease" and made.parse_method.startswith("reask:")
    consistent(db, run_id)


@pytest.mark.parametrize("kind", ["talkplan", "world_update", "metric", "validation"])
def test_a_structured_answer_the_client_gives_up_on_is_recorded(
    tmp_path: Path, fake: FakeLLMServer, model: Model, kind: str
) -> None:
    # with JSON mode, an answer cut short is the client's to retry; with no retries left
    # the call has no answer, and says why
    model.spoil(kind, _cut(kind))
    db, run_id, _state = _run(fake, tmp_path)
    failed = _failed(_events(db, run_id), kind)
    assert failed.error_kind == "truncated" and failed.asks == 1
    assert failed.call is not None and failed.call.response_hash is None
    assert [a.outcome for a in failed.call.attempts] == ["truncated"]


def test_a_malformed_body_is_a_call_with_no_answer(
    tmp_path: Path, fake: FakeLLMServer, model: Model
) -> None:
    fake.fail_next(1, "malformed")  # the first call of the run: a talk plan
    db, run_id, state = _run(fake, tmp_path)
    assert state.status == "completed"
    events = _events(db, run_id)
    [failed] = [e for e in events if isinstance(e, CallFailed) and e.purpose == "communication"]
    assert failed.error_kind == "llm_unavailable" and failed.call is not None
    assert [a.outcome for a in failed.call.attempts] == ["malformed"]
    # the talker is silent that turn, and a resume would not ask again
    assert failed.request_id in state.turn_progress.call_ids
    consistent(db, run_id)
