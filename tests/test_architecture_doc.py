"""docs/architecture.md and README's layout table name what is really there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()
README = (ROOT / "README.md").read_text()


def _packages() -> set[str]:
    """Top-level folders holding Python packages (what a newcomer has to find)."""
    return {
        p.parent.name
        for p in ROOT.glob("*/__init__.py")
        if not p.parent.name.startswith(".") and p.parent.name != "tests"
    }


def _table_paths(text: str) -> list[str]:
    """Backticked paths in table rows; a bare file name continues the folder before it."""
    out: list[str] = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        folder = ""
        for item in re.findall(r"`([^`]+)`", line):
            if "/" in item:
                folder = item.rsplit("/", 1)[0] if "." in item.rsplit("/", 1)[1] else item
                out.append(item)
            elif item.endswith(".py") and folder:
                out.append(f"{folder.rstrip('/')}/{item}")
    return out


def test_every_path_the_architecture_page_names_exists() -> None:
    paths = _table_paths(DOC)
    assert len(paths) > 20
    missing = [p for p in paths if not any(ROOT.glob(p))]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_package_is_in_the_readme_layout_and_the_architecture_page() -> None:
    layout = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for name in _packages():
        assert f"`{name}/`" in layout, f"README's layout table misses {name}/"
        assert f"{name}/" in DOC, f"docs/architecture.md misses {name}/"
