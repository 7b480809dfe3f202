"""A fake OpenAI-compatible LLM server on loopback, for tests and subprocess runs.

It is a real HTTP server, so the real client, its retries and the parsers are exercised
end to end. It speaks ``POST /v1/chat/completions`` (the OpenAI response shape with
``usage``) and ``GET /v1/models`` (an OpenRouter-like list with per-token prices)::

    with FakeLLMServer(latency_s=0.01) as srv:
        srv.script("first reply", {"content": "cut", "finish_reason": "length"})
        srv.fail_next(2, "429")
        ... OpenAICompatibleClient(srv.base_url, "key") ...
        assert srv.request_count == 3

How a chat request is answered, first match wins:

1. a queued fault (:meth:`FakeLLMServer.fail_next`), for any path;
2. a scripted reply queued for the request's model, then a global one (:meth:`script`);
3. ``responder(request_json)``, if set and it returns a reply (text, or a dict as
   :meth:`~FakeLLMServer.script` takes);
4. schema mode: with ``response_format`` of type ``json_schema``, a valid instance of it;
5. a default decision as JSON.

Everything may be changed while the server runs. Replies can go out gzip-compressed
(``gzip``, to clients that accept it) and in chunks (``chunked``); with ``tls`` (a
server-side ``ssl.SSLContext``, e.g. from ``trustme``) the server speaks HTTPS.
:attr:`FakeLLMServer.replies` records how each reply was sent. As a process::

    python -m tests.fakellm --port 0 [--latency S] [--script FILE.json] [--prefix-cache]

prints ``PORT <n>`` as its first stdout line, then serves until killed. A script file is
a JSON list of replies, or an object with ``replies``, ``models`` (model -> replies),
``faults`` (list of ``[kind, n]``) and ``latency_s``. :func:`fake_process` starts one
and yields its base URL (benchmarks use it, so the server's CPU is not charged to the
process they measure).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import hashlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any

# A reply's text, or a dict as :meth:`FakeLLMServer.script` takes (``finish_reason``...).
Responder = Callable[[dict[str, Any]], "str | dict[str, Any] | None"]

# Kinds `fail_next` understands; any other three-digit string is sent as that status.
FAULT_KINDS = (
    "429",
    "500",
    "malformed",
    "truncated",
    "stall",
    "reject_response_format",
    "connection",
    "redirect",
    "bad_gzip",
)

DEFAULT_DECISION = {
    "long_term_goals": ["keep the coalition together"],
    "short_term_priorities": ["open talks with the neighbours"],
    "reasoning": "A fake model's reasoning.",
    "action": "Propose a ceasefire conference.",
    "action_name": None,
}

# OpenRouter gives prices per token, as strings.
DEFAULT_MODELS: list[dict[str, Any]] = [
    {"id": "openai/gpt-4o-mini", "pricing": {"prompt": "0.00000015", "completion": "0.0000006"}},
    {"id": "openai/gpt-4o", "pricing": {"prompt": "0.0000025", "completion": "0.00001"}},
    {"id": "fake/free-model", "pricing": {"prompt": "0", "completion": "0"}},
]


def key_fingerprint(api_key: str) -> str:
    """What the server records instead of a bearer key: its sha256, shortened."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def common_prefix_len(a: str, b: str) -> int:
    """Characters at the start of ``a`` and ``b`` that are the same."""
    n = min(len(a), len(b))
    lo, hi = 0, n
    # binary search on slices compared in C: long prompts are compared fast
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def cacheable_tokens(prefix_tokens: int, *, minimum: int = 1024, block: int = 128) -> int:
    """What a provider bills as cached of a ``prefix_tokens``-long prefix it has seen
    before: as OpenAI does, nothing below ``minimum`` tokens, else whole ``block``s."""
    if prefix_tokens < max(minimum, 1):
        return 0
    return prefix_tokens - prefix_tokens % block


