"""A body sent chunked (no Content-Length) over RB_MAX_BODY_BYTES is a 413 on every route, as a sized one is;
before, the route saw a silently truncated body and answered 400 or 401. Driven through `make run`'s server."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import OPS_TOKEN, make_settings, sign_generic, unique_event

LIMIT = 2048


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    from wsgi import create_app

    app = create_app(make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_MAX_BODY_BYTES=str(LIMIT)))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    app.extensions["returnbridge"].close()


def post_chunked(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", path)
    for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
        connection.putheader(name, value)
    connection.endheaders()
    for start in range(0, len(body), 1000):
        part = body[start : start + 1000]
        connection.send(b"%x\r\n%s\r\n" % (len(part), part))
    connection.send(b"0\r\n\r\n")
    answer = connection.getresponse()
    status, data = answer.status, json.loads(answer.read() or b"{}")
    connection.close()
    return status, data


@pytest.mark.parametrize(
    "path",
    ["/webhooks/generic", "/webhooks/shopify", "/carriers/fedex/tracking", "/policy/evaluate",
     "/ops/dead-letters/cases/replay", "/returns/case_x/commands/approve"],
)  # fmt: skip
def test_a_chunked_body_over_the_limit_is_413_on_every_route(port: int, path: str) -> None:
    big = json.dumps({**unique_event(), "padding": "x" * (LIMIT * 4)}).encode()
    headers = {**sign_generic(big), "Content-Type": "application/json", "Authorization": f"Bearer {OPS_TOKEN}"}
    status, body = post_chunked(port, path, big, headers)
    assert (status, body["error"]["code"]) == (413, "too_large")


def test_a_chunked_body_under_the_limit_is_read_whole(port: int) -> None:
    small = json.dumps(unique_event()).encode()
    assert len(small) < LIMIT
    status, body = post_chunked(
        port, "/webhooks/generic", small, {**sign_generic(small), "Content-Type": "application/json"}
    )
    assert status == 202 and body["case_id"]
