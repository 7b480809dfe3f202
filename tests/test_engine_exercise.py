"""The full exercise: talks and their visibility, coalitions, exogenous events, validation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from engine.replay import replay
from eventstore import EventStore
from tests.engine_helpers import LLM3, cli, last_line, llm_env, payloads, runs_json
from tests.fakellm import FakeLLMServer


def _scenario(tmp_path: Path, **changes: Any) -> Path:
    root = tmp_path / "scenario"
    shutil.copytree(LLM3, root)
    data = yaml.safe_load((root / "scenario.yaml").read_text())
    data.update(changes)
    (root / "scenario.yaml").write_text(yaml.safe_dump(data))
    return root


def _schema_name(request: dict[str, Any]) -> str | None:
    return request.get("response_format", {}).get("json_schema", {}).get("name")


def _who(request: dict[str, Any]) -> str:
    """Which actor a prompt is for: the one whose private information it shows."""
    text = json.dumps(request["messages"])
    for actor in ("techco", "regulator", "ngo"):
        if f"SECRET-{actor}-PRIVATE" in text:
            return actor
    return "?"


def _plan(
    messages: list[dict[str, str]] | None = None,
    members: list[str] | None = None,
    purpose: str = "",
    statement: str = "",
) -> str:
    return json.dumps(
        {
            "messages": messages or [],
            "coalition_members": members or [],
            "coalition_purpose": purpose,
            "public_statement": statement,
        }
    )


def test_talks_are_seen_only_by_those_in_them(tmp_path: Path) -> None:
    root = _scenario(
        tmp_path, enable_bilateral_communication=True, enable_public_statements=True, turns=1
    )

    def respond(request: dict[str, Any]) -> str | None:
        name, who = _schema_name(request), _who(request)
        if name == "talkplan":
            if who == "techco":
                return _plan(
                    [{"to": "regulator", "content": "PSST-PRIVATE-OFFER"}],
                    statement="We welcome dialogue.",
                )
            return _plan()
        if name == "reply":
            return json.dumps({"reply": "REPLY-FROM-REGULATOR"})
        return None

    with FakeLLMServer(responder=respond) as fake:
        result = cli("run", root, "--db", tmp_path / "log.db", env=llm_env(fake.base_url))
        assert result.exit_code == 0, result.output
        decisions = {
            _who(r["json"]): json.dumps(r["json"]["messages"])
            for r in fake.requests
            if _schema_name(r["json"]) == "decision"
        }
    assert (
        "PSST-PRIVATE-OFFER" in decisions["techco"]
        and "PSST-PRIVATE-OFFER" in decisions["regulator"]
    )
    assert "REPLY-FROM-REGULATOR" in decisions["techco"]
    assert (
        "PSST-PRIVATE-OFFER" not in decisions["ngo"]
        and "REPLY-FROM-REGULATOR" not in decisions["ngo"]
    )
    assert all("We welcome dialogue." in text for text in decisions.values())  # public
    rows = payloads(tmp_path / "log.db", last_line(result.stdout))
    sent = [p for _t, ty, p in rows if ty == "MessageSent"]
    talk = next(m for m in sent if m["kind"] == "talk")
    assert (
        talk["channel"] == "bilateral"
        and talk["visibility"] == "private"
        and talk["recipients"] == ["regulator"]
    )
    reply = next(m for m in sent if m["kind"] == "reply")
    assert reply["in_reply_to"] == talk["message_id"] and reply["sender"] == "regulator"
    statement = next(m for m in sent if m["kind"] == "statement")
    assert statement["visibility"] == "public" and set(statement["recipients"]) == {
        "regulator",
        "ngo",
    }


def test_disabled_channels_and_the_cap_are_enforced(tmp_path: Path) -> None:
    root = _scenario(
        tmp_path, enable_bilateral_communication=True, max_communications_per_turn=1, turns=1
    )

    def respond(request: dict[str, Any]) -> str | None:
        if _schema_name(request) == "talkplan" and _who(request) == "ngo":
            return _plan(
                [{"to": "techco", "content": "one"}, {"to": "regulator", "content": "two"}],
                statement="public but disabled",
            )
        return None

    with FakeLLMServer(responder=respond) as fake:
        result = cli("run", root, "--db", tmp_path / "log.db", env=llm_env(fake.base_url))
    rows = payloads(tmp_path / "log.db", last_line(result.stdout))
    from_ngo = [p for _t, ty, p in rows if ty == "MessageSent" and p["sender"] == "ngo"]
    assert [m["content"] for m in from_ngo] == ["one"]


def test_a_rejected_coalition_is_not_formed(tmp_path: Path) -> None:
    root = _scenario(tmp_path, enable_coalition_formation=True, turns=1)

    def respond(request: dict[str, Any]) -> str | None:
        name, who = _schema_name(request), _who(request)
        if name == "talkplan":
            if who == "techco":
                return _plan(members=["regulator", "ngo"], purpose="A joint industry code")
            return _plan()
        if name == "coalitionanswer":
            accept = who == "regulator"
            return json.dumps(
                {"accept": accept, "reason": "yes" if accept else "conflict of interest"}
            )
        return None

    db = tmp_path / "log.db"
    with FakeLLMServer(responder=respond) as fake:
        result = cli("run", root, "--db", db, env=llm_env(fake.base_url))
    run_id = last_line(result.stdout)
    sent = [p for _t, ty, p in payloads(db, run_id) if ty == "MessageSent"]
    assert [m["kind"] for m in sent] == ["proposal", "accept", "reject"]
    reject = sent[2]
    assert (
        reject["sender"] == "ngo"
        and reject["channel"] == "coalition"
        and reject["content"] == "conflict of interest"
    )
    with EventStore.open(db) as store:
        state = replay(store, run_id)
    [coalition] = state.messages.coalitions.values()
    assert coalition.rejected == ("ngo",) and coalition.accepted == ("regulator",)


def test_conditional_event_fires_because_of_a_metric(tmp_path: Path) -> None:
    root = _scenario(tmp_path, turns=3)
    (root / "exogenous-events.yaml").write_text(
        yaml.safe_dump(
            {
                "exogenous_events": [
                    {
                        "name": "Walkout",
                        "description": "Talks collapse.",
                        "type": "conditional",
                        "conditions": {"cooperation": "<= 2"},
                    },
                ]
            }
        )
    )
    answers = iter([8.0, 1.0, 9.0])

    def respond(request: dict[str, Any]) -> str | None:
        if _schema_name(request) == "metric":
            return json.dumps({"value": next(answers), "explanation": "scored"})
        return None

    db = tmp_path / "log.db"
    with FakeLLMServer(responder=respond) as fake:
        result = cli("run", root, "--db", db, env=llm_env(fake.base_url))
    rows = payloads(db, last_line(result.stdout))
    fired = [(t, p["name"], p["kind"]) for t, ty, p in rows if ty == "ExogenousEventTriggered"]
    # cooperation was 8 after turn 1 (no), 1 after turn 2: fires at the start of turn 3, once
    assert fired == [(3, "Walkout", "conditional")]


def test_grouped_exogenous_layout_is_converted(tmp_path: Path) -> None:
    root = _scenario(tmp_path)
    (root / "exogenous-events.yaml").write_text(
        yaml.safe_dump(
            {
                "scheduled_events": [
                    {"name": "Vote", "description": "Parliament votes.", "turn": 2}
                ],
                "random_events": [{"name": "Leak", "description": "A leak.", "probability": 0.0}],
            }
        )
    )
    from engine.scenario.load import load_scenario

    kinds = [(e.name, e.type) for e in load_scenario(root).scenario.exogenous_events]
    assert sorted(kinds) == [("Leak", "random"), ("Vote", "scheduled")]
    (root / "exogenous-events.yaml").write_text(yaml.safe_dump({"surprises": [{"name": "x"}]}))
    result = cli("validate", root)
    assert (
        result.exit_code == 1
        and "exogenous-events.yaml:1: surprises: is not a known group" in result.stdout
    )


def test_halt_on_critical_validation(tmp_path: Path) -> None:
    root = _scenario(tmp_path, turns=2)
    (root / "validation-rules.yaml").write_text(
        yaml.safe_dump(
            {
                "checks": {
                    "plausibility": {
                        "description": "Is it plausible?",
                        "severity": "high",
                        "prompt": "CUSTOM-CHECK-PROMPT: judge plausibility.",
                    }
                },
                "halt_on_critical": True,
            }
        )
    )
    verdicts = iter([False, True, True])

    def respond(request: dict[str, Any]) -> str | None:
        if _schema_name(request) == "validation":
            ok = next(verdicts)
            return json.dumps(
                {
                    "passed": ok,
                    "issues": [] if ok else ["teleporting troops"],
                    "severity": "high",
                    "explanation": "checked",
                }
            )
        return None

    db = tmp_path / "log.db"
    with FakeLLMServer(responder=respond) as fake:
        env = llm_env(fake.base_url)
        result = cli("run", root, "--db", db, env=env)
        run_id = last_line(result.stdout)
        checks = [r["json"] for r in fake.requests if _schema_name(r["json"]) == "validation"]
        assert "CUSTOM-CHECK-PROMPT" in json.dumps(checks[0]["messages"])  # the check's own prompt
        [summary] = runs_json(db)
        assert summary["status"] == "halted" and summary["halt_reason"] == "validation"
        assert summary["turns_completed"] == 0
        resumed = cli("resume", run_id, "--db", db, env=env)
        assert resumed.exit_code == 0, resumed.output
    [summary] = runs_json(db)
    assert summary["status"] == "completed"
    recorded = [p for _t, ty, p in payloads(db, run_id) if ty == "ValidationRecorded"]
    assert [v["passed"] for v in recorded] == [False, True]
    assert recorded[0]["issues"] == ["teleporting troops"] and recorded[0]["severity"] == "high"


def test_a_human_replies_to_a_talk_and_answers_an_invitation(tmp_path: Path) -> None:
    root = _scenario(
        tmp_path, enable_bilateral_communication=True, enable_coalition_formation=True, turns=1
    )
    seat = yaml.safe_load((root / "actors" / "regulator.yaml").read_text())
    seat["control"] = "human"
    (root / "actors" / "regulator.yaml").write_text(yaml.safe_dump(seat))

    def respond(request: dict[str, Any]) -> str | None:
        name, who = _schema_name(request), _who(request)
        if name == "talkplan":
            if who == "techco":
                return _plan(
                    [{"to": "regulator", "content": "Can we meet?"}],
                    members=["regulator", "ngo"],
                    purpose="Joint code",
                )
            return _plan()
        if name == "coalitionanswer":
            return json.dumps({"accept": True, "reason": "fine"})
        return None

    db = tmp_path / "log.db"
    with FakeLLMServer(responder=respond) as fake:
        env = llm_env(fake.base_url)
        played = cli("run", root, "--db", db, env=env)
        run_id = last_line(played.stdout)
        [summary] = runs_json(db)
        assert summary["status"] == "halted" and summary["halt_reason"] == "human_input"
        # the suggested command answers what is asked: a reply, not a decision
        assert f"decide {run_id} --actor regulator --reply '...' --db {db}" in played.stderr
        shown = cli("decide", run_id, "--db", db, "--actor", "regulator", "--show")
        assert shown.exit_code == 0, shown.output
        assert "regulator is asked for a reply to a talk from techco (bilateral, turn 1" in (
            shown.stdout
        )
        assert "Can we meet?" in shown.stdout and "--reply TEXT" in shown.stdout
        wrong = cli("decide", run_id, "--db", db, "--actor", "regulator", "--action", "x")
        assert wrong.exit_code == 2 and "--reply" in wrong.stderr
        blank = cli("decide", run_id, "--db", db, "--actor", "regulator", "--reply", "   ")
        assert blank.exit_code == 2 and "--reply" in blank.stderr  # nothing said: not recorded
        ok = cli("decide", run_id, "--db", db, "--actor", "regulator", "--reply", "Tuesday works.")
        assert ok.exit_code == 0, ok.output
        early = cli("resume", run_id, "--db", db, env=env)
        assert (
            early.exit_code == 3 and f"decide {run_id} --actor regulator --accept" in early.stderr
        )
        no = cli(
            "decide",
            run_id,
            "--db",
            db,
            "--actor",
            "regulator",
            "--reject",
            "--reasoning",
            "Must stay neutral.",
        )
        assert no.exit_code == 0, no.output
        resumed = cli("resume", run_id, "--db", db, env=env)
        assert resumed.exit_code == 3, resumed.output  # halted again: exit 3
        # the run then waits for the regulator's decision of the turn
        decided = cli(
            "decide", run_id, "--db", db, "--actor", "regulator", "--action", "Publishes guidance."
        )
        assert decided.exit_code == 0, decided.output
        assert cli("resume", run_id, "--db", db, env=env).exit_code == 0
    sent = [p for _t, ty, p in payloads(db, run_id) if ty == "MessageSent"]
    reply = next(m for m in sent if m["kind"] == "reply")
    assert reply["sender"] == "regulator" and reply["content"] == "Tuesday works."
    reject = next(m for m in sent if m["kind"] == "reject")
    assert reject["sender"] == "regulator" and reject["content"] == "Must stay neutral."
    [summary] = runs_json(db)
    assert summary["status"] == "completed"
