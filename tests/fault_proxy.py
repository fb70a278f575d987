"""A proxy on 127.0.0.1 in front of an S3 endpoint (moto's server) that answers a seeded
share of requests with a fault, for reads and writes alike:

- ``503``: SlowDown, ``500``: InternalError (an S3 error document, nothing forwarded);
- ``close``: the connection closed before any answer (nothing forwarded);
- ``cut``: a GET forwarded, its headers sent with the full Content-Length, then half the
  body and the connection closed.

Whether a request is faulted depends on the seed, the request (method, path, query, range)
and how many times that same request was made before, not on timing: a retry is a new draw.
``always`` maps a path fragment to a fault every request for it gets (``403``, ``404``,
``503``, ``close``): a file that can never be read.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    "403": (403, "AccessDenied", "Access Denied"),
    "404": (404, "NoSuchKey", "The specified key does not exist."),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
TRANSIENT = ("503", "500", "close", "cut")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class FaultProxy:
    """Start with ``FaultProxy(upstream_port)``; ``endpoint_url`` is what clients use."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.share, self.seed = 0.0, 0
        self.always: dict[str, str] = {}
        self.attempts: Counter = Counter()
        self.injected: Counter = Counter()  # fault kind -> how many
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def configure(self, share: float, seed: int = 0, always: dict[str, str] | None = None) -> None:
        with self.lock:
            self.share, self.seed, self.always = share, seed, dict(always or {})
            self.attempts.clear()
            self.injected.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _fault(self, method: str, path: str, range_header: str) -> str | None:
        for fragment, kind in self.always.items():
            if fragment in path:
                return kind
        key = f"{method} {path} {range_header}"
        with self.lock:
            self.attempts[key] += 1
            attempt = self.attempts[key]
        digest = hashlib.sha256(f"{self.seed} {key} {attempt}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.share:
            return None
        kinds = TRANSIENT if method == "GET" else TRANSIENT[:3]
        return kinds[digest[8] % len(kinds)]

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        fault = self._fault(request.command, request.path, request.headers.get("Range", ""))
        if fault is not None:
            with self.lock:
                self.injected[fault] += 1
        if fault == "close":
            request.close_connection = True
            return
        if fault in ERRORS:
            self._error(request, *ERRORS[fault])
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            upstream.request(request.command, request.path, body, dict(request.headers))
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        request.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                request.send_header(name, value)
        if request.command != "HEAD" or "content-length" not in {
            n.lower() for n, _ in response.getheaders()
        }:
            request.send_header("Content-Length", str(len(payload)))
        else:
            request.send_header("Content-Length", response.getheader("Content-Length"))
        cut = fault == "cut" and len(payload) > 1
        if cut:
            request.send_header("Connection", "close")
            request.close_connection = True
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload[: len(payload) // 2] if cut else payload)

    @staticmethod
    def _error(request: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
        document = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>"
        ).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/xml")
        request.send_header(
            "Content-Length", str(0 if request.command == "HEAD" else len(document))
        )
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(document)
