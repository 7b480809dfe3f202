"""One keep-alive pool per origin, and the redirects the ``openai`` SDK used to follow.

The SDK's httpx client followed redirects. Only 307 and 308 keep a POST a POST with its
body (301/302/303 turn it into a GET, which no chat endpoint answers), so those two are
followed here, at most ``MAX_REDIRECTS`` times; any other status is the caller's to
judge. The ``Authorization`` header goes along only while the host stays the same (as
httpx does): a key must not be handed to whatever host a redirect names.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from .http import ConnectionPool, HTTPError, Reply

MAX_REDIRECTS = 5
_FOLLOWED = frozenset({307, 308})


class HTTPClient:
    """Requests by absolute URL over :class:`ConnectionPool`\\ s, one per origin."""

    def __init__(self) -> None:
        self._pools: dict[str, ConnectionPool] = {}

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Reply:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # what httpx (so the SDK) raised for such a URL: a failed connection
                raise HTTPError("UnsupportedProtocol", f"not an http(s) URL: {url!r}")
            reply = await self._pool(f"{parts.scheme}://{parts.netloc}").request(
                method, _target(parts.path, parts.query), headers, body
            )
            location = reply.headers.get("location")
            if reply.status not in _FOLLOWED or not location:
                return reply
            next_url = urljoin(url, location)
            if urlsplit(next_url).hostname != parts.hostname:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = next_url
        raise HTTPError("TooManyRedirects", f"more than {MAX_REDIRECTS} redirects")

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    def _pool(self, origin: str) -> ConnectionPool:
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = ConnectionPool(origin)
        return pool


def _target(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")
