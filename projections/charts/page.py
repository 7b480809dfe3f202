"""A report as one self-contained HTML page: text, tables and interactive charts.

Everything the page needs is inside it: the markdown rendered to HTML (raw HTML in the
text, which may come from a model's answer, is shown as text, never run), a little
CSS, each chart's Vega-Lite spec as JSON, and the Vega/Vega-Lite/vega-embed library
itself. No CDN, no external file: the page opens offline, from a file or an email.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from .document import Chart, Diagram, Document, Drawn

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; line-height: 1.45; color: #222;
       max-width: 64rem; margin: 2rem auto; padding: 0 1rem; }
h1, h2, h3, h4 { line-height: 1.2; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #d6d6d6; padding: .25rem .55rem; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
code { background: #f3f3f3; padding: 0 .2rem; border-radius: 3px; font-size: .9em; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; }
blockquote { border-left: 4px solid #ddd; margin: 0; padding: 0 1rem; color: #444; }
figure.chart { margin: 1rem 0 1.6rem; overflow-x: auto; }
figure.chart figcaption { font-size: .85rem; color: #666; }
.vg-tooltip { font-size: 12px; }
"""

_START = """
document.querySelectorAll("script[data-chart]").forEach(function (el) {
  var target = document.getElementById(el.dataset.chart);
  vegaEmbed(target, JSON.parse(el.textContent),
            {actions: false, renderer: "svg", mode: "vega-lite"})
    .catch(function (err) {
      target.textContent = "This chart could not be drawn: " + err;
      console.error(err);
    });
});
"""


def _markdown_renderer() -> Any:
    from markdown_it import MarkdownIt

    # commonmark with GitHub's tables; html off: text from a model stays text
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _script_text(text: str) -> str:
    """Text safe inside <script>: nothing in it can close the element early."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def _json_in_html(spec: dict[str, Any]) -> str:
    # \u003c etc. are the same JSON, and no "</script>" or "<!--" can appear
    text = json.dumps(spec, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figure(chart: Chart, n: int) -> str:
    target = f"chart-{n}"
    return (
        f'<figure class="chart"><div id="{target}" role="img" '
        f'aria-label="{html.escape(chart.title)}"></div></figure>\n'
        f'<script type="application/json" data-chart="{target}">{_json_in_html(chart.spec)}</script>'
    )


def body(doc: Document) -> str:
    """The page's body: markdown runs rendered, charts as placeholders with their specs."""
    md = _markdown_renderer()
    parts: list[str] = []
    pending: list[str] = []
    n = 0

    def flush() -> None:
        if pending:
            html_text = md.render("\n".join(pending))
            # markdown_table writes a cell's line breaks as <br>, the one tag let through
            parts.append(html_text.replace("&lt;br&gt;", "<br>"))
            pending.clear()

    for item in doc.lines:
        if isinstance(item, Chart):
            flush()
            n += 1
            parts.append(_figure(item, n))
        elif isinstance(item, Diagram):
            pending.extend(item.text)
        elif isinstance(item, Drawn):
            pending.extend(item.lines)
        else:
            pending.append(item)
    flush()
    return "\n".join(parts)


def page(doc: Document) -> str:
    """The whole HTML document (with the chart library inlined when there are charts)."""
    from .render import javascript_bundle

    content = body(doc)
    scripts = ""
    if doc.charts():
        scripts = (
            f"<script>{_script_text(javascript_bundle())}</script>\n"
            f"<script>{_script_text(_START)}</script>\n"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(doc.title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{content}\n{scripts}</body>\n</html>\n"
    )
