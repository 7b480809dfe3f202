"""replay --check against committed recorded runs: one consistent, one divergent."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.audit.check import check_run
from engine.errors import NondeterminismError
from engine.play.session import tool_version
from eventstore import CallFailed, CostIncurred, DecisionMade, EventStore, MessageSent, RunStarted
from tests.check_helpers import TALKERS, talker, talks_scenario
from tests.engine_helpers import cli, last_line, llm_env
from tests.fakellm import FakeLLMServer
from tests.recorded import import_run
from tests.store_helpers import raw_connection

FIXTURES = Path(__file__).parent / "fixtures"


def _load(name: str, tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "log.db"
    with EventStore.open(db) as store:
        run_id = import_run(FIXTURES / name, store)
        assert store.verify(run_id).ok
    return db, run_id


def test_recorded_run_replays_consistently(tmp_path: Path) -> None:
    db, run_id = _load("recorded-llm3.jsonl", tmp_path)
    result = cli("replay", run_id, "--db", db, "--check")
    assert result.exit_code == 0, result.output
    assert f"{run_id}: consistent" in result.stdout


def test_divergent_recording_names_the_first_differing_step(tmp_path: Path) -> None:
    db, run_id = _load("recorded-llm3-divergent.jsonl", tmp_path)
    with EventStore.open(db) as store, pytest.raises(NondeterminismError) as caught:
        check_run(store, run_id)
    err = caught.value
    assert err.run_id == run_id and err.turn == 2 and err.step == "DecisionMade"
    assert err.actor is not None
    result = cli("replay", run_id, "--db", db, "--check")
    assert result.exit_code == 1
    assert "turn 2" in result.stderr and "DecisionMade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_changed_prompt_is_reported_as_a_request_not_in_the_log(tmp_path: Path) -> None:
    db, run_id = _load("recorded-llm3.jsonl", tmp_path)
    # a scenario edit that changes what actors are told: the recorded answers no longer fit
    with raw_connection(db) as conn:
        conn.execute(
            "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'Careful', 'Reckless') AS BLOB) "
            "WHERE type = 'RunStarted'"
        )
    with EventStore.open(db) as store, pytest.raises(NondeterminismError) as caught:
        check_run(store, run_id)
    err = caught.value
    assert "does not contain" in str(err) and err.step == "decision"
    # named like any other difference: run, turn, actor and step
    assert err.run_id == run_id and err.turn == 1 and err.actor in ("techco", "regulator", "ngo")
    assert (
        f"run {run_id}" in str(err) and "in turn 1" in str(err) and f"for {err.actor}" in str(err)
    )
    # the committed recording names the version that made it: a check by another
    # version says prompts may differ between versions and which one to check with
    with EventStore.open(db) as store:
        recorded = next(e for e in store.read_events(run_id) if isinstance(e, RunStarted))
        recorded_version = recorded.tool_version
    assert recorded_version != tool_version()
    assert err.hint == (
        f"the run was recorded by scenario-lab {recorded_version} and this is {tool_version()}, "
        "whose prompts may differ: check it with the version that recorded it"
    )
    result = cli("replay", run_id, "--db", db, "--check")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert f"recorded by scenario-lab {recorded_version}" in result.stderr


# -- runs with a communication phase ---------------------------------------------------
#
# Communication calls are logged as their messages (each naming its call) plus a
# CostIncurred linking the request and raw answer; an answer that cannot be used is a
# CallFailed after a re-ask.


def _record_talks(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "log.db"
    with FakeLLMServer(responder=talker) as fake:
        result = cli(
            "run",
            talks_scenario(tmp_path),
            "--db",
            db,
            "--turns",
            "2",
            "--seed",
            "5",
            env=llm_env(fake.base_url),
        )
        assert result.exit_code == 0, result.output
        run_id = last_line(result.stdout)
        before = fake.request_count
        # the check makes no request: the fake is still up only to catch one
        check = cli("replay", run_id, "--db", db, "--check")
        assert fake.request_count == before
    assert check.exit_code == 0, check.output
    assert f"{run_id}: consistent" in check.stdout
    return db, run_id


def test_a_run_with_talks_replays_consistently(tmp_path: Path) -> None:
    db, run_id = _record_talks(tmp_path)
    with EventStore.open(db) as store:
        sent = [e for e in store.read_events(run_id) if isinstance(e, MessageSent)]
        costs = [
            e
            for e in store.read_events(run_id)
            if isinstance(e, CostIncurred) and e.purpose == "communication"
        ]
    kinds = {(m.turn, m.channel, m.kind) for m in sent}
    # every kind of message, from plans, replies and coalition answers, in both turns
    assert {
        (1, "bilateral", "talk"),
        (1, "bilateral", "reply"),
        (1, "coalition", "proposal"),
        (1, "coalition", "accept"),
        (1, "coalition", "reject"),
        (1, "public", "statement"),
        (2, "coalition", "talk"),
        (2, "bilateral", "reply"),
    } <= kinds
    assert not any(m.sender == "ngo" and m.kind in ("talk", "statement") for m in sent)
    # ngo's plan stayed unreadable after a re-ask: two paid calls and a recorded failure
    assert [c.request_id for c in costs].count("talk:1:ngo") == 2
    with EventStore.open(db) as store:
        failed = [e for e in store.read_events(run_id) if isinstance(e, CallFailed)]
        # every message names the call it came from, so its raw answer is in the log
        assert all(m.call is not None and m.call.response_hash for m in sent)
        raw = store.get_blob(sent[0].call.response_hash or "").decode()
        assert sent[0].content in raw
    assert {(f.turn, f.request_id, f.error_kind, f.asks) for f in failed} == {
        (1, "talk:1:ngo", "unparsable", 2),
        (2, "talk:2:ngo", "unparsable", 2),
    }


def test_a_changed_decision_answer_in_a_run_with_talks_is_detected(tmp_path: Path) -> None:
    db, run_id = _record_talks(tmp_path)
    with EventStore.open(db) as store:
        target = next(
            e
            for e in store.read_events(run_id)
            if isinstance(e, DecisionMade) and e.turn == 2 and e.actor == "regulator"
        )
        assert target.call is not None and target.call.response_hash is not None
        with raw_connection(db) as conn:  # edited as someone with the file could
            changed = conn.execute(
                "UPDATE blobs SET data = CAST(replace(CAST(data AS TEXT), 'regulator acts', "
                "'regulator retreats') AS BLOB) WHERE sha256 = ?",
                (target.call.response_hash,),
            ).rowcount
        assert changed == 1
        with pytest.raises(NondeterminismError) as caught:
            check_run(store, run_id)
    err = caught.value
    # the answer no longer matches the hash its call recorded: named before it is used
    assert err.run_id == run_id and err.turn == 2 and err.step == "decision"
    assert err.actor == "regulator" and "d2-regulator" in str(err) and "was changed" in str(err)


def test_a_changed_message_in_a_run_with_talks_is_detected(tmp_path: Path) -> None:
    db, run_id = _record_talks(tmp_path)
    # ngo's reply to regulator in turn 1, as if the model had answered otherwise: the
    # engine derives it again from the raw answer its call recorded
    with raw_connection(db) as conn:
        changed = conn.execute(
            "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'ngo answers', "
            "'ngo refuses') AS BLOB) WHERE type = 'MessageSent' AND turn = 1 AND run_id = ? "
            "AND CAST(payload AS TEXT) LIKE '%ngo answers%'",
            (run_id,),
        ).rowcount
    assert changed == 1
    with EventStore.open(db) as store, pytest.raises(NondeterminismError) as caught:
        check_run(store, run_id)
    err = caught.value
    assert err.turn == 1 and err.actor == "ngo" and err.step == "MessageSent"
    assert "turn 1" in str(err) and "field content differs" in str(err)


def test_a_changed_talk_prompt_is_reported_with_its_turn_actor_and_step(tmp_path: Path) -> None:
    db, run_id = _record_talks(tmp_path)
    with raw_connection(db) as conn:
        conn.execute(
            "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'Careful', 'Reckless') AS BLOB) "
            "WHERE type = 'RunStarted' AND run_id = ?",
            (run_id,),
        )
    with EventStore.open(db) as store, pytest.raises(NondeterminismError) as caught:
        check_run(store, run_id)
    err = caught.value
    assert err.run_id == run_id and err.turn == 1 and err.step == "communication"
    assert err.actor in TALKERS
    message = str(err)
    assert "turn 1" in message and f"for {err.actor}" in message
    assert f"talk:1:{err.actor}" in message and "does not contain" in message
    assert err.hint is None  # recorded by this version: no version to blame


def test_a_branch_replays_consistently_from_its_fork(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with FakeLLMServer(responder=talker) as fake:
        env = llm_env(fake.base_url)
        scenario = talks_scenario(tmp_path)
        run = cli("run", scenario, "--db", db, "--turns", "2", "--seed", "5", env=env)
        assert run.exit_code == 0, run.output
        parent = last_line(run.stdout)
        branches = []
        for extra in ([], ["--decision", "techco=Techco publishes its safety audits."]):
            fork = cli("fork", parent, "--db", db, "--at-turn", "1", "--play", *extra, env=env)
            assert fork.exit_code == 0, fork.output
            branches.append(last_line(fork.stdout))
        twig = cli(
            "fork", branches[0], "--db", db, "--at-turn", "2", "--turns", "3", "--play", env=env
        )
        assert twig.exit_code == 0, twig.output
        branches.append(last_line(twig.stdout))
        before = fake.request_count
        checks = [cli("replay", b, "--db", db, "--check") for b in branches]
        assert fake.request_count == before  # answered from the log alone
    for branch, check in zip(branches, checks, strict=True):
        assert check.exit_code == 0, check.output
        assert f"{branch}: consistent" in check.stdout
