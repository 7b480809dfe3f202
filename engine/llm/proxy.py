"""Calls through an HTTP proxy, by httpx, and which proxy (if any) an endpoint needs.

The fast pool (:mod:`engine.llm.http`) speaks only directly to the server. The
``openai`` SDK used to honour ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and
``NO_PROXY`` through httpx; so that behind a proxy nothing changes, such endpoints still
go through httpx (slower per call, which matters little next to a proxy's latency).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx2 as httpx

from .http import HTTPError, HTTPTimeout, Reply

PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy", "no_proxy")


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy URL ``env`` (variables as the shell has them) routes ``url`` through,
    or None: ``<scheme>_proxy`` else ``all_proxy`` (lower or upper case), unless the
    host matches ``no_proxy`` (``*``, a host, or a domain suffix; ports ignored)."""
    lowered = {k.lower(): v.strip() for k, v in env.items() if k.lower() in PROXY_VARIABLES}
    parts = urlsplit(url)
    proxy = lowered.get(f"{parts.scheme}_proxy") or lowered.get("all_proxy")
    if not proxy:
        return None
    host = (parts.hostname or "").lower()
    for entry in lowered.get("no_proxy", "").split(","):
        entry = entry.strip().lower().lstrip(".")
        if entry.startswith("["):  # [::1]:8080
            entry = entry[1:].split("]", 1)[0]
        elif entry.count(":") == 1:  # host:port
            entry = entry.split(":", 1)[0]
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return None
    return proxy


class ProxiedTransport:
    """:class:`~engine.llm.origins.HTTPClient`'s interface over httpx with a proxy."""

    def __init__(self, proxy: str, *, timeout_s: float) -> None:
        # trust_env off: the proxy is the one given, not whatever the environment says;
        # redirects followed as the SDK's own httpx client did.
        self._client = httpx.AsyncClient(
            proxy=proxy, timeout=timeout_s, trust_env=False, follow_redirects=True
        )

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Reply:
        try:
            response = await self._client.request(method, url, headers=dict(headers), content=body)
        except httpx.TimeoutException as e:
            raise HTTPTimeout(type(e).__name__, str(e)) from e
        except httpx.TransportError as e:
            raise HTTPError(type(e).__name__, str(e)) from e
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return Reply(response.status_code, headers_out, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()