class PrefixCache:
    """A provider's prompt cache as the fake emulates it: it remembers every prompt it
    was sent (per model) and reports as cached the longest prefix of a new prompt that
    an earlier one began with, in whole blocks (:func:`cacheable_tokens`)."""

    def __init__(self, *, minimum: int = 1024, block: int = 128, limit: int = 10_000) -> None:
        self.minimum = minimum
        self.block = block
        self.limit = limit  # prompts remembered per model, oldest forgotten first
        self._seen: dict[str, deque[str]] = {}
        self._lock = threading.Lock()  # the handler threads share it

    def cached_tokens(self, model: str, prompt: str) -> int:
        """The cached tokens of ``prompt`` (then remembered for later prompts)."""
        with self._lock:
            seen = self._seen.setdefault(model, deque(maxlen=self.limit))
            shared = max((common_prefix_len(prompt, s) for s in seen), default=0)
            seen.append(prompt)
        tokens = len(prompt[:shared]) // 4
        return min(
            cacheable_tokens(tokens, minimum=self.minimum, block=self.block),
            estimate_tokens(prompt),
        )


# -- schema instances ------------------------------------------------------------------


def instance_of(schema: dict[str, Any], *, name: str = "value", root: Any = None) -> Any:
    """A deterministic JSON value valid for ``schema`` (the subset models are sent).

    Strings are ``"fake <field>"``, numbers sit inside the bounds, enums take their
    first member, nullable unions take their first non-null branch.
    """
    root = schema if root is None else root
    if "$ref" in schema:
        return instance_of(_resolve_ref(root, schema["$ref"]), name=name, root=root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            branches = schema[union]
            chosen = next((b for b in branches if b.get("type") != "null"), branches[0])
            return instance_of(chosen, name=name, root=root)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return instance_of(merged, name=name, root=root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance_of(v, name=k, root=root) for k, v in props.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items", {"type": "string"})
        return [instance_of(items, name=name, root=root) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number_in(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = f"fake {name}"
    min_len = int(schema.get("minLength", 0))
    if len(text) < min_len:
        text += "x" * (min_len - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return dict(node)


def _number_in(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"] + (1 if integer else 1e-6)
    if "exclusiveMaximum" in schema:
        high = schema["exclusiveMaximum"] - (1 if integer else 1e-6)
    if low is not None and high is not None:
        value: float = (low + high) / 2
    elif low is not None:
        value = low
    elif high is not None:
        value = min(high, 0)
    else:
        value = 1
    if integer:
        rounded = int(value)
        if low is not None and rounded < low:
            rounded += 1
        return rounded
    return float(value)


# -- the server ------------------------------------------------------------------------


class _HTTPServer(ThreadingMixIn, HTTPServer):
    # Non-daemon threads so close() can join them; sixty-four simultaneous connects
    # must not overflow the listen backlog (the default of 5 drops SYNs and costs 1 s).
    daemon_threads = False
    block_on_close = True
    request_queue_size = 256
    allow_reuse_address = True

    fake: FakeLLMServer

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        tls = self.fake.tls
        if tls is not None:
            # the handshake happens in the handler's thread (setup), not in accept's
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up is part of the scenarios we play.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
    server: _HTTPServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # a client that refuses the certificate ends here
        super().setup()
        # Headers and body go out as two writes; with Nagle on, the body waits for the
        # peer's delayed ACK (~40 ms a request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    # When the answer is due: ``latency_s`` after the request arrived, so the fake's own
    # work (parsing, building a schema-valid reply) is inside the latency, as a real
    # server's is, instead of added to it and charged to the client under test.
    _answer_at: float | None = None

    def _await_latency(self) -> None:
        if self._answer_at is not None:
            remaining = self._answer_at - time.monotonic()
            self._answer_at = None
            if remaining > 0:
                self.server.fake._stopping.wait(remaining)

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        auth = headers.pop("authorization", None)
        fingerprint = None
        if auth and auth.lower().startswith("bearer "):
            fingerprint = key_fingerprint(auth[7:].strip())
        fake._record(
            {
                "method": method,
                "path": self.path,
                "json": body,
                "headers": headers,
                "auth_fingerprint": fingerprint,
            }
        )
        if fake.api_key is not None and fingerprint != key_fingerprint(fake.api_key):
            self._send_error(401, "Incorrect API key provided.", "invalid_api_key")
            return
        fault = fake._pop_fault()
        if fake.latency_s > 0 and (fault is None or fault[0] != "stall"):
            self._answer_at = arrived + fake.latency_s
        route = self.path.split("?", 1)[0].rstrip("/")
        if fault is not None:
            kind, message = fault
            self._send_fault(kind, message, body if isinstance(body, dict) else {}, route)
        elif method == "POST" and route.endswith("/chat/completions"):
            if not isinstance(body, dict) or "messages" not in body:
                self._send_error(400, "body must be a chat-completions request", "bad_request")
                return
            self._send_completion(body, fake._reply_for(body))
        elif method == "GET" and route.endswith("/models"):
            self._send_json(200, {"data": fake._models_snapshot()})
        else:
            self._send_error(404, f"no route {self.path}", "not_found")

    # -- writing ------------------------------------------------------------------------

    def _send_bytes(
        self,
        status: int,
        data: bytes,
        headers: dict[str, str] | None = None,
        *,
        encoded: bool = False,
    ) -> None:
        """Send ``data`` (already gzip-encoded if ``encoded``), compressed and in chunks
        as the server's ``gzip`` and ``chunked`` settings say."""
        fake = self.server.fake
        sent = {"Content-Type": "application/json", **(headers or {})}
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if encoded or (fake.gzip and accepts):
            data = data if encoded else gzip.compress(data)
            sent["Content-Encoding"] = "gzip"
        if fake.chunked:
            sent["Transfer-Encoding"] = "chunked"
        else:
            sent["Content-Length"] = str(len(data))
        self._await_latency()
        self.send_response(status)
        for key, value in sent.items():
            self.send_header(key, value)
        self.end_headers()
        if fake.chunked:
            step = max(1, len(data) // 3)  # three chunks or so, each its own write
            for start in range(0, len(data), step):
                piece = data[start : start + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(data)
        self.wfile.flush()
        fake._record_reply({"status": status, "headers": sent, "size": len(data)})

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), headers)

    def _send_error(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        error = {"message": message, "type": "fake_error", "code": code, "param": None}
        self._send_json(status, {"error": error}, headers)

    def _send_completion(self, request: dict[str, Any], reply: dict[str, Any]) -> None:
        content = str(reply.get("content", ""))
        prompt = json.dumps(request.get("messages", []))
        usage: Any = reply.get("usage", True)
        if usage is True:
            usage = {
                "prompt_tokens": estimate_tokens(prompt),
                "completion_tokens": estimate_tokens(content),
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            cache = self.server.fake.prefix_cache
            if cache is not None:
                cached = cache.cached_tokens(str(request.get("model", "")), prompt)
                usage["prompt_tokens_details"] = {"cached_tokens": cached}
        payload: dict[str, Any] = {
            "id": f"chatcmpl-fake-{self.server.fake.request_count}",
            "object": "chat.completion",
            "created": 0,
            "model": str(request.get("model", "")),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": reply.get("finish_reason", "stop"),
                }
            ],
        }
        if usage:
            payload["usage"] = usage
        self._send_json(200, payload)

    def _send_fault(
        self, kind: str, message: str | None, request: dict[str, Any], route: str
    ) -> None:
        fake = self.server.fake
        if kind == "429":
            text = message or "Rate limit reached."
            self._send_error(429, text, "rate_limited", {"Retry-After": "0"})
        elif kind == "malformed":
            self._send_bytes(200, b'{"id": "chatcmpl-fake", "choices": [{"mess')
        elif kind == "truncated" and route.endswith("/chat/completions"):
            # Cut the reply the request would have had mid-JSON, without consuming a
            # scripted one: the retry that follows should get that.
            full = fake._synthetic_reply(request)
            cut = full[: max(1, len(full) // 2)]
            self._send_completion(request, {"content": cut, "finish_reason": "length"})
        elif kind == "truncated":
            self._send_bytes(200, b'{"data": [')
        elif kind == "stall":
            fake._stopping.wait(fake.stall_s)
            self._send_error(504, "stalled", "stalled")
        elif kind == "reject_response_format":
            text = message or "This model does not support response_format of type json_schema."
            self._send_error(400, text, "unsupported_parameter")
        elif kind == "redirect":
            # 307 keeps the method and body; to ``message``, else this path under /moved
            location = message or "/moved" + self.path
            self._send_error(307, "moved", "redirect", {"Location": location})
        elif kind == "bad_gzip":
            # says gzip, is not: the client cannot decode the body
            self._send_bytes(200, b"\x1f\x8b not gzip at all", encoded=True)
        elif kind == "connection":
            # Hang up without a status line: the client sees a dropped connection.
            self._await_latency()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif kind.isdigit() and len(kind) == 3:
            self._send_error(int(kind), message or f"fake HTTP {kind}", f"http_{kind}")
        else:
            self._send_error(500, f"unknown fault kind {kind!r}", "server_error")


class FakeLLMServer:
    """A threaded chat-completions server on 127.0.0.1 (see the module docstring).

    Args:
        latency_s: seconds from a request's arrival to its answer (the fake's work inside).
        responder: ``request_json -> reply`` (text or a script dict; ``None`` falls through).
        schema_mode: answer ``response_format: json_schema`` with an instance of it.
        include_usage: send a ``usage`` block (a scripted reply may override it).
        api_key: if set, any other bearer key gets a 401.
        stall_s: how long a ``"stall"`` fault holds the request (close() ends it).
        models: the ``GET /models`` list (OpenRouter shape, prices per token).
        port: 0 picks a free port.
        tls: a server-side SSL context: serve HTTPS (``base_url`` says ``https``).
        gzip: compress replies for clients that send ``Accept-Encoding: gzip``.
        chunked: send replies with ``Transfer-Encoding: chunked``, in several chunks.
        prefix_cache: emulate a provider's prompt cache (a :class:`PrefixCache`, or True
            for OpenAI's rules: 1,024 tokens at least, in blocks of 128): generated usage
            then says ``prompt_tokens_details.cached_tokens``.
    """

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        responder: Responder | None = None,
        schema_mode: bool = True,
        include_usage: bool = True,
        api_key: str | None = None,
        stall_s: float = 30.0,
        models: list[dict[str, Any]] | None = None,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        gzip: bool = False,
        chunked: bool = False,
        prefix_cache: PrefixCache | bool = False,
    ) -> None:
        self.latency_s = latency_s
        self.responder = responder
        self.schema_mode = schema_mode
        self.include_usage = include_usage
        self.api_key = api_key
        self.stall_s = stall_s
        self.tls = tls
        self.gzip = gzip
        self.chunked = chunked
        self.prefix_cache: PrefixCache | None = (
            PrefixCache() if prefix_cache is True else prefix_cache or None
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._models = copy.deepcopy(DEFAULT_MODELS if models is None else models)
        self._requests: list[dict[str, Any]] = []
        self._replies: list[dict[str, Any]] = []
        self._faults: deque[tuple[str, str | None]] = deque()
        self._script: deque[dict[str, Any]] = deque()
        self._script_by_model: dict[str, deque[dict[str, Any]]] = {}
        self._connections: set[socket.socket] = set()
        self._accepted = 0
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, release stalled requests, drop open connections, join threads."""
        httpd = self._httpd
        if httpd is None:
            return
        self._httpd = None
        self._stopping.set()
        httpd.shutdown()
        # Keep-alive handlers block reading the next request; hanging up ends them.
        self.drop_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    # -- controls ------------------------------------------------------------------------

    def script(self, *replies: str | dict[str, Any], model: str | None = None) -> None:
        """Queue replies, for one model or for any. A reply is its text or a dict with
        ``content``, optional ``finish_reason`` and ``usage`` (a dict, or false for none).
        """
        queued = [_as_reply(r) for r in replies]
        with self._lock:
            if model is None:
                self._script.extend(queued)
            else:
                self._script_by_model.setdefault(model, deque()).extend(queued)

    def fail_next(self, n: int = 1, kind: str = "500", *, message: str | None = None) -> None:
        """Make the next ``n`` requests fail as ``kind`` (see ``FAULT_KINDS``, or any
        three-digit status). ``message`` replaces the error body's message."""
        if kind not in FAULT_KINDS and not (kind.isdigit() and len(kind) == 3):
            raise ValueError(f"unknown fault kind {kind!r}; choose from {FAULT_KINDS}")
        with self._lock:
            self._faults.extend([(kind, message)] * n)

    def drop_connections(self) -> None:
        """Hang up every open connection, as a server does with idle keep-alive ones."""
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def set_models(self, models: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self._models = copy.deepcopy(list(models))

    def reset(self) -> None:
        """Forget recorded requests and drop queued faults and replies."""
        with self._lock:
            self._requests.clear()
            self._replies.clear()
            self._faults.clear()
            self._script.clear()
            self._script_by_model.clear()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every received request: method, path, json, headers (no authorization) and
        ``auth_fingerprint`` (see :func:`key_fingerprint`)."""
        with self._lock:
            return copy.deepcopy(self._requests)

    @property
    def replies(self) -> list[dict[str, Any]]:
        """How each reply went out: ``status``, ``headers`` (as sent, so with
        ``Content-Encoding`` / ``Transfer-Encoding`` when used) and ``size`` (bytes of
        body, compressed)."""
        with self._lock:
            return copy.deepcopy(self._replies)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._accepted

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # -- used by the handler threads -----------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self._accepted += 1
            else:
                self._connections.discard(conn)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def _record_reply(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._replies.append(entry)

    def _pop_fault(self) -> tuple[str, str | None] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _models_snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._models)

    def _reply_for(self, request: dict[str, Any]) -> dict[str, Any]:
        model = str(request.get("model", ""))
        with self._lock:
            queue = self._script_by_model.get(model)
            if queue:
                return self._with_usage(queue.popleft())
            if self._script:
                return self._with_usage(self._script.popleft())
        responder = self.responder
        if responder is not None:
            reply = responder(request)
            if reply is not None:
                return self._with_usage(_as_reply(reply))
        return self._with_usage({"content": self._synthetic_reply(request)})

    def _synthetic_reply(self, request: dict[str, Any]) -> str:
        response_format = request.get("response_format") or {}
        if self.schema_mode and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema") or {}
            schema = spec.get("schema") or {}
            return json.dumps(instance_of(schema, name=str(spec.get("name", "value"))))
        return json.dumps(DEFAULT_DECISION)

    def _with_usage(self, reply: dict[str, Any]) -> dict[str, Any]:
        if "usage" not in reply and not self.include_usage:
            return {**reply, "usage": False}
        return reply


def _as_reply(reply: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(reply, str):
        return {"content": reply}
    if "content" not in reply:
        raise ValueError("a scripted reply needs 'content'")
    return dict(reply)


# -- as a process ----------------------------------------------------------------------


def _load_script(srv: FakeLLMServer, path: Path) -> None:
    data = json.loads(path.read_text())
    if isinstance(data, list):
        srv.script(*data)
        return
    srv.script(*data.get("replies", []))
    for model, replies in data.get("models", {}).items():
        srv.script(*replies, model=model)
    for kind, n in data.get("faults", []):
        srv.fail_next(int(n), str(kind))
    if "latency_s" in data:
        srv.latency_s = float(data["latency_s"])


@contextlib.contextmanager
def fake_process(latency_s: float = 0.0) -> Iterator[str]:
    """Run the fake as its own process (``python -m tests.fakellm``); yield its base URL."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakellm", "--port", "0", "--latency", str(latency_s)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if line[:1] != ["PORT"]:
            raise RuntimeError(f"the fake LLM server did not start: {line}")
        yield f"http://127.0.0.1:{line[1]}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakellm", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--script", type=Path, help="JSON file of replies and faults")
    parser.add_argument(
        "--prefix-cache", action="store_true", help="report cached prompt tokens as OpenAI does"
    )
    args = parser.parse_args(argv)
    done = threading.Event()
    srv = FakeLLMServer(latency_s=args.latency, port=args.port, prefix_cache=args.prefix_cache)
    if args.script is not None:
        _load_script(srv, args.script)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with srv:
        print(f"PORT {srv.port}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
