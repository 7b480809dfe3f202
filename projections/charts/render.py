"""Vega-Lite specs to SVG, and the Vega JavaScript an HTML report inlines.

Both come from ``vl-convert-python``, which carries the Vega, Vega-Lite and
vega-embed engines inside its extension module: no Node, no browser, no network. It
is imported only here, and only when a chart is drawn, so commands that draw none do
not pay for loading it.

Bundling the JavaScript takes vl-convert several seconds per process, so the bundle
is kept in the user's cache folder (``$XDG_CACHE_HOME/scenario-lab``, default
``~/.cache/scenario-lab``), one file per vl-convert version; a cache that cannot be
read or written only costs that time again.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from eventstore import UsageError


def _vlc() -> Any:
    try:
        import vl_convert
    except ImportError as e:  # a broken install: say what to do, not a traceback
        raise UsageError(
            f"charts need the vl-convert-python package ({e})",
            hint="pip install vl-convert-python",
        ) from None
    return vl_convert


def svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG document (text)."""
    return str(_vlc().vegalite_to_svg(spec))


def png(spec: dict[str, Any], scale: float = 2.0) -> bytes:
    """The chart as a PNG image (``scale`` times its size in pixels)."""
    return bytes(_vlc().vegalite_to_png(spec, scale=scale))


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "scenario-lab"


@functools.cache
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script that defines ``window.vegaEmbed``."""
    vlc = _vlc()
    versions = (
        f"{vlc.get_vega_version()}-{vlc.get_vegalite_versions()[-1]}-{vlc.get_vega_embed_version()}"
    )
    path = _cache_dir() / f"vega-bundle-{versions}.js"
    try:
        cached = path.read_text(encoding="utf-8")
        if "window.vegaEmbed" in cached:  # not an empty or foreign file
            return cached
    except OSError:
        pass
    bundle = str(vlc.javascript_bundle())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(bundle, encoding="utf-8")
        tmp.replace(path)  # whole or not at all, with another process writing alongside
    except OSError:
        pass
    return bundle
