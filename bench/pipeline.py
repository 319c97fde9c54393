"""End to end as the issue counts it: `make web` plus `make worker` processes, buyer notices to a local webhook.

One gunicorn (`make web`'s config) on RabbitMQ and a fresh PostgreSQL database, the
notifier webhook (`RB_NOTIFY_WEBHOOK_URL`) pointed at an HTTP server in this process
that counts the signed notices it receives. An event is done when its case left `new`
(the worker applied `return.requested`) and each of its buyer notices reached that
server. The same server's `/healthz` capacity, measured in the same run, is the floor.

The run posts a batch with one worker process, then starts a second and posts another
batch of the same size: the two rates show what adding a worker adds.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import create_engine, func, select

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
from bench.load import LoadResult, closed_loop

NOTIFY_SECRET = "whsec_YmVuY2gtbm90aWZ5LWtleS0wMTIzNDU2Nzg5YWJjZGVm"


@dataclass
class Stage:
    workers: int
    events: int
    seconds: float
    done: int

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


@dataclass
class PipelineFigures:
    healthz: LoadResult
    notices_per_event: float
    stages: list[Stage]

    @property
    def two_workers(self) -> Stage:
        return self.stages[-1]

    @property
    def ratio(self) -> float:
        return self.two_workers.per_second / self.healthz.throughput

    @property
    def scaling(self) -> float:
        return self.stages[-1].per_second / self.stages[0].per_second if self.stages[0].per_second else 0.0


class NoticeSink:
    """The buyer-notice provider: answers 200 to each signed POST and counts them (ids kept, repeats visible)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.posts = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as HTTP servers do on kept-alive connections (nginx tcp_nodelay)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.posts += 1
                    sink.ids.add(self.headers.get("webhook-id", ""))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notices"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def delivered(self) -> int:
        with self._lock:
            return len(self.ids)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _settle(progress, previous: tuple[int, int] | None = None, quiet: float = 2.0, limit: float = 120.0):  # type: ignore[no-untyped-def]
    """Wait until the counts stop moving for `quiet` seconds (or `limit`); returns the last counts."""
    last, since = progress(), time.monotonic()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = progress()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def end_to_end(count: int, logs: Path, threads: int = 8, seconds: float = 5.0) -> PipelineFigures:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:8]
    sink = NoticeSink()
    workers = []
    with postgres_database("e2e") as database_url:
        port = free_port()
        env = base_env(RB_PORT=str(port), RB_DATABASE_URL=database_url, RB_BROKER_URL=BROKER_URL,
                       RB_TOPOLOGY_PREFIX=prefix, RB_NOTIFY_WEBHOOK_URL=sink.url,
                       RB_NOTIFY_WEBHOOK_SECRET=NOTIFY_SECRET)  # fmt: skip
        start_process("migrate", flask_cmd("migrate"), env, None, logs / "e2e-migrate.log").process.wait(120)
        web = start_process("gunicorn", gunicorn_cmd(), env, port, logs / "e2e-gunicorn.log")
        engine = create_engine(database_url)
        from adapters.storage.models import CaseRow

        def progress() -> tuple[int, int]:
            """(cases the worker applied `return.requested` to, distinct notices the sink received)."""
            with engine.connect() as connection:
                applied = connection.scalar(select(func.count()).where(CaseRow.state != "new")) or 0
            return applied, sink.delivered

        def post(events: int, tag: str) -> None:
            batch = [signed_post(fresh_event(n, run + tag)) for n in range(events)]
            result = closed_loop(port, lambda n: ("POST", "/webhooks/generic", *batch[n]), threads, 600, events)
            if len(result.latencies) != events:
                raise RuntimeError(f"only {len(result.latencies)}/{events} webhooks accepted: {result.statuses}")

        try:
            workers.append(start_process("worker-1", flask_cmd("worker"), env, None, logs / "e2e-worker-1.log"))
            closed_loop(port, lambda n: ("GET", "/healthz", None, {}), 2, 1.0, 50)
            healthz = closed_loop(port, lambda n: ("GET", "/healthz", None, {}), threads, seconds, int(seconds * 5000))
            warm = 20
            post(warm, "w")
            applied, delivered = _settle(progress)
            if applied < warm or delivered == 0:
                raise RuntimeError(f"warm-up: {applied}/{warm} cases applied, {delivered} notices delivered")
            per_event = delivered / warm
            stages: list[Stage] = []
            for n_workers in (1, 2):
                if n_workers == 2:
                    workers.append(start_process("worker-2", flask_cmd("worker"), env, None, logs / "e2e-worker-2.log"))
                    time.sleep(3)  # its consumers subscribed before the batch starts
                base_applied, base_delivered = progress()
                target = (base_applied + count, base_delivered + round(count * per_event))
                started = time.perf_counter()
                post(count, f"s{n_workers}")
                deadline = time.monotonic() + 300
                now = progress()
                while (now[0] < target[0] or now[1] < target[1]) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    now = progress()
                elapsed = time.perf_counter() - started
                done = min(now[0] - base_applied, int((now[1] - base_delivered) / per_event))
                stages.append(Stage(n_workers, count, elapsed, done))
            if sink.posts != sink.delivered:
                raise RuntimeError(f"a notice was posted twice: {sink.posts} posts, {sink.delivered} distinct ids")
            return PipelineFigures(healthz, per_event, stages)
        finally:
            web.stop()
            for worker in workers:
                worker.stop()
            engine.dispose()
            sink.close()
            delete_topology(prefix)


if __name__ == "__main__":  # python -m bench.pipeline [count]: this part alone, as JSON
    import sys
    import tempfile

    figures = end_to_end(int(sys.argv[1]) if len(sys.argv) > 1 else 300, Path(tempfile.mkdtemp()))
    print(json.dumps({"healthz": figures.healthz.throughput, "notices_per_event": figures.notices_per_event,
                      "stages": [s.__dict__ | {"per_second": s.per_second} for s in figures.stages]}))  # fmt: skip
