"""The generated table docs are current, and the package's public names are real."""

from __future__ import annotations

import subprocess
import sys

import projections
from projections import TABLES, VIEWS, render_docs
from projections._docs import DOCS_PATH


def test_docs_file_is_up_to_date() -> None:
    assert DOCS_PATH.read_text() == render_docs(), (
        "docs/projections.md is out of date: run `python -m projections.docs`"
    )


def test_docs_describe_every_table_view_and_column() -> None:
    text = render_docs()
    for name, table in TABLES.items():
        assert f"### `{name}`" in text
        for col, (_, desc) in table.columns.items():
            assert desc, f"{name}.{col} has no description"
            assert f"| `{col}` |" in text
    for name, view in VIEWS.items():
        assert f"### `{name}`" in text and view.columns


def test_docs_check_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "projections.docs", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_every_listed_name_exists() -> None:
    assert projections.__all__
    for name in projections.__all__:
        assert getattr(projections, name) is not None, name
