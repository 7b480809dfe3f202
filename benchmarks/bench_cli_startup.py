"""Start-up time of ``scenario-lab --help`` vs ``python -c pass``, and what it imports.

Runs the venv's console script in a subprocess (median of N runs after one warm-up),
against the bare interpreter as baseline. Also lists the slowest imports of the
``--help`` process (``python -X importtime``) so a regression names its culprit.
Target: under 250 ms.

    python benchmarks/bench_cli_startup.py [--quick] [--repeat N]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from _common import emit, median_seconds, parse_args

TARGET_MS = 250.0


def console_script() -> str:
    here = Path(sys.executable).parent / "scenario-lab"
    found = str(here) if here.exists() else shutil.which("scenario-lab")
    if found is None:
        sys.exit("scenario-lab is not installed in this environment (pip install -e .)")
    return found


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def slowest_imports(script: str, top: int = 8) -> list[dict[str, object]]:
    """Modules of the first two import levels by cumulative import time, slowest first.

    ``-X importtime`` prints ``import time: self | cumulative | <indent>name`` with two
    spaces of indent per nesting level; a module's cumulative time includes whatever
    it imported.
    """
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", script, "--help"],
        check=True,
        capture_output=True,
        text=True,
    )
    found: list[tuple[int, str, int]] = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        depth = (len(parts[2]) - len(parts[2].lstrip()) - 1) // 2
        if depth <= 1:
            found.append((int(parts[1]), parts[2].strip(), depth))
    found.sort(reverse=True)
    return [
        {"module": name, "depth": depth, "cumulative_ms": round(us / 1000, 1)}
        for us, name, depth in found[:top]
    ]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], repeat=(5, 3))
    script = console_script()
    help_cmd = [script, "--help"]
    base_cmd = [sys.executable, "-c", "pass"]
    run(help_cmd)  # warm the OS file cache and bytecode once, untimed
    run(base_cmd)
    help_s = median_seconds(lambda: run(help_cmd), args.repeat)
    base_s = median_seconds(lambda: run(base_cmd), args.repeat)
    emit(
        {
            "benchmark": "cli_startup",
            "repeat": args.repeat,
            "help_ms": round(help_s * 1000, 1),
            "python_pass_ms": round(base_s * 1000, 1),
            "overhead_ms": round((help_s - base_s) * 1000, 1),
            "target_ms": TARGET_MS,
            "meets_target": help_s * 1000 < TARGET_MS,
            "slowest_imports": slowest_imports(script),
        }
    )


if __name__ == "__main__":
    main()
