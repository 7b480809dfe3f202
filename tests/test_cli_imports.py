"""The CLI is a front end: it imports the application API and its own modules only, and
loads none of them for ``--help``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CLI = Path(__file__).resolve().parent.parent / "cli"
OURS = {"eventstore", "engine", "projections", "scenario_lab", "server", "cli"}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_the_cli_imports_only_the_application_api_and_itself() -> None:
    wrong = {}
    for path in sorted(CLI.glob("*.py")):
        ours = [n for n in _imports(path) if n.split(".")[0] in OURS]
        # scenario_lab.observe: the root callback's log setup, which --help runs too; the
        # server is a sibling front end: `serve`, `users` and `keys` start or administer it
        front = ("scenario_lab.app", "scenario_lab.observe", "cli", "server")
        bad = [n for n in ours if n not in front and not n.startswith(("cli.", "server."))]
        bad += [n for n in ours if any(p.startswith("_") for p in n.split("."))]
        if bad:
            wrong[path.name] = bad
    assert not wrong, wrong


def test_help_loads_nothing_of_the_library() -> None:
    code = (
        "import sys, cli.app; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'scenario_lab', 'engine', 'eventstore', 'projections', 'msgspec', 'anyio', 'rich'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
