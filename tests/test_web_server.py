"""`make web` (gunicorn with config/gunicorn.conf.py) attacked on the loopback: slowloris, tokens in access logs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.slowloris import run as slowloris
from tests.conftest import GENERIC_SECRET, delete_topology, server_answers

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "web-server-test-token-0123456789"
pytestmark = pytest.mark.rabbitmq


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web(tmp_path: Path, rabbit_url: str) -> Iterator[tuple[int, Path]]:
    """gunicorn as `make web` runs it, on a port of its own, its access log in a file."""
    port, prefix, log = free_port(), f"t{uuid.uuid4().hex[:8]}", tmp_path / "gunicorn.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RB_")}, "RB_PORT": str(port),
           "RB_DATABASE_URL": f"sqlite:///{tmp_path}/web.db", "RB_BROKER_URL": rabbit_url,
           "RB_TOPOLOGY_PREFIX": prefix, "RB_OPS_TOKEN": TOKEN, "RB_GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
           "RB_LOG_LEVEL": "WARNING", "RB_WEB_WORKERS": "1", "RB_WEB_HEADER_TIMEOUT_SECONDS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}  # fmt: skip
    python = str(Path(sys.executable))
    subprocess.run([python, "-m", "flask", "--app", "wsgi", "migrate"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            [python, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:create_app(migrate=False)"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not server_answers(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server_answers(port), log.read_text()
        time.sleep(1)
        yield port, log
    finally:
        server.terminate()
        server.wait(20)
        delete_topology(rabbit_url, prefix)


def test_slow_clients_neither_starve_the_health_check_nor_stay_forever(web) -> None:  # type: ignore[no-untyped-def]
    port, _ = web
    # 100 clients dripping a header line every second: the attack that silenced /healthz with 24 under gthread.
    result = slowloris("127.0.0.1", port, connections=100, seconds=6, drip=1.0)
    assert result.answered == result.health_checks, result
    assert result.worst_ms is not None and result.worst_ms < 1000, result
    assert result.closed_by_server == 100, "a client that never finishes its headers must be dropped"


def test_the_access_log_keeps_the_client_address_and_loses_tokens(web) -> None:  # type: ignore[no-untyped-def]
    port, log = web
    for path in (f"/ops?token={TOKEN}", f"/returns?access_token={TOKEN}", "/returns?email=anna@example.com"):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as refused:
            assert refused.code == 401
    time.sleep(0.5)
    lines = [line for line in log.read_text().splitlines() if '"GET /ops' in line or '"GET /returns' in line]
    assert len(lines) == 3, log.read_text()
    assert all(line.startswith("127.0.0.1 ") for line in lines), lines
    text = "\n".join(lines)
    assert TOKEN not in text and "anna@example.com" not in text


def test_gunicorn_answers_a_chunked_body_over_the_limit_with_413(web) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.conftest import sign_generic, unique_event
    from tests.test_body_limits import post_chunked

    port, _ = web
    big = json.dumps({**unique_event(), "padding": "x" * 2_000_000}).encode()  # over the default 1 MiB
    status, body = post_chunked(
        port, "/webhooks/generic", big, {**sign_generic(big), "Content-Type": "application/json"}
    )
    assert (status, body["error"]["code"]) == (413, "too_large")
