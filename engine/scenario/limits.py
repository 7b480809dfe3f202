"""Bounds on what a scenario directory or batch file may make us read, build and hold.

Scenario files are user input. A file may be huge; a YAML document may nest thousands
of levels deep (PyYAML composes recursively: a RecursionError), hold a million tiny
values (pure-Python PyYAML took 75 s and 800 MB for 2 MiB of ``[1,1,1,...]``), or expand
through aliases into billions of values from a few hundred bytes ("billion laughs": the
values are shared, but every walk over them is not). Each limit is checked while
reading, before anything is built or walked, so a refusal costs at most one file's
bytes and a few seconds, and arrives as one line naming the file, the line where known,
and the limit.

The defaults (``LIMITS``); a scenario directory shares one budget, a batch file has its own:

=========================  ========  ===================================================
``yaml_file_bytes``        2 MiB     one YAML file (the bundled ones are under 3 KB;
                                     long texts belong in ``background/*.md``)
``background_file_bytes``  8 MiB     one background document (~2M tokens, more than
                                     any model's context, and each goes into prompts)
``directory_bytes``        16 MiB    every file of one scenario directory together
``directory_files``        1000      files read from one scenario directory
``yaml_depth``             64        nested mappings/lists in one YAML document
``yaml_values``            20,000    values in all the YAML of a scenario directory, an
                                     alias counting as every value it stands for each
                                     time it is used (the bundled scenarios have ~300;
                                     PyYAML takes ~80 us and ~1.5 KB a value)
=========================  ========  ===================================================
"""

from __future__ import annotations

import copy
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

MiB = 1024 * 1024


@dataclass(frozen=True)
class InputLimits:
    """The bounds on one scenario directory (or batch file); see the module docstring."""

    yaml_file_bytes: int = 2 * MiB
    background_file_bytes: int = 8 * MiB
    directory_bytes: int = 16 * MiB
    directory_files: int = 1000
    yaml_depth: int = 64
    yaml_values: int = 20_000


LIMITS = InputLimits()


