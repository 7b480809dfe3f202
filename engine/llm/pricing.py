"""What model calls cost: a shipped price table, user overrides, OpenRouter's live list.

Prices are USD per 1M tokens. A model is looked up by, in order: its exact name; the
longest matching fnmatch pattern (``ollama/*`` and ``*:free`` are free); its name
without an OpenRouter variant suffix (``:nitro``, ``:beta``); and, for a bare name such
as ``gpt-4o-mini`` sent to an explicit endpoint, the one ``provider/<name>`` entry. A
model found none of these ways has ``known=False`` and its calls an unknown cost
(``cost`` returns None, never 0): callers warn, record the cost as unknown, and refuse
it under a credit limit (which cannot be kept without a price) unless the user gives
one (``--price MODEL=IN,OUT``, ``scenario_lab.app.parse_price``).

A price may carry a third number: what the provider charges for a prompt token served
from its prompt cache (``cached``; OpenRouter's ``input_cache_read``; ``--price
MODEL=IN,OUT,CACHED``). A call's cost is then ``uncached*IN + cached*CACHED + out*OUT``;
without a known cache price, cached tokens are billed at the full input price (no saving
is claimed that the price list does not support).
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx

from eventstore import UsageError

from .client import NO_KEY
from .transport import http_client, send

# USD per 1M tokens: (input, output) or (input, output, cached input)
Price = tuple[float, ...]


class ModelPrice(NamedTuple):
    input_per_m: float
    output_per_m: float
    known: bool
    cached_per_m: float | None = None  # None: no known cache price (billed as input)


class CallCost(NamedTuple):
    """What one call cost, and what its cached prompt tokens saved against the full
    input price. Both None for a model with no known price; ``cache_saving_usd`` None
    too when the call's cached tokens are unknown (the provider did not say)."""

    cost_usd: float | None
    cache_saving_usd: float | None


class PriceTable:
    """Model -> (input, output[, cached]) USD per 1M tokens, with the lookup rules above."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
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

    def merged(self, prices: Mapping[str, Price]) -> PriceTable:
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
        return ModelPrice(found[0], found[1], True, found[2] if len(found) > 2 else None)

    def cost(
        self, model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0
    ) -> float | None:
        """USD for one call; None for a model with no known price (never 0: free
        models have a price of 0, which is known). ``cached_tokens`` of the
        ``input_tokens`` are billed at the cache price when one is known."""
        return self.call_cost(model, input_tokens, output_tokens, cached_tokens).cost_usd

    def call_cost(
        self, model: str, input_tokens: int, output_tokens: int, cached_tokens: int | None
    ) -> CallCost:
        """The cost of a call whose usage reported ``cached_tokens`` of its
        ``input_tokens`` as served from the provider's cache (None: not reported)."""
        p = self.price(model)
        if not p.known:
            return CallCost(None, None)
        # a provider's prompt_tokens include the cached ones; a count above them is not
        # believed past the prompt's size
        cached = min(max(cached_tokens or 0, 0), input_tokens)
        cached_per_m = p.input_per_m if p.cached_per_m is None else p.cached_per_m
        usd = (
            (input_tokens - cached) * p.input_per_m
            + cached * cached_per_m
            + output_tokens * p.output_per_m
        ) / 1_000_000
        saving = None if cached_tokens is None else cached * (p.input_per_m - cached_per_m)
        return CallCost(usd, None if saving is None else saving / 1_000_000)

    def unpriced(self, models: Iterable[str]) -> list[str]:
        """The models of ``models`` with no known price, sorted."""
        return sorted({m for m in models if m and not self.price(m).known})

    def _lookup(self, model: str) -> Price | None:
        if model in self._exact:
            return self._exact[model]
        for pattern, value in self._patterns:
            if fnmatch.fnmatchcase(model, pattern):
                return value
        return None


def read_price_file(path: Path) -> dict[str, Price]:
    """A user's price file: model -> (input, output[, cached]) USD per 1M tokens."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: deep nesting
        why = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise UsageError(
            f"cannot read price file {path}: {why}",
            hint="give a JSON object of model -> {input, output[, cached]} USD per 1M tokens",
        ) from e
    return _prices_from(data, f"price file {path}")


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


def _prices_from(data: Any, source: str) -> dict[str, Price]:
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a JSON object")
    models = data.get("models", data)
    out: dict[str, Price] = {}
    for name, entry in models.items():
        if name.startswith("_"):
            continue
        try:
            price: Price = (float(entry["input"]), float(entry["output"]))
            if entry.get("cached") is not None:
                price = (*price, float(entry["cached"]))
        except (TypeError, KeyError, ValueError, AttributeError) as e:
            raise UsageError(
                f"{source}: model {name!r} needs numeric 'input' and 'output' prices "
                "(and 'cached', if given)",
                hint='write e.g. {"input": 0.15, "output": 0.6, "cached": 0.075} '
                "(USD per 1M tokens; cached is optional)",
            ) from e
        out[name] = price
    return out


async def fetch_openrouter_prices(
    base_url: str, api_key: str | None = None, *, timeout_s: float = 15.0
) -> dict[str, Price]:
    """Current prices from OpenRouter's ``/models`` list, per 1M tokens (with the cache
    read price, ``input_cache_read``, where the list gives one).

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


def _parse_models(body: Any) -> dict[str, Price]:
    out: dict[str, Price] = {}
    for item in body["data"]:
        pricing = item.get("pricing") or {}
        try:
            prompt = float(pricing["prompt"])
            completion = float(pricing["completion"])
        except (KeyError, TypeError, ValueError):
            continue
        if prompt < 0 or completion < 0:
            continue
        price: Price = (round(prompt * 1e6, 6), round(completion * 1e6, 6))
        cached = _per_token(pricing.get("input_cache_read"))
        out[str(item["id"])] = price if cached is None else (*price, round(cached * 1e6, 6))
    return out


def _per_token(value: Any) -> float | None:
    # a cache price the list does not give, or gives as nothing usable, is unknown
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price >= 0 else None
