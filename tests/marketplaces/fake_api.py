"""A marketplace API stand-in on 127.0.0.1: http.server in a thread, routes as plain functions, calls recorded.

A route that raises (a failed `assert` on the request it got) answers 500 and is recorded in `failures`,
so the test reports the failed check instead of a dropped connection; the `api` fixtures assert it is empty.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def json(self) -> Any:
        return json.loads(self.body)


Route = Callable[[Call], tuple[int, Any]]


@dataclass
class FakeApi:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                call = Call(
                    self.command,
                    parsed.path,
                    {k: v[0] for k, v in parse_qs(parsed.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                api.calls.append(call)
                route = api.routes.get((self.command, parsed.path))
                try:
                    status, body = route(call) if route else (404, {"error": f"no route {self.command} {parsed.path}"})
                except Exception:
                    failure = f"{self.command} {parsed.path}: {traceback.format_exc()}"
                    api.failures.append(failure)
                    status, body = 500, failure
                if isinstance(body, bytes):  # a binary download (a GZIP report document)
                    raw, kind = body, "application/octet-stream"
                elif isinstance(body, str):
                    raw, kind = body.encode(), "text/plain"
                else:
                    raw, kind = json.dumps(body).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, method: str, path: str) -> Callable[[Route], Route]:
        def register(fn: Route) -> Route:
            self.routes[(method, path)] = fn
            return fn

        return register

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