class InputRefused(Exception):
    """A file goes past a limit: ``message`` says which, ``hint`` the fix."""

    def __init__(self, message: str, hint: str = "", *, quiet: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.quiet = quiet  # a consequence of a refusal already reported: say nothing


def size_text(n: int) -> str:
    """Bytes as a person reads them: '2 MiB', '3.5 MiB', '900 bytes'."""
    if n >= MiB:
        return f"{n / MiB:.1f}".removesuffix(".0") + " MiB"
    return f"{n} bytes"


def read_bounded(path: Path, max_bytes: int, hint: str) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    Raises ``InputRefused`` for a larger file (checked before reading, and again while
    reading in case it grew) or one that is not a regular file (a FIFO would block
    forever, a device may never end); ``OSError`` as reading does.
    """
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise InputRefused("is not a regular file", "give a file, not a device or pipe")
    if info.st_size > max_bytes:
        raise InputRefused(
            f"is {size_text(info.st_size)}, more than the {size_text(max_bytes)} allowed", hint
        )
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputRefused(f"is more than the {size_text(max_bytes)} allowed", hint)
    return data


class ReadBudget:
    """What one scenario directory (or batch file) may still make us read and build.

    Once a total is passed, every later read is refused with ``quiet`` set: the first
    refusal said why, and one line for each remaining file would bury it.
    """

    def __init__(self, limits: InputLimits = LIMITS):
        self.limits = limits
        self.files = 0
        self.bytes = 0
        self.values = 0
        self.over = False

    def read(self, path: Path, max_bytes: int, hint: str) -> str:
        """The UTF-8 text of ``path`` (at most ``max_bytes``), counted against the totals."""
        if self.over:
            raise InputRefused("not read: the scenario is over its limits", quiet=True)
        self.files += 1
        if self.files > self.limits.directory_files:
            self.over = True
            raise InputRefused(
                f"is one file more than the {self.limits.directory_files} a scenario "
                "directory may have",
                "remove the files the scenario does not use",
            )
        data = read_bounded(path, max_bytes, hint)
        if self.bytes + len(data) > self.limits.directory_bytes:
            self.over = True
            raise InputRefused(
                f"takes the scenario directory past {size_text(self.limits.directory_bytes)} "
                "in total",
                "shorten or remove background documents or long texts",
            )
        self.bytes += len(data)
        return data.decode("utf-8")

    def count_values(self, n: int, line: int, *, alias: bool) -> None:
        """Count ``n`` more YAML values (read at ``line``); refuse past the limit."""
        self.values += n
        if self.values > self.limits.yaml_values:
            self.over = True
            raise InputRefused(
                f"holds more than {self.limits.yaml_values:,} values by line {line}"
                + (", aliases expanded" if alias else ""),
                "the limit for a scenario or batch: "
                + (
                    "use fewer aliases (*name); is this a 'billion laughs' document?"
                    if alias
                    else "a scenario holds hundreds of values, not tens of thousands"
                ),
            )


def _fast_safe_loader() -> type:
    """Safe YAML whose events come from libyaml (C) when PyYAML was built with it: 7x
    faster on the bundled scenarios than PyYAML's Python parser, most of what loading
    one costs. Composing stays in Python (``Composer`` first), so ``BoundedLoader``'s
    ``compose_node`` counts and bounds every node as before."""
    if not getattr(yaml, "__with_libyaml__", False):
        return yaml.SafeLoader
    from yaml._yaml import CParser
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    class FastSafeLoader(Composer, CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        def __init__(self, stream: Any):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    return FastSafeLoader


if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
    _Mixin = yaml.SafeLoader  # what _Bounds is mixed into
else:
    _SafeLoader = _fast_safe_loader()
    _Mixin = object


class _Bounds(_Mixin):
    """Safe YAML that refuses deep nesting and too many values, aliases expanded.

    While composing, each node counts as one value against the budget, and each finished
    node's expanded size (itself and everything below, aliases in full) is kept; an alias
    counts its target's size, so a "billion laughs" is refused after a few hundred bytes,
    before anything is constructed. An alias inside its own anchor (a cycle) is refused:
    nothing downstream expects one.
    """

    def __init__(self, stream: str, budget: ReadBudget):
        super().__init__(stream)
        self.budget = budget
        self._text = stream
        self._values_before = budget.values
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size; nodes live till the end

    def get_single_node(self) -> Any:
        try:
            return super().get_single_node()
        except (yaml.reader.ReaderError, yaml.scanner.ScannerError, yaml.parser.ParserError):
            if isinstance(self, yaml.SafeLoader):
                raise
            # libyaml words syntax errors its own way and scans ahead of the bounds (a
            # 10,000-deep flow list is its error, not our limit): PyYAML's own parser
            # reads the document again, to refuse or report it as it always did
            budget = copy.copy(self.budget)
            budget.values = self._values_before
            again = _PyBoundedLoader(self._text, budget)
            try:
                again.get_single_node()
            finally:
                again.dispose()
            raise

    def compose_node(self, parent: Any, index: Any) -> Any:
        line = self.peek_event().start_mark.line + 1
        if self.check_event(yaml.AliasEvent):
            target = self.anchors.get(self.peek_event().anchor)
            if target is not None:  # an undefined alias is PyYAML's error to report
                size = self._sizes.get(id(target))
                if size is None:
                    raise InputRefused(
                        f"has an alias inside its own anchor at line {line}",
                        "write the values out: a scenario has no recursive structures",
                    )
                self.budget.count_values(size, line, alias=True)
            return super().compose_node(parent, index)
        self.budget.count_values(1, line, alias=False)
        if self._depth >= self.budget.limits.yaml_depth:
            raise InputRefused(
                f"nests deeper than {self.budget.limits.yaml_depth} levels at line {line}",
                "a scenario needs a few levels of mappings and lists; flatten the data",
            )
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes[id(c)] for c in _children(node))
        return node


class BoundedLoader(_Bounds, _SafeLoader):
    __doc__ = _Bounds.__doc__


class _PyBoundedLoader(_Bounds, yaml.SafeLoader):
    """``BoundedLoader`` on PyYAML's Python parser."""


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


# What reading a YAML document raises besides InputRefused: PyYAML's errors and its
# constructors' ValueError/OverflowError (a 5,000-digit integer, a huge exponent).
YAML_ERRORS = (yaml.YAMLError, ValueError, OverflowError)


def yaml_problem(e: Exception) -> str:
    """What went wrong in a YAML document, with its line where known; one line."""
    if isinstance(e, InputRefused):
        return e.message
    mark = getattr(e, "problem_mark", None)
    line = f" at line {mark.line + 1}" if mark is not None else ""
    what = getattr(e, "problem", None) or str(e)
    if not isinstance(e, yaml.YAMLError):  # Python's advice ("use sys.set_...") is not ours
        what = what.split(";")[0]
    return f"is not valid YAML{line}: {what}"


def load_yaml(text: str, budget: ReadBudget) -> Any:
    """The data of one YAML document within ``budget``; raises ``InputRefused`` or one of
    ``YAML_ERRORS`` (format it with ``yaml_problem``)."""
    loader = BoundedLoader(text, budget)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
