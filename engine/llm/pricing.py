"""What model calls cost: a shipped price table, user overrides, OpenRouter's live list.

Prices are USD per 1M tokens. A model is looked up by, in order: its exact name; the
longest matching fnmatch pattern (``ollama/*`` and ``*:free`` are free); its name
without an OpenRouter variant suffix (``:nitro``, ``:beta``); and, for a bare name such
as ``gpt-4o-mini`` sent to an explicit endpoint, the one ``provider/<name>`` entry. A
model found none of these ways has ``known=False`` and its calls an unknown cost
(``cost`` returns None, never 0): callers warn, record the cost as unknown, and refuse
it under a credit limit (which cannot be kept without a price) unless the user gives
one (``--price MODEL=IN,OUT``, ``scenario_lab.app.parse_price``).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx

from eventstore import UsageError

from .client import NO_KEY
from .transport import http_client, send


class ModelPrice(NamedTuple):
    input_per_m: float
    output_per_m: float
    known: bool


class PriceTable:
    """Model -> (input, output) USD per 1M tokens, with the lookup rules above."""

    def __init__(self, prices: Mapping[str, tuple[float, float]]) -> None:
        self._exact = {k: v for k, v in prices.items() if not _is_pattern(k)}
        # Longest first: the most specific pattern wins.
        self._patterns = sorted(
            ((k, v) for k, v in prices.items() if _is_pattern(k)), key=lambda kv: -len(kv[0])
        )

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        """The shipped table, with ``override`` (same JSON shape, or a bare
        ``{model: {"input": .., "output": ..}}`` object) merged over it."""
        shipped = resources.files("engine.llm").joinpath("prices.json").read_text("utf-8")
        prices = _prices_from(json.loads(shipped), "the shipped prices.json")
        if override is not None:
            prices.update(read_price_file(override))
        return cls(prices)

    def merged(self, prices: Mapping[str, tuple[float, float]]) -> PriceTable:
        """A new table with ``prices`` (e.g. from :func:`fetch_openrouter_prices`) on top."""
        combined = dict(self._exact)
        combined.update(self._patterns)
        combined.update(prices)
        return PriceTable(combined)

    def price(self, model: str) -> ModelPrice:
        """``(input_per_m, output_per_m, known)`` for ``model``."""
        found = self._lookup(model)
        if found is None and ":" in model:
            found = self._lookup(model.split(":", 1)[0])
        if found is None and "/" not in model:
            suffix = "/" + model
            matches = [v for k, v in self._exact.items() if k.endswith(suffix)]
            if len(matches) == 1:
                found = matches[0]
        if found is None:
            return ModelPrice(0.0, 0.0, False)
        return ModelPrice(found[0], found[1], True)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """USD for one call; None for a model with no known price (never 0: free
        models have a price of 0, which is known)."""
        p = self.price(model)
        if not p.known:
            return None
        return (input_tokens * p.input_per_m + output_tokens * p.output_per_m) / 1_000_000

    def unpriced(self, models: Iterable[str]) -> list[str]:
        """The models of ``models`` with no known price, sorted."""
        return sorted({m for m in models if m and not self.price(m).known})

    def _lookup(self, model: str) -> tuple[float, float] | None:
        if model in self._exact:
            return self._exact[model]
        for pattern, value in self._patterns:
            if fnmatch.fnmatchcase(model, pattern):
                return value
        return None


def read_price_file(path: Path) -> dict[str, tuple[float, float]]:
    """A user's price file: model -> (input, output) USD per 1M tokens."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: deep nesting
        raise UsageError(
            f"cannot read price file {path}: {e}",
            hint="give a JSON object of model -> {input, output} USD per 1M tokens",
        ) from e
    return _prices_from(data, f"price file {path}")


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


def _prices_from(data: Any, source: str) -> dict[str, tuple[float, float]]:
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a JSON object")
    models = data.get("models", data)
    out: dict[str, tuple[float, float]] = {}
    for name, entry in models.items():
        if name.startswith("_"):
            continue
        try:
            out[name] = (float(entry["input"]), float(entry["output"]))
        except (TypeError, KeyError, ValueError) as e:
            raise UsageError(
                f"{source}: model {name!r} needs numeric 'input' and 'output' prices",
                hint='write e.g. {"input": 0.15, "output": 0.6} (USD per 1M tokens)',
            ) from e
    return out


async def fetch_openrouter_prices(
    base_url: str, api_key: str | None = None, *, timeout_s: float = 15.0
) -> dict[str, tuple[float, float]]:
    """Current prices from OpenRouter's ``/models`` list, per 1M tokens.

    Optional by design: any failure (network, status, body, a CA bundle that does not
    load) returns ``{}`` and the shipped table stands. Entries with a negative
    (variable) price are left out. One GET, through the same kind of httpx client as
    the model calls (:mod:`engine.llm.transport`), closed before returning.
    """
    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key or NO_KEY}"}
    try:
        async with http_client(timeout_s=timeout_s) as http:
            with anyio.move_on_after(timeout_s):
                reply = await send(http, http.build_request("GET", url, headers=headers))
                if reply.status_code != 200:
                    return {}
                return _parse_models(json.loads(reply.content))
        return {}
    except (httpx.HTTPError, httpx.InvalidURL, UsageError):
        return {}
    except (ValueError, TypeError, KeyError, AttributeError):  # not the list we know
        return {}


def _parse_models(body: Any) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for item in body["data"]:
        pricing = item.get("pricing") or {}
        try:
            prompt = float(pricing["prompt"])
            completion = float(pricing["completion"])
        except (KeyError, TypeError, ValueError):
            continue
        if prompt < 0 or completion < 0:
            continue
        out[str(item["id"])] = (round(prompt * 1e6, 6), round(completion * 1e6, 6))
    return out
