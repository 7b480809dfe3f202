"""The LLM layer's HTTP: one pooled ``httpx.AsyncClient``, and how a request goes out.

Every outbound call of :mod:`engine.llm` (chat completions, OpenRouter's price list)
goes through a client made by :func:`http_client`:

- HTTP/1.1 with keep-alive (HTTP/2 off: one request per connection is what the
  chat endpoints and the loopback fake serve best); ``httpx.Limits`` caps the
  connections at ``max_connections`` (the caller's cap on calls in flight; None lets
  the pool open as many as there are calls in flight, which the engine's limiter
  bounds) and keeps idle ones ``KEEPALIVE_S``;
- proxies from the environment, read by httpx itself (``trust_env``):
  ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``, either case;
- certificates checked against :func:`tls_context`: a given CA bundle, else
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` from the environment, else certifi's bundle;
- replies read whole and decoded (gzip and deflate, chunked bodies joined);
- the pool's request assignment replaced by :mod:`engine.llm.pool` (httpcore's own
  cost 10+ ms of CPU a call at 64 connections).

:func:`send` follows 307 and 308 redirects only: they keep a POST a POST with its body
(301/302/303 turn it into a GET, which no chat endpoint answers), at most
``MAX_REDIRECTS`` times. httpx builds the next request, and drops the
``Authorization`` header when the redirect leaves the origin: a key must not be handed
to whatever host a redirect names.
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
import threading
from typing import Any

import httpx

from eventstore import UsageError

from .pool import tune_pools

USER_AGENT = "scenario-lab"
KEEPALIVE_S = 5.0
MAX_REDIRECTS = 5
_FOLLOWED = frozenset({307, 308})


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The certificates HTTPS peers are checked against: ``ca_bundle`` (a PEM file),
    else what httpx would use (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, else certifi).

    Parsing a bundle costs 25-50 ms, so one context per source serves the process, and
    it is parsed at the first TLS handshake (:class:`CertsOnFirstUse`): a run against a
    plain-HTTP endpoint (a local model server) never pays for it, and nothing waits on
    it before a run's first call goes out. What can be checked cheaply is checked now:
    raises :class:`~eventstore.UsageError` naming the file when it is missing,
    unreadable or holds no PEM certificate.
    """
    env = os.environ
    return _tls_context(ca_bundle, env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=8)
def _tls_context(
    ca_bundle: str | None, cert_file: str | None, cert_dir: str | None
) -> ssl.SSLContext:
    # the sources in httpx's order (httpx.create_ssl_context), ca_bundle first
    cafile, capath = (ca_bundle, None) if ca_bundle else (cert_file, None)
    if not cafile and cert_dir:
        capath = cert_dir
    try:
        if cafile:
            _check_pem_file(cafile)
        elif capath:
            os.listdir(capath)  # raises the OSError that names why it cannot be read
        return CertsOnFirstUse.client(cafile, capath)
    except (OSError, ssl.SSLError) as e:
        reason = e.strerror or str(e)  # "No such file or directory", not the errno tuple
        if ca_bundle:
            where, hint = (
                ca_bundle,
                "give the LLM settings' ca_bundle a PEM file of CA certificates",
            )
        else:
            where = f"SSL_CERT_FILE={cert_file}" if cert_file else f"SSL_CERT_DIR={cert_dir}"
            hint = "point it at PEM CA certificates, or unset it to use certifi's bundle"
        raise UsageError(f"cannot load CA certificates from {where}: {reason}", hint=hint) from e


def _check_pem_file(path: str) -> None:
    """Raise ``ssl.SSLError`` unless ``path`` reads and holds a PEM certificate (what
    ``load_verify_locations`` would refuse first), without parsing the bundle."""
    with open(path, "rb") as f:
        if b"-----BEGIN CERTIFICATE-----" not in f.read():
            raise ssl.SSLError(f"no PEM certificate in {path}")


class CertsOnFirstUse(ssl.SSLContext):
    """What ``ssl.create_default_context(cafile=..., capath=...)`` makes (httpx's
    default context: certificates and host names checked), with the CA certificates
    loaded at the first handshake instead of now. Every TLS connection goes through
    ``wrap_bio`` (asyncio, anyio) or ``wrap_socket``, and both load them first.
    ``cafile`` and ``capath`` None mean certifi's bundle."""

    _cafile: str | None
    _capath: str | None
    _loaded: bool
    _lock: threading.Lock

    @classmethod
    def client(cls, cafile: str | None = None, capath: str | None = None) -> CertsOnFirstUse:
        """A client context (``CERT_REQUIRED``, host names checked) for these sources."""
        ctx = cls(ssl.PROTOCOL_TLS_CLIENT)
        ctx._cafile, ctx._capath = cafile, capath
        ctx._loaded = False
        ctx._lock = threading.Lock()
        # as create_default_context does: SSLKEYLOGFILE lets Wireshark read the traffic
        keylog = os.environ.get("SSLKEYLOGFILE")
        if keylog and not sys.flags.ignore_environment:
            ctx.keylog_filename = keylog
        return ctx

    def load_certs(self) -> None:
        """Load the CA certificates once (the first handshake calls this)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            cafile, capath = self._cafile, self._capath
            if cafile is None and capath is None:
                import certifi

                cafile = certifi.where()
            self.load_verify_locations(cafile=cafile, capath=capath)
            self._loaded = True

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self.load_certs()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load_certs()
        return super().wrap_socket(*args, **kwargs)


def http_client(
    *,
    timeout_s: float,
    max_connections: int | None = None,
    tls: ssl.SSLContext | None = None,
    keepalive_s: float = KEEPALIVE_S,
) -> httpx.AsyncClient:
    """A pooled client as described above; ``timeout_s`` bounds each connect, read,
    write and wait for a pooled connection (callers bound the whole call too)."""
    if max_connections is not None and max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    client = httpx.AsyncClient(
        verify=tls if tls is not None else tls_context(),
        http1=True,
        http2=False,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_s,
        ),
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,  # send() follows the two kinds that keep a POST
        trust_env=True,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )
    tune_pools(client)
    client._cookies = Cookies()  # no public way to choose the store's class
    return client


class Cookies(httpx.Cookies):
    """httpx's cookie store, which hands a reply to ``http.cookiejar`` only when the
    reply sets a cookie: httpx asks it about every reply, and that costs ~0.1 ms of
    CPU a call (a ``urllib`` request object, the URL parsed again, the headers walked
    as email headers) for the ``Set-Cookie`` a chat endpoint rarely sends."""

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send ``request`` and read its reply, following 307/308 (see the module docstring).

    Raises httpx's errors: :class:`httpx.TimeoutException`, :class:`httpx.TransportError`,
    :class:`httpx.DecodingError`, and :class:`httpx.TooManyRedirects` after
    ``MAX_REDIRECTS``.
    """
    response = await client.send(request)
    for _ in range(MAX_REDIRECTS):
        if response.status_code not in _FOLLOWED or response.next_request is None:
            return response
        response = await client.send(response.next_request)
    if response.status_code in _FOLLOWED and response.next_request is not None:
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=request)
    return response
