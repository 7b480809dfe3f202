"""Each package says what it offers; every name it lists exists."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "package", ["eventstore", "engine", "engine.llm", "engine.observe", "scenario_lab.observe"]
)
def test_every_listed_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, f"{package} lists no public names"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_engine_names_are_lazy_but_real() -> None:
    import engine

    assert engine.load_scenario.__module__ == "engine.scenario.load"
    with pytest.raises(AttributeError):
        _ = engine.not_a_name
