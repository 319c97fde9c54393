"""HTTP: signed webhook acceptance against the same server's `/healthz`, under gunicorn and embedded.

Capacity is closed-loop (`threads` clients back to back); latency is open-loop at a
fixed offered load (200 requests a second by default). Every webhook request carries a
fresh event (a new case), signed beforehand so the client's signing is not timed.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    BROKER_URL,
    base_env,
    delete_topology,
    flask_cmd,
    free_port,
    fresh_event,
    gunicorn_cmd,
    postgres_database,
    signed_post,
    start_process,
)
from bench.load import LoadResult, Request, closed_loop, open_loop

HEALTHZ: Request = ("GET", "/healthz", None, {})


@dataclass
class HttpFigures:
    target: str
    healthz_capacity: LoadResult
    webhook_capacity: LoadResult
    healthz_fixed: LoadResult
    webhook_fixed: LoadResult
    rate: float

    @property
    def capacity_ratio(self) -> float:
        return self.webhook_capacity.throughput / self.healthz_capacity.throughput


def _signed_requests(count: int, run: str) -> list[Request]:
    requests: list[Request] = []
    for n in range(count):
        body, headers = signed_post(fresh_event(n, run))
        requests.append(("POST", "/webhooks/generic", body, headers))
    return requests


def measure(port: int, target: str, seconds: float, rate: float, threads: int) -> HttpFigures:
    run = uuid.uuid4().hex[:8]
    limit = int(seconds * 2000)
    capacity_posts = _signed_requests(limit, run + "c")
    fixed_posts = _signed_requests(int(rate * seconds), run + "f")
    # warm both routes (imports, connections, first-use caches) before timing
    closed_loop(port, lambda n: HEALTHZ, 2, 1.0, 50)
    warm = _signed_requests(20, run + "w")
    closed_loop(port, lambda n: warm[n], 2, 5.0, 20)
    healthz_capacity = closed_loop(port, lambda n: HEALTHZ, threads, seconds, limit)
    webhook_capacity = closed_loop(port, lambda n: capacity_posts[n], threads, seconds, limit)
    healthz_fixed = open_loop(port, lambda n: HEALTHZ, rate, seconds)
    webhook_fixed = open_loop(port, lambda n: fixed_posts[n], rate, seconds)
    return HttpFigures(target, healthz_capacity, webhook_capacity, healthz_fixed, webhook_fixed, rate)


def embedded(seconds: float, rate: float, threads: int, logs: Path) -> HttpFigures:
    """`flask --app wsgi serve`: werkzeug's threaded server, SQLite, in-process broker and consumers."""
    with tempfile.TemporaryDirectory(prefix="rb-bench-") as scratch:
        port = free_port()
        env = base_env(RB_PORT=str(port), RB_DATABASE_URL=f"sqlite:///{scratch}/rb.db", RB_BROKER_URL="memory://")
        server = start_process("embedded", flask_cmd("serve"), env, port, logs / "embedded.log")
        try:
            return measure(port, "embedded (flask serve, SQLite, memory://)", seconds, rate, threads)
        finally:
            server.stop()


def gunicorn(seconds: float, rate: float, threads: int, logs: Path) -> HttpFigures:
    """`make web`'s gunicorn config against RabbitMQ and PostgreSQL (no worker: acceptance alone)."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    with postgres_database("http") as database_url:
        port = free_port()
        env = base_env(
            RB_PORT=str(port), RB_DATABASE_URL=database_url, RB_BROKER_URL=BROKER_URL, RB_TOPOLOGY_PREFIX=prefix
        )
        start_process("migrate", flask_cmd("migrate"), env, None, logs / "migrate.log").process.wait(120)
        server = start_process("gunicorn", gunicorn_cmd(), env, port, logs / "gunicorn.log")
        try:
            return measure(port, "gunicorn (make web, PostgreSQL, RabbitMQ)", seconds, rate, threads)
        finally:
            server.stop()
            delete_topology(prefix)
