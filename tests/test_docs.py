"""The README documents every command, and the demo script only uses real ones."""

from __future__ import annotations

from pathlib import Path

from cli.app import app

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    names = [c.name for c in app.registered_commands]
    for group in app.registered_groups:
        names += [f"{group.name} {c.name}" for c in group.typer_instance.registered_commands]
    return [n for n in names if n]


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in _commands() if f"scenario-lab {name}" not in readme]
    assert not missing, f"commands missing from README.md: {missing}"


def test_the_readme_names_no_command_that_does_not_exist() -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    known = {name.split()[0] for name in _commands()}
    used = set(re.findall(r"scenario-lab ([a-z]+)", readme))
    assert used <= known, f"README mentions unknown commands: {used - known}"
