"""compare judges declared actions by name: a rule-driven fork whose forced decision is
the action the parent took, worded differently (the action's description, not the rule
brain's narrative), is the same decision, not a divergence."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from projections import compare_data, compare_markdown, open_readonly
from tests.engine_helpers import RULES3, cli, last_line


def _decisions(db: Path, run_id: str, turn: int) -> dict[str, tuple[str, str]]:
    with duckdb.connect(str(db.with_suffix(".duckdb")), read_only=True) as con:
        found = con.execute(
            "SELECT actor, action_name, action FROM decisions "
            "WHERE run_id = ? AND turn = ? AND NOT failed ORDER BY seq",
            [run_id, turn],
        ).fetchall()
    return {actor: (name, action) for actor, name, action in found}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, str]:
    """A rule-driven run, a fork that forces north's turn-2 action as it was, and a fork
    that forces north's other action."""
    db = tmp_path_factory.mktemp("rules") / "log.db"
    parent = last_line(cli("run", RULES3, "--db", db, "--seed", "3").stdout)
    assert cli("project", "--db", db).exit_code == 0
    took = _decisions(db, parent, 2)["north"][0]
    other = "open_crossing" if took == "patrol" else "patrol"
    same = cli("fork", parent, "--at-turn", "1", "--decision", f"north={took}", "--play", "--db", db)  # fmt: skip
    diff = cli("fork", parent, "--at-turn", "1", "--decision", f"north={other}", "--play", "--db", db)  # fmt: skip
    assert same.exit_code == 0 and diff.exit_code == 0, same.output + diff.output
    assert cli("project", "--db", db).exit_code == 0
    return db, parent, last_line(same.stdout), last_line(diff.stdout)


def test_the_same_declared_action_in_other_words_is_not_a_divergence(
    runs: tuple[Path, str, str, str],
) -> None:
    db, parent, same, _ = runs
    mine, theirs = _decisions(db, parent, 2)["north"], _decisions(db, same, 2)["north"]
    assert mine[0] == theirs[0] and mine[1] != theirs[1]  # same action, other words
    with open_readonly(db.with_suffix(".duckdb")) as con:
        data = compare_data(con, [parent, same])
    north = data["first_divergence"]["north"]
    assert north is None or north["turn"] > 2


def test_a_different_declared_action_diverges_by_name(runs: tuple[Path, str, str, str]) -> None:
    db, parent, _, diff = runs
    with open_readonly(db.with_suffix(".duckdb")) as con:
        data = compare_data(con, [parent, diff])
    north = data["first_divergence"]["north"]
    names = {r: _decisions(db, r, 2)["north"][0] for r in (parent, diff)}
    assert north == {
        "turn": 2,
        "compared": "action_name",
        "actions": {r: _decisions(db, r, 2)["north"][1] for r in (parent, diff)},
        "action_names": names,
    }
    text = compare_markdown(data)
    assert f"`{names[diff]}`: " in text and "compared by that name" in text


def test_decisions_without_a_declared_action_are_compared_by_text(
    runs: tuple[Path, str, str, str],
) -> None:
    db, parent, _, diff = runs
    # the broker is scripted, without action names: same script, same text, no divergence
    with open_readonly(db.with_suffix(".duckdb")) as con:
        data = compare_data(con, [parent, diff])
    assert data["first_divergence"]["broker"] is None
    assert _decisions(db, parent, 2)["broker"][0] is None
