"""The fold and the event catalogue import no database, network or locking library.

Each check runs a fresh interpreter: in this one, other tests have long imported
everything. import-linter holds the same rule statically (``make lint``); this test
holds it at run time, where a lazy import in a package ``__init__`` counts too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMPURE = (
    "sqlite3",
    "sqlalchemy",
    "duckdb",
    "anyio",
    "httpx",
    "fcntl",
    "structlog",
    "opentelemetry",
)


def _loaded_after(statement: str) -> list[str]:
    """The modules of IMPURE that ``statement`` loads in a fresh interpreter."""
    probe = (
        f"import sys\n{statement}\n"
        f"import json; print(json.dumps(sorted(m for m in {IMPURE!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import engine.fold",
        "from engine.fold import RunState, apply, replay_events",
        "from eventstore import EVENT_TYPES, RunStarted, decode, encode, Recorded, blob_hash",
        "from eventstore import ConcurrencyConflict, StoreError",
    ],
)
def test_pure_imports_load_nothing_impure(statement: str) -> None:
    assert _loaded_after(statement) == []


def test_the_probe_sees_what_the_store_loads() -> None:
    # the same probe must report the store's driver, or the checks above prove nothing
    assert "sqlite3" in _loaded_after("from eventstore import EventStore")
    assert "fcntl" in _loaded_after("from eventstore import RunLease")


def test_the_lazy_names_are_the_real_ones_and_others_do_not_exist() -> None:
    import eventstore
    from eventstore import _lease, _store

    assert eventstore.EventStore is _store.EventStore and eventstore.new_id is _store.new_id
    assert eventstore.RunLease is _lease.RunLease and eventstore.is_held is _lease.is_held
    with pytest.raises(AttributeError, match="not_a_name"):
        _ = eventstore.not_a_name  # type: ignore[attr-defined]
