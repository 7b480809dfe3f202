"""A scenario's files as text: read an offered scenario's files for an editor, and save
files an editor sends as a new scenario directory.

A client names files by relative POSIX paths (``scenario.yaml``, ``actors/x.yaml``);
nothing it sends can name a place outside the scenario's own folder. Scenarios are
saved into the *save folder*: the first configured (not bundled) scenarios folder, the
server's first ``--scenarios DIR``. A save is all or nothing: the files are written to a
hidden folder beside the target, validated there, and renamed into place only when the
scenario has no error (a rename, so a name is taken once even by two saves at once).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import msgspec

from engine.errors import ScenarioInvalid
from eventstore import InvalidRequest, UsageError

from .scenarios import (
    ScenarioEntry,
    Validation,
    offered_names,
    scenario_entry,
    scenario_path,
    validate,
)
from .settings import BUNDLED_SCENARIOS, LabSettings

# a saved scenario is a folder name in a URL and on disk: no dots first (hidden), no
# separators, nothing a shell or another OS reads specially
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_FILES = 200
MAX_FILE_CHARS = 256_000
MAX_TOTAL_CHARS = 1_000_000


class ScenarioFile(msgspec.Struct, frozen=True, kw_only=True):
    """One file of a scenario directory: its relative path and its text."""

    path: str
    text: str


class ScenarioNotSaved(UsageError):
    """A scenario cannot be saved under this name here: the name is taken, or the
    server has no folder to save scenarios in."""

    code = "scenario-not-saved"
    category = "conflict"


class ScenarioFilesInvalid(ScenarioInvalid):
    """Files sent to be saved as a scenario have errors; ``validation`` lists each with
    its file, line and field (nothing was saved)."""

    def __init__(self, validation: Validation):
        errors = [p for p in validation.problems if p.severity == "error"]
        super().__init__(
            f"the scenario has {len(errors)} error(s), the first: {{first}}",
            problems=[p.text for p in errors],
            hint="fix every error listed (file, line, field) and save again",
            file=errors[0].file,
            field=errors[0].field or None,
            values={"first": errors[0].text},
        )
        self.validation = validation


def relative_path(name: str) -> PurePosixPath:
    """``name`` as a path inside a scenario folder; ``InvalidRequest`` for an absolute
    path, one with ``..``, a backslash, a hidden part or an empty one."""
    rel = PurePosixPath(name)
    if (
        not name
        or rel.is_absolute()
        or "\\" in name
        or "\x00" in name
        or not rel.parts
        or rel.as_posix() != name  # "a/./b", "a//b", "a/": one spelling per file
        or any(part in ("", ".", "..") or part.startswith(".") for part in rel.parts)
    ):
        raise InvalidRequest(
            "{files}: {name!r} is not a relative path inside the scenario",
            hint="name files like scenario.yaml or actors/NAME.yaml",
            field="files",
            values={"name": name},
        )
    return rel


def write_files(root: Path, files: Iterable[tuple[str, str]]) -> None:
    """Write each (relative path, text) under ``root``; paths are checked first, so a
    bad one writes nothing."""
    checked = [(relative_path(name), text) for name, text in files]
    for rel, text in checked:
        target = root.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def read_files(settings: LabSettings, name: str) -> list[ScenarioFile]:
    """Every text file of the offered scenario ``name`` (hidden ones, and links that
    lead out of its folder, skipped), ``scenario.yaml`` first, then by path: what an
    editor starts from."""
    root = scenario_path(settings, name)
    inside = root.resolve()
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if not path.resolve().is_relative_to(inside):
            continue  # a link to elsewhere on the server: not the scenario's to show
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # not text: nothing an editor could show
        out.append(ScenarioFile(path=rel.as_posix(), text=text))
    out.sort(key=lambda f: (f.path != "scenario.yaml", f.path))
    return out


def save_folder(settings: LabSettings) -> Path:
    """Where scenarios are saved: the first configured (not bundled) scenarios folder."""
    for root in settings.scenario_dirs:
        if root.resolve() != BUNDLED_SCENARIOS:
            return root
    raise ScenarioNotSaved(
        "this server has no folder to save scenarios in",
        hint="give the server a scenarios folder of your own: the first one configured "
        "receives saved scenarios",
        field="name",
    )


def _check(name: str, files: list[ScenarioFile]) -> None:
    if not SAFE_NAME.fullmatch(name):
        raise InvalidRequest(
            "{name} {value!r} is not a folder name a scenario can have",
            hint="use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit",
            field="name",
            values={"value": name},
        )
    if not files or len(files) > MAX_FILES:
        raise InvalidRequest(
            "{files}: {n} file(s); a scenario has 1 to {max}",
            field="files",
            values={"n": len(files), "max": MAX_FILES},
        )
    seen: set[PurePosixPath] = set()
    total = 0
    for f in files:
        rel = relative_path(f.path)
        if rel in seen:
            raise InvalidRequest(
                "{files}: {path!r} is given twice", field="files", values={"path": f.path}
            )
        seen.add(rel)
        total += len(f.text)
        if len(f.text) > MAX_FILE_CHARS or total > MAX_TOTAL_CHARS:
            raise InvalidRequest(
                "{files}: {path!r} makes the scenario too large",
                hint=f"at most {MAX_FILE_CHARS:,} characters a file, {MAX_TOTAL_CHARS:,} in all",
                field="files",
                values={"path": f.path},
            )


def _taken(name: str) -> ScenarioNotSaved:
    return ScenarioNotSaved(
        "there is already a scenario named {value!r}",
        hint="choose another name",
        field="name",
        values={"value": name},
    )


def save_scenario(settings: LabSettings, name: str, files: list[ScenarioFile]) -> ScenarioEntry:
    """Save ``files`` as the new scenario ``name`` in the save folder, once they validate
    with no error; the scenario is then offered by that name. Refuses a name already
    offered or present in the folder (``ScenarioNotSaved``), a bad name or path
    (``InvalidRequest``), and files with errors (``ScenarioFilesInvalid``)."""
    _check(name, files)
    folder = save_folder(settings)
    target = folder / name
    if name in offered_names(settings) or target.exists():
        raise _taken(name)
    folder.mkdir(parents=True, exist_ok=True)
    # a hidden sibling: never offered (hidden folders are skipped), renamed in one step
    tmp = Path(tempfile.mkdtemp(prefix=f".saving-{name}-", dir=folder))
    try:
        write_files(tmp, ((f.path, f.text) for f in files))
        found = validate(tmp)
        if not found.valid:
            raise ScenarioFilesInvalid(msgspec.structs.replace(found, path=""))
        os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide it from other readers
        try:
            # one step: the scenario appears whole; a folder with files made meanwhile
            # under this name makes the rename fail and stays as it is
            os.rename(tmp, target)
        except OSError:
            raise _taken(name) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return scenario_entry(name, target, "configured")
