"""``scenario_lab.app`` says what it offers, every listed name exists, and importing it
stays light (the engine's heavy parts load with the operations that need them)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import scenario_lab
import scenario_lab.app as app


def test_every_listed_name_exists() -> None:
    assert len(app.__all__) == len(set(app.__all__))
    for name in app.__all__:
        assert getattr(app, name) is not None, name
    with pytest.raises(AttributeError):
        _ = app.not_a_name
    assert scenario_lab.Lab is app.Lab and scenario_lab.LabSettings is app.LabSettings


def test_every_operation_of_lab_is_documented_in_the_package() -> None:
    operations = [n for n in vars(app.Lab) if not n.startswith("_") and n != "close"]
    assert len(operations) >= 30
    doc = app.__doc__ or ""
    assert [n for n in operations if f"``{n}``" not in doc] == []
    assert all(getattr(app.Lab, n).__doc__ for n in operations)


def test_importing_the_api_loads_no_heavy_library() -> None:
    heavy = {"duckdb", "pyarrow", "openai", "pydantic", "yaml", "h11"}
    code = (
        "import sys, scenario_lab.app; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dir_lists_every_name_before_it_is_loaded() -> None:
    # most names load on first use (PEP 562); dir() lists them all the same
    code = (
        "import sys, scenario_lab.app as app; "
        "print(set(app.__all__) <= set(dir(app)), 'engine.summary' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
