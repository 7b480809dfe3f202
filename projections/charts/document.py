"""A report as lines of markdown with charts among them, and its three forms.

A report builder returns a ``Document``: markdown lines interleaved with ``Chart``s
(a Vega-Lite spec, plus the Mermaid text printed when there are no files) and
``Diagram``s (Mermaid that an HTML page shows as a list instead). From it:

- ``markdown()``: one markdown text, charts as Mermaid (what ``report`` prints);
- ``write(path, "md")``: the markdown file plus each chart as an SVG file in a sibling
  folder (``report.md`` -> ``report_files/``), linked with relative paths;
- ``write(path, "html")`` / ``html()``: one self-contained HTML page (see ``page``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventstore import UsageError

REPORT_FORMATS = ("md", "html")


@dataclass(frozen=True)
class Chart:
    """One chart: ``spec`` (Vega-Lite) drawn as a file or on a page; ``fallback``, the
    markdown lines that stand for it in printed markdown (none: the chart is left out)."""

    slug: str  # file name stem; made unique within a document
    title: str  # the image's alternative text
    spec: dict[str, Any]
    fallback: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diagram:
    """A Mermaid diagram for markdown viewers, and the same content as markdown
    lines for the HTML page, which carries no Mermaid renderer."""

    mermaid: tuple[str, ...]
    text: tuple[str, ...]


@dataclass(frozen=True)
class Drawn:
    """Markdown lines that belong with drawn charts only (a section's heading, a note
    on reading them): left out where charts are not drawn, in printed markdown."""

    lines: tuple[str, ...]


Line = str | Chart | Diagram | Drawn


def slug(text: str) -> str:
    """A file-name-safe stem of ``text`` (``resolve [north]`` -> ``resolve-north``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "chart"


@dataclass
class Document:
    """A report: its title (the HTML page's) and its lines."""

    title: str
    lines: list[Line] = field(default_factory=list)

    def charts(self) -> list[Chart]:
        return [x for x in self.lines if isinstance(x, Chart)]

    def _text(self, chart: Any, diagram: Any, *, drawn: bool) -> str:
        """The lines as markdown, each chart and diagram replaced by ``chart(c)`` /
        ``diagram(d)`` lines, ``Drawn`` lines kept when charts are ``drawn``; an item
        that gives no line takes its following blank line with it."""
        out: list[str] = []
        skip_blank = False
        for item in self.lines:
            if isinstance(item, str):
                if not (skip_blank and item == ""):
                    out.append(item)
                skip_blank = False
                continue
            if isinstance(item, Chart):
                lines = chart(item)
            elif isinstance(item, Diagram):
                lines = diagram(item)
            else:
                lines = list(item.lines) if drawn else []
            out += lines
            skip_blank = not lines
        return "\n".join(out).rstrip() + "\n"

    def markdown(self) -> str:
        """The report as one markdown text: charts as their Mermaid fallback."""
        return self._text(lambda c: list(c.fallback), lambda d: list(d.mermaid), drawn=False)

    def file_names(self) -> dict[int, str]:
        """Each chart's SVG file name (by position among the lines), unique."""
        names: dict[int, str] = {}
        used: set[str] = set()
        for i, item in enumerate(self.lines):
            if isinstance(item, Chart):
                stem, n = slug(item.slug), 2
                name = stem
                while name in used:
                    name, n = f"{stem}-{n}", n + 1
                used.add(name)
                names[i] = f"{name}.svg"
        return names

    def linked_markdown(self, folder: str) -> str:
        """The markdown with each chart as an image link to ``folder/<name>.svg``."""
        names = iter(self.file_names().values())
        return self._text(
            lambda c: [f"![{_alt(c.title)}]({folder}/{next(names)})"],
            lambda d: list(d.mermaid),
            drawn=True,
        )

    def html(self) -> str:
        """The report as one self-contained HTML page with interactive charts."""
        from .page import page

        return page(self)

    def write(self, path: Path, fmt: str = "md") -> list[Path]:
        """Write the report to ``path`` as ``fmt`` (``md``: plus a ``<stem>_files``
        folder of SVG charts beside it; ``html``: one file). The files written."""
        if fmt not in REPORT_FORMATS:
            raise UsageError(
                f"unknown report format {fmt!r}", hint=f"use one of {', '.join(REPORT_FORMATS)}"
            )
        if not path.parent.is_dir():
            raise UsageError(
                f"cannot write {path}: the folder {path.parent} does not exist",
                hint="create it, or choose another path with -o/--output",
            )
        if fmt == "html":
            text = self.html()
            _write_text(path, text)
            return [path]
        written: list[Path] = []
        charts = self.charts()
        folder = path.with_name(f"{path.stem}_files")
        if charts:
            from .render import svg

            try:
                folder.mkdir(exist_ok=True)
            except OSError as e:
                raise _cannot_write(folder, e) from None
            for chart, name in zip(charts, self.file_names().values(), strict=True):
                _write_text(folder / name, svg(chart.spec))
                written.append(folder / name)
        _write_text(path, self.linked_markdown(folder.name))
        return [path, *written]


def _alt(title: str) -> str:
    return title.replace("[", "(").replace("]", ")").replace("\n", " ")


def _cannot_write(path: Path, e: OSError) -> UsageError:
    return UsageError(
        f"cannot write {path}: {e.strerror or e}",
        hint="choose a writable path with -o/--output",
    )


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise _cannot_write(path, e) from None
