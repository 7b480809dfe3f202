"""README's shell commands work as written in a new shell: every ```sh block is taken
from README.md and its commands run one after the other in one bash process, in a
fresh folder holding the repository's scenarios and a ``.venv/bin/scenario-lab`` that
runs this checkout's CLI. No venv is activated and nothing else is on PATH for it.

Left out, and why: ``make`` lines (they build the venv this test provides), the block
that needs a model endpoint (``SCENARIO_LAB_LLM_BASE_URL``) and the server's block
(``users add`` asks for a password at a terminal; ``serve`` runs until stopped)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.slow


def sh_blocks(text: str) -> list[list[str]]:
    """The command lines of each ```sh block (blank lines dropped)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    return [[line for line in b.splitlines() if line.strip()] for b in blocks]


def offline_lines(blocks: list[list[str]]) -> tuple[list[str], list[str]]:
    """(lines to run, lines left out)."""
    run: list[str] = []
    skipped: list[str] = []
    for block in blocks:
        needs = ("SCENARIO_LAB_LLM_BASE_URL", "scenario-lab serve ", "scenario-lab users add ")
        if any(n in line for line in block for n in needs):
            skipped += block
            continue
        for line in block:
            (skipped if line.startswith("make ") else run).append(line)
    return run, skipped


def test_readme_commands_name_the_cli_as_a_fresh_shell_finds_it() -> None:
    blocks = sh_blocks(README.read_text())
    lines = [re.sub(r"\s+#\s.*$", "", line) for block in blocks for line in block]
    bare = [x for x in lines if re.search(r"(^|[\s(&;|])scenario-lab\s", x)]
    assert not bare, f"use .venv/bin/scenario-lab (no activated venv): {bare}"
    placeholders = [x for x in lines if re.search(r"(?<![$\w])(RUN|BRANCH|BATCH)\b(?!=)", x)]
    assert not placeholders, f"use the $RUN/$BRANCH/$BATCH variables: {placeholders}"


# about 30 commands, two batches of 40 and 50 runs and three reports: minutes under load
@pytest.mark.timeout(900)
def test_the_offline_readme_commands_run_as_written(tmp_path: Path) -> None:
    run, skipped = offline_lines(sh_blocks(README.read_text()))
    assert len(run) >= 25 and len(skipped) <= 16, (len(run), skipped)
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    cli = venv_bin / "scenario-lab"
    cli.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} "
        '-c "from cli.app import main; main()" "$@"\n'
    )
    cli.chmod(0o755)
    script = ["set -u"]
    for i, line in enumerate(run):
        # each command must succeed; say which one did not
        script.append(
            f"{line}\nrc=$?; [ $rc -eq 0 ] || {{ echo 'README line {i} failed'; exit 1; }}"
        )
    env = {
        "PATH": "/usr/bin:/bin",  # no venv on PATH: the commands must name it
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    failed = re.search(r"README line (\d+) failed", proc.stdout)
    where = run[int(failed.group(1))] if failed else ""
    assert proc.returncode == 0, f"{where}\n{proc.stderr[-3000:]}"
    for written in ("scenario-lab.db", "report.md", "run.html", "compare.md", "batch.md"):
        assert (tmp_path / written).exists(), written
    assert (tmp_path / "my-scenario" / "scenario.yaml").exists()
    assert any((tmp_path / "exports").iterdir())
