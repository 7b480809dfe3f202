"""``sql`` on a full disk: one line, and nothing left behind that blocks the next command.

The analytics file lives on a small tmpfs mounted for the test (root only; skipped
where mounting is not permitted). A DuckDB file cut short by the full disk used to stay
("could not read enough bytes") and refuse every later command, even with space back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventstore import EventStore
from tests.disk_helpers import fill, small_tmpfs
from tests.engine_helpers import cli
from tests.projection_logs import family

QUERY = "SELECT count(*) AS n FROM runs"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, unmounted afterwards."""
    with small_tmpfs(tmp_path / "small", "1m") as disk:
        yield disk


def _log(tmp_path: Path) -> Path:
    db = tmp_path / "log.db"
    with EventStore.open(db) as store:
        family(store)
    return db


def _one_line(result: Any, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in result.output, err
    for needle in needles:
        assert needle in err, err


def test_a_file_the_full_disk_stopped_creating_is_not_left(
    tmp_path: Path, small_disk: Path
) -> None:
    db, duck = _log(tmp_path), small_disk / "a.duckdb"
    filler = fill(small_disk, leave=0)
    _one_line(
        cli("sql", QUERY, "--db", db, "--analytics", duck),
        "cannot create the analytics file",
        "No space left on device",
    )
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # no part of a file
    filler.unlink()
    again = cli("sql", QUERY, "--db", db, "--analytics", duck, "-f", "csv")
    assert again.exit_code == 0 and again.stdout == "n\n4\n", again.output


def test_a_catch_up_the_full_disk_stopped_leaves_a_file_the_next_one_uses(
    tmp_path: Path, small_disk: Path
) -> None:
    db, duck = _log(tmp_path), small_disk / "a.duckdb"
    filler = fill(small_disk, leave=32 * 1024)  # room for an empty file, not the tables
    _one_line(
        cli("sql", QUERY, "--db", db, "--analytics", duck),
        "cannot update the analytics file",
        "No space left on device",
    )
    filler.unlink()
    again = cli("sql", QUERY, "--db", db, "--analytics", duck, "-f", "csv")
    assert again.exit_code == 0 and again.stdout == "n\n4\n", again.output
