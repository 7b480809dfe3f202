"""httpcore's connection pool, tuned for many calls in flight to one origin.

httpx sends through httpcore's ``AsyncConnectionPool``, which runs
``_assign_requests_to_connections`` twice a request (when it is queued and when its
response is closed). In httpcore 1.0.9 that pass is quadratic in the connections (it
counts every connection once per idle one), asks every idle socket whether it is
readable (a ``poll`` through anyio's attribute lookup, ~40 µs each), and hands an idle
connection to a second queued request before the first has started on it (the loser
retries with another full pass). Measured against the loopback fake with 64 calls in
flight, the stock pool cost 10-17 ms of CPU a call and capped a process at 40-80
calls/s; with the pass below, the whole httpx path costs 1.2-1.4 ms (on a busy 2-core
machine; see benchmarks/README.md). Upstream has fixes as open pull requests
(encode/httpcore#1035, #1111); when a release carries them, the pass below can go.

The pass keeps httpcore's rules (``max_connections``, ``max_keepalive_connections``,
closing an idle connection to another origin when the pool is full) and changes how it
gets there: one walk over the connections and the requests; a connection assigned to
a request that has not started on it yet is not handed out again; the idle connection
used last is reused first, and only that one is asked whether the server closed it; an
idle connection nobody picks is closed when it is the surplus over
``max_keepalive_connections``, when its slot is needed, or with the pool. A pass with
no request waiting has nothing to do unless idle connections may exceed the keep-alive
cap.

:func:`tune_pools` also gives the pools :mod:`engine.llm.streams` (one send a request).

The connections the pass creates take their locks without a detour through the event
loop. httpcore guards each HTTP/1.1 connection with two anyio locks, taken three times a
request (the connection's request lock and its state lock as the request starts, the
state lock again when the response closes), and an uncontended anyio lock still yields
to the event loop once per acquisition. A connection here serves one request at a
time, so these locks are never contended; but each yield sends the task to the back of
the event loop's queue, and when many replies land at once that queue holds every other
reply's bookkeeping: two yields stood between taking a call slot and the request's
write, and one between a reply's last byte and the slot's release (benchmarks/README.md,
"CPU per model call, third pass"). anyio's ``fast_acquire`` locks keep the same
semantics (cancellation, ownership) and skip the yield when the lock is free.
"""

from __future__ import annotations

import anyio
import httpcore
import httpx
from httpcore._synchronization import AsyncLock

from .streams import CoalescingBackend


class _FastLock(AsyncLock):
    """httpcore's lock, but on asyncio an anyio lock that does not yield when free."""

    def setup(self) -> None:
        super().setup()
        if self._backend == "asyncio":
            self._anyio_lock = anyio.Lock(fast_acquire=True)


class _Connection(httpcore.AsyncHTTPConnection):
    """httpcore's connection with fast locks: its own from the start, its HTTP/1.1
    connection's from its second request (the first creates it and uses it at once)."""

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        inner = self._connection
        if type(inner) is httpcore.AsyncHTTP11Connection and type(inner._state_lock) is AsyncLock:
            # idle (the pool handed it out as such): nobody holds its lock now
            inner._state_lock = _FastLock()
        return await super().handle_async_request(request)


class _Pool(httpcore.AsyncConnectionPool):
    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        connection = super().create_connection(origin)
        if type(connection) is httpcore.AsyncHTTPConnection:  # direct: proxies keep theirs
            connection.__class__ = _Connection
            connection._request_lock = _FastLock()
        return connection

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        requests = self._requests
        queued = [r for r in requests if r.connection is None]
        if not queued and len(self._connections) <= self._max_keepalive_connections:
            return []  # a response was closed and nobody waits: closed ones go next time
        # connections a request has, started on or not
        held = {id(r.connection) for r in requests if r.connection is not None}
        closing: list[httpcore.AsyncConnectionInterface] = []
        live: list[httpcore.AsyncConnectionInterface] = []
        idle = []  # in order of last use (see below): the end was used last
        for c in self._connections:
            if id(c) in held:  # busy: a closed one is dropped once its request lets go
                live.append(c)
            elif not c.is_closed():
                live.append(c)
                if c.is_idle():
                    idle.append(c)
        for pool_request in queued:
            origin = pool_request.request.url.origin
            connection = _reuse(idle, origin, live, closing)
            if connection is None:
                if len(live) >= self._max_connections:
                    if not idle:
                        break  # every connection is busy: the queue waits, in order
                    oldest = idle.pop(0)
                    live.remove(oldest)
                    closing.append(oldest)
                connection = self.create_connection(origin)
            else:
                live.remove(connection)
            live.append(connection)  # the list's end is the connection used last
            pool_request.assign_to_connection(connection)
        surplus = len(idle) - self._max_keepalive_connections
        for connection in idle[: max(surplus, 0)]:  # the longest unused go first
            live.remove(connection)
            closing.append(connection)
        self._connections = live
        return closing


def _reuse(
    idle: list[httpcore.AsyncConnectionInterface],
    origin: httpcore.Origin,
    live: list[httpcore.AsyncConnectionInterface],
    closing: list[httpcore.AsyncConnectionInterface],
) -> httpcore.AsyncConnectionInterface | None:
    """The idle connection to ``origin`` used last that is still good, taken off
    ``idle``; ones found expired or closed by the server are moved to ``closing``."""
    for i in range(len(idle) - 1, -1, -1):
        connection = idle[i]
        if not connection.can_handle_request(origin):
            continue
        del idle[i]
        if connection.has_expired():  # keep-alive time up, or the server hung up
            live.remove(connection)
            closing.append(connection)
            continue
        return connection
    return None


class _HTTPProxyPool(httpcore.AsyncHTTPProxy, _Pool):
    pass


# The pool classes httpx builds (direct, and one per proxy from the environment) and
# the same classes with the pass above; SOCKS proxies keep httpcore's own.
_TUNED: dict[type, type] = {
    httpcore.AsyncConnectionPool: _Pool,
    httpcore.AsyncHTTPProxy: _HTTPProxyPool,
}


def tune_pools(client: httpx.AsyncClient) -> None:
    """Give every pool ``client`` built (direct and proxied) the pass above and
    one-write streams.

    httpx offers no hook for either, so the pools it made are re-classed in place (same
    state and settings, one method different) and handed the wrapped network backend.
    A transport that is not httpx's own, or a pool class not listed, is left as it is
    (correct, only slower); ``tests/test_llm_transport.py`` fails if httpx stops
    building pools this way.
    """
    for transport in [client._transport, *client._mounts.values()]:
        pool = getattr(transport, "_pool", None)
        tuned = _TUNED.get(type(pool))
        if pool is not None and tuned is not None:
            pool.__class__ = tuned
            pool._network_backend = CoalescingBackend(pool._network_backend)
