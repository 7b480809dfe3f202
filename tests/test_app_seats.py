"""Human seats through the application API: what a seat is asked, answering it, and the
refusals a second answer or a wrong one gets."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from scenario_lab.app import (
    HumanInputPending,
    InvalidRequest,
    NotFound,
    PlayHooks,
    ResumeRun,
    SeatAnswer,
    SeatNotWaiting,
    StartRun,
)
from tests.app_helpers import TABLETOP, make_lab, play

SEAT = "grid-operator"


@pytest.fixture
def waiting(tmp_path: Path) -> tuple[Path, str]:
    lab = make_lab(tmp_path)
    outcome = play(lab, StartRun(scenario=str(TABLETOP), seed=3))
    assert (outcome.status, outcome.halt_reason) == ("halted", "human_input")
    [seat] = outcome.pending
    assert (seat.actor, seat.kind, seat.action_name) == (SEAT, "decision", "manual_restoration")
    return tmp_path, outcome.run_id


def test_the_seat_is_asked_with_its_prompt_and_choices(waiting: tuple[Path, str]) -> None:
    tmp_path, run_id = waiting
    lab = make_lab(tmp_path)
    q = lab.seat_question(run_id, SEAT)
    assert (q.run_id, q.actor, q.kind, q.turn) == (run_id, SEAT, "decision", 1)
    assert q.prompt and all(m.role and m.content for m in q.prompt)
    assert "manual_restoration" in {c.name for c in q.choices} and q.message is None
    assert lab.seat_questions(run_id) == (q,)
    assert lab.run(run_id).seats_pending[0].actor == SEAT
    with pytest.raises(SeatNotWaiting):
        lab.seat_question(run_id, "government")


def test_resume_refuses_while_the_seat_waits_and_says_which(waiting: tuple[Path, str]) -> None:
    tmp_path, run_id = waiting
    with pytest.raises(HumanInputPending) as info:
        make_lab(tmp_path).resume_run(ResumeRun(run=run_id))
    assert info.value.code == "human-input-pending" and info.value.category == "conflict"
    [seat] = info.value.seats
    assert (seat.actor, seat.kind, seat.action_name) == (SEAT, "decision", "manual_restoration")
    assert info.value.one_line({"interactive": "--interactive"}).endswith(
        "(answer for the seat, or resume with --interactive to answer here)"
    )


def test_wrong_answers_are_refused_with_the_field_to_give(waiting: tuple[Path, str]) -> None:
    tmp_path, run_id = waiting
    lab = make_lab(tmp_path)
    refused = [
        (SeatAnswer(actor="nobody", action="x"), NotFound, "actor"),
        (SeatAnswer(actor="government", action="x"), SeatNotWaiting, None),
        (SeatAnswer(actor=SEAT, action="By hand."), InvalidRequest, "action_name"),
        (SeatAnswer(actor=SEAT, action_name="nope"), InvalidRequest, "action_name"),
        (SeatAnswer(actor=SEAT, reply="hello"), InvalidRequest, "action_name"),
    ]
    for answer, error, field in refused:
        with pytest.raises(error) as info:
            lab.answer_seat(run_id, answer)
        assert info.value.field == field, answer  # type: ignore[attr-defined]
    assert lab.seat_question(run_id, SEAT).turn == 1  # nothing was recorded


def test_an_answer_is_recorded_once_and_the_run_goes_on(waiting: tuple[Path, str]) -> None:
    tmp_path, run_id = waiting
    lab = make_lab(tmp_path)
    answer = SeatAnswer(
        actor=SEAT, action_name="manual_restoration", submitted_by="user-7", via="test"
    )
    answered = lab.answer_seat(run_id, answer)
    assert (answered.kind, answered.turn, answered.actor) == ("decision", 1, SEAT)
    with pytest.raises(SeatNotWaiting) as again:
        lab.answer_seat(run_id, answer)
    assert again.value.code == "seat-not-waiting" and "already decided" in again.value.message
    lab.resume_run(ResumeRun(run=run_id))
    outcome = anyio.run(lab.play_run, run_id)
    assert (outcome.status, outcome.pending[0].turn) == ("halted", 2)  # asked again next turn


def test_a_seat_answered_inline_by_the_human_prompt_hook(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    asked: list[str] = []

    def answer(actor: str, ctx: object, messages: list[dict[str, str]]) -> dict[str, object]:
        asked.append(actor)
        return {"action": "By hand.", "action_name": "manual_restoration", "reasoning": "r"}

    created = lab.create_run(StartRun(scenario=str(TABLETOP), seed=3, turns=2))
    outcome = anyio.run(lab.play_run, created.run_id, PlayHooks(human_prompt=answer))
    assert outcome.status == "completed" and asked == [SEAT, SEAT]
