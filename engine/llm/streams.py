"""httpcore network streams that send a request in one write.

httpcore writes a request's head and its body with two socket sends. On loopback each
send costs ~0.3 ms of CPU on a busy machine (the kernel runs the receiver's TCP
processing in the sender's call): the second one was the largest single cost httpx
added per model call over the hand-written h11 client it replaced. An HTTP/1.1
client reads only after it has written its whole request, so these streams hold the
writes and send them joined when the first read comes (or once 64 KiB are waiting).
A send that fails then fails in that read: httpx reports it as a ``WriteError`` or
``ReadError``, both transport errors, as before.

With no timeout given (the LLM client bounds a whole attempt with one deadline of its
own and sends none), reads and writes go straight to anyio's stream: httpcore would
open a cancel scope of no deadline around each (~12 µs of CPU, three a call), and maps
the same errors.

They also answer httpcore's "is the idle socket readable?" (a server that hung up)
with one ``poll`` on the socket kept at connect time, instead of going through anyio's
attribute lookup every time (~40 µs).

httpcore offers the network backend as its extension point; httpx does not pass one
through, so :func:`engine.llm.pool.tune_pools` sets it on the pools httpx built.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import anyio
import anyio.abc
import httpcore

_FLUSH_AT = 65536
# anyio's errors and httpcore's for them (as httpcore's anyio backend maps them)
_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError)


class CoalescingStream(httpcore.AsyncNetworkStream):
    """A stream whose writes go out together just before the next read."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._socket: socket.socket | None = stream.get_extra_info("socket")
        # the anyio stream under httpcore's, when it is one (see the module docstring)
        raw = getattr(stream, "_stream", None)
        self._raw = raw if isinstance(raw, anyio.abc.ByteStream) else None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._pending.append(buffer)
            self._pending_size += len(buffer)
            if self._pending_size >= _FLUSH_AT:  # a large body goes as it comes
                await self._flush(timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush(timeout)
        if timeout is not None or self._raw is None:
            return await self._stream.read(max_bytes, timeout)
        try:
            return await self._raw.receive(max_bytes)
        except anyio.EndOfStream:
            return b""
        except _BROKEN as e:
            raise httpcore.ReadError(e) from e

    async def aclose(self) -> None:
        self._pending.clear()
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        await self._flush(timeout)  # a proxy's CONNECT goes before the handshake
        return CoalescingStream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._stream.get_extra_info(info)

    async def _flush(self, timeout: float | None) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending.clear()
            self._pending_size = 0
            if timeout is not None or self._raw is None:
                await self._stream.write(data, timeout)
                return
            try:
                await self._raw.send(data)
            except _BROKEN as e:
                raise httpcore.WriteError(e) from e


class CoalescingBackend(httpcore.AsyncNetworkBackend):
    """Wraps a backend's streams in :class:`CoalescingStream`."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return CoalescingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return CoalescingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def _readable(sock: socket.socket) -> bool:
    """An idle HTTP/1.1 connection has nothing to read: if it has, the server hung up."""
    if sock.fileno() < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([sock], [], [], 0)[0])
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
