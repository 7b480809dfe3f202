"""The LLM layer: one async interface, an OpenAI-compatible client, routing, prices
and tolerant parsing of structured replies.

    settings = LLMSettings.from_env(os.environ)          # the CLI does this
    async with Router(settings) as llm:
        llm.check_credentials(["openai/gpt-4o-mini"])    # before anything runs
        response = await llm.complete(ChatRequest(model=..., messages=[...]))
        decision, method = parse_decision(response.text)
"""

from .client import OpenAICompatibleClient
from .errors import LLMCallFailed, ParseError
from .parse import parse_decision, parse_structured
from .pricing import CallCost, ModelPrice, Price, PriceTable, fetch_openrouter_prices
from .routing import Endpoint, LLMSettings, Router
from .schemas import DecisionOut, json_schema_for
from .types import ChatRequest, ChatResponse, LLMClient

__all__ = [
    "CallCost",
    "ChatRequest",
    "ChatResponse",
    "DecisionOut",
    "Endpoint",
    "LLMCallFailed",
    "LLMClient",
    "LLMSettings",
    "ModelPrice",
    "OpenAICompatibleClient",
    "ParseError",
    "Price",
    "PriceTable",
    "Router",
    "fetch_openrouter_prices",
    "json_schema_for",
    "parse_decision",
    "parse_structured",
]
