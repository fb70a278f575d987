"""A Hugging Face Hub stand-in on 127.0.0.1: local directories served as dataset repos,
through the few API routes that huggingface_hub's HfFileSystem reads with (repo info, tree
listing, paths info, file contents with ranges). For offline tests of hf:// pools only."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

SHA = "0" * 40  # every repo's only revision


class FakeHub:
    """Serves ``root/<org>/<name>/...`` as the dataset repo ``<org>/<name>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        root = self.root

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._route(body=False)

            def do_GET(self) -> None:
                self._route(body=True)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                parts = _split(urlparse(self.path).path)
                if parts[:2] == ["api", "datasets"] and parts[4] == "paths-info":
                    repo = root / parts[2] / parts[3]
                    found = [_entry(repo, p) for p in form.get("paths", []) if (repo / p).exists()]
                    self._json(found)
                else:
                    self.send_error(404)

            def _route(self, body: bool) -> None:
                url = urlparse(self.path)
                parts = _split(url.path)
                if parts[:2] == ["api", "datasets"] and len(parts) >= 4:
                    repo = root / parts[2] / parts[3]
                    if not repo.is_dir():
                        return self.send_error(404, "Repository not found")
                    if len(parts) in (4, 6) and (len(parts) == 4 or parts[4] == "revision"):
                        files = sorted(p for p in repo.rglob("*") if p.is_file())
                        siblings = [{"rfilename": str(p.relative_to(repo))} for p in files]
                        info = {"id": f"{parts[2]}/{parts[3]}", "sha": SHA, "siblings": siblings}
                        return self._json(info)
                    if parts[4] == "tree":
                        below = repo.joinpath(*parts[6:])
                        recursive = parse_qs(url.query).get("recursive") == ["true"]
                        children = below.rglob("*") if recursive else below.iterdir()
                        return self._json([_entry(repo, p) for p in sorted(children)])
                if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
                    path = root / parts[1] / parts[2] / Path(*parts[5:])
                    if not path.is_file():
                        return self.send_error(404, "Entry not found")
                    return self._file(path.read_bytes(), body)
                self.send_error(404)

            def _file(self, data: bytes, body: bool) -> None:
                start, end = 0, len(data) - 1
                wanted = self.headers.get("range")
                if wanted:
                    first, _, last = wanted.removeprefix("bytes=").partition("-")
                    start, end = int(first), min(int(last) if last else end, end)
                self.send_response(206 if wanted else 200)
                self.send_header("content-length", str(end - start + 1))
                self.send_header("accept-ranges", "bytes")
                self.send_header("etag", f'"{hashlib.sha1(data).hexdigest()}"')
                self.send_header("x-repo-commit", SHA)
                self.end_headers()
                if body:
                    self.wfile.write(data[start : end + 1])

            def _json(self, value) -> None:
                data = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _split(path: str) -> list[str]:
    return [unquote(p) for p in path.split("/") if p]


def _entry(repo: Path, path: Path | str) -> dict:
    path = repo / path
    relative = str(path.relative_to(repo))
    if path.is_dir():
        return {"type": "directory", "oid": SHA, "path": relative}
    data = path.read_bytes()
    return {
        "type": "file",
        "oid": hashlib.sha1(data).hexdigest(),
        "size": len(data),
        "path": relative,
    }
