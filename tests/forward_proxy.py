"""A small HTTP forward proxy on loopback, for tests of clients that go through one.

It serves what a client configured with ``HTTP_PROXY`` / ``HTTPS_PROXY`` sends:

- ``CONNECT host:port`` (an ``https://`` URL through the proxy): it connects, answers
  ``200``, and passes bytes both ways until either side hangs up;
- a request whose target is an absolute ``http://`` URL: it sends it on to that host
  in origin form (one upstream connection a request, ``Connection: close``) and relays
  the reply; the client's connection stays open for its next request.

Every request line it received is kept in :attr:`ForwardProxy.seen`, so a test can
prove that a call went through it. Upstream hosts must be loopback addresses: the proxy
refuses anything else (tests never leave the machine).

    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        ...
        assert proxy.seen == ["POST http://127.0.0.1:8080/v1/chat/completions"]
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import socketserver
import threading
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

_LIMIT = 1 << 20  # bytes of request head or body the proxy reads before giving up
_IDLE_S = 10.0  # a tunnel or keep-alive connection silent this long is closed


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: ForwardProxy


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        proxy._track(self.connection, add=True)
        try:
            while self._one_request():
                pass
        except OSError:
            return  # a side hung up: the exchange is over
        finally:
            proxy._track(self.connection, add=False)

    def _one_request(self) -> bool:
        """Serve one request; False when the client's connection is done."""
        self.connection.settimeout(_IDLE_S)
        line = self.rfile.readline(_LIMIT).decode("latin-1").rstrip("\r\n")
        if not line:
            return False
        headers = []
        while True:
            header = self.rfile.readline(_LIMIT).decode("latin-1")
            if header in ("\r\n", "\n", ""):
                break
            headers.append(header.rstrip("\r\n"))
        method, target, _version = line.split(" ", 2)
        self.server.proxy._seen(f"{method} {target}")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = _connect(host, int(port))
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            _pipe(self.connection, upstream)
            return False
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        length = 0
        kept = []
        for header in headers:
            name, _, value = header.partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            if lowered in ("connection", "proxy-connection", "keep-alive"):
                continue
            kept.append(header)
        body = self.rfile.read(min(length, _LIMIT)) if length else b""
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        head = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        with _connect(url.hostname, url.port or 80) as upstream:
            upstream.sendall(head.encode("latin-1") + body)
            while chunk := upstream.recv(65536):  # the server closes after its reply
                self.wfile.write(chunk)
        self.wfile.flush()
        return True


def _connect(host: str, port: int) -> socket.socket:
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        raise OSError(f"the test proxy only reaches loopback, not {host}")
    return socket.create_connection((host, port), timeout=_IDLE_S)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Pass bytes both ways until one side closes or both are silent for ``_IDLE_S``."""
    with b:
        while True:
            ready, _, _ = select.select([a, b], [], [], _IDLE_S)
            if not ready:
                return
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)


class ForwardProxy:
    """A threaded forward proxy on ``127.0.0.1`` (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ForwardProxy:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[str]:
        """Every request line received: ``CONNECT host:port`` or ``METHOD http://...``."""
        with self._lock:
            return list(self._lines)

    def _seen(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def _track(self, conn: Any, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
