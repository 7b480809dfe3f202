"""Charts of the reports: one Vega-Lite spec per chart, drawn as an SVG file beside a
markdown report or interactively in a self-contained HTML report.

    doc = run_report_document(con, run_id)     # a Document: markdown lines and charts
    doc.markdown()                             # printed: charts as Mermaid
    doc.write(Path("report.md"))               # + report_files/*.svg, linked
    doc.write(Path("report.html"), "html")     # one file, the chart library inlined

``specs`` builds the specs (plain dicts); ``render`` (vl-convert, imported on first
use) draws them.
"""

from .document import REPORT_FORMATS, Chart, Diagram, Document, Drawn, Line, slug
from .specs import fan, fan_rows, means, trajectory

__all__ = [
    "REPORT_FORMATS",
    "Chart",
    "Diagram",
    "Document",
    "Drawn",
    "Line",
    "fan",
    "fan_rows",
    "means",
    "slug",
    "trajectory",
]
