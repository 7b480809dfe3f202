"""Which models a run calls, the client that reaches them, and what calls cost.

Every operation that plays (run, resume, fork, batches) checks here, before anything is
recorded, that each model it needs has an endpoint and credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eventstore import InvalidRequest

from .settings import LabSettings

if TYPE_CHECKING:
    from engine.llm import PriceTable, Router


def models_needed(
    scenario: Any, model_overrides: Mapping[str, str], world_model: str | None
) -> list[str]:
    """Every model a run of ``scenario`` would call (its actors', adjudicator's, metrics'
    and validation checks'), sorted."""
    models: set[str] = set()
    for actor_id, actor in scenario.actors.items():
        if actor.control == "ai":
            models.add(model_overrides.get(actor_id) or actor.llm_model or "")
    world = world_model or scenario.world_state_model
    if world and world != "rules":
        models.add(world)
    for metric in scenario.metrics:
        if metric.extraction.type == "llm":
            models.add(metric.extraction.model or world or "")
    if scenario.validation is not None and any(
        c.enabled for c in scenario.validation.checks.values()
    ):
        models.add(scenario.validation.validation_model or world or "")
    models.discard("")
    return sorted(models)


def check_base_url(base_url: str | None) -> None:
    """Refuse an endpoint that is not an http(s) URL (before any run is recorded)."""
    if not base_url:
        return
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InvalidRequest(
            "{llm_base_url} {url!r} is not an http(s) URL (e.g. http://localhost:11434/v1)",
            field="llm_base_url",
            values={"url": base_url},
        )


def make_client(settings: LabSettings, models: list[str]) -> Router | None:
    """The router for ``models`` after checking the endpoint and every credential; None
    when no model is needed (a rule-driven run)."""
    if not models:
        return None
    from engine.llm import Router

    llm = settings.llm_settings()
    check_base_url(llm.base_url)
    router = Router(llm)
    router.check_credentials(models)
    return router


def check_models(settings: LabSettings, models: list[str]) -> None:
    """``make_client``'s checks alone: refuse early what playing would refuse later."""
    make_client(settings, models)


def price_table(settings: LabSettings) -> PriceTable:
    """The shipped price table with the settings' price file and price overrides over
    it (read now, so a bad file is reported before anything is recorded)."""
    from engine.llm import PriceTable

    table = PriceTable.load(settings.prices)
    return table.merged(settings.price_overrides) if settings.price_overrides else table


def check_priced(
    table: PriceTable, models: list[str], limit_usd: float | None, *, field: str = "credit_limit"
) -> tuple[str, ...]:
    """Refuse models with no known price under a limit (``field``: the credit limit or
    the batch budget), whose calls it could not count; without a limit, the warning
    that their cost will be recorded as unknown (empty when every model is priced)."""
    unpriced = table.unpriced(models)
    if not unpriced:
        return ()
    from engine.play.estimate import unpriced_warning

    if limit_usd is not None:
        # the limit is named through a template field: each front end names it its own way
        raise InvalidRequest(
            "{" + field + "} cannot be kept: no price is known for {names}, so the cost "
            "of their calls could not be counted against it",
            hint="give each a price with {price} {first}=IN,OUT (USD per 1M tokens), "
            "or drop the limit",
            field="price",
            values={"names": ", ".join(unpriced), "first": unpriced[0]},
        )
    return (unpriced_warning(unpriced),)


async def load_prices(settings: LabSettings, client: Router | None) -> PriceTable:
    """The shipped table, OpenRouter's live list when a model goes there, then the
    settings' price file on top. The fetch is a refinement, never a requirement: when it
    fails the shipped table stands."""
    from engine.llm import PriceTable, fetch_openrouter_prices

    prices = PriceTable.load()
    llm = client.settings if client is not None else None
    if llm is not None and not llm.base_url and llm.openrouter_api_key:
        fetched = await fetch_openrouter_prices(llm.openrouter_base_url, llm.openrouter_api_key)
        if fetched:
            prices = prices.merged(fetched)
    if settings.prices is not None:
        from engine.llm.pricing import read_price_file

        prices = prices.merged(read_price_file(settings.prices))
    if settings.price_overrides:
        prices = prices.merged(settings.price_overrides)
    return prices


def parse_price(text: str) -> tuple[str, tuple[float, ...]]:
    """``MODEL=IN,OUT[,CACHED]`` (USD per 1M input, output and, optionally, cached
    input tokens) as ``(model, (in, out[, cached]))``; ``UsageError`` naming the
    ``prices`` field when it is not that."""
    import math

    model, sep, numbers = text.partition("=")
    parts = numbers.split(",")
    try:
        if not sep or not model.strip() or len(parts) not in (2, 3):
            raise ValueError(text)
        values = tuple(float(part) for part in parts)
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError(text)
    except ValueError:
        raise InvalidRequest(
            "{price} takes MODEL=IN,OUT or MODEL=IN,OUT,CACHED: USD per 1M input, output "
            "and cached prompt tokens, numbers of 0 or more; got {text!r}",
            hint="e.g. {price} openai/gpt-4o-mini=0.15,0.6,0.075",
            field="price",
            values={"text": text},
        ) from None
    return model.strip(), values
