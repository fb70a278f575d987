"""An S3 endpoint on 127.0.0.1 (moto's S3 behind werkzeug) that keeps the total bytes of its
GET responses in a file: what a job fetched is the difference before and after it.

    python -m tests.s3_endpoint PORT COUNTER_FILE     (from the repository's root)

Clients reach it with AWS_ENDPOINT_URL=http://127.0.0.1:PORT and any credentials; bucket
names need at least 3 characters. The benchmarks start it this way; it needs moto[server].
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class CountingGets:
    """WSGI middleware: adds up the bytes of every GET response body."""

    def __init__(self, app: WsgiApp, counter: Path) -> None:
        self.app, self.counter, self.total = app, counter, 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "GET":
            return body
        chunks = list(body)
        with self.lock:
            self.total += sum(len(c) for c in chunks)
            self.counter.write_text(str(self.total))
        return chunks


def s3_app() -> Any:
    """moto's S3 (and every other service it serves), as a WSGI application."""
    return DomainDispatcherApplication(create_backend_app)


def main() -> None:
    port, counter = int(sys.argv[1]), Path(sys.argv[2])
    make_server("127.0.0.1", port, CountingGets(s3_app(), counter), threaded=True).serve_forever()


if __name__ == "__main__":
    main()
