"""The production halves as separate processes for the fault tests: gunicorn web, flask worker, a carrier fake.

`make web` and `make worker` run exactly these commands after `make install`; the tests
start them with the shared interpreter so they need no second virtualenv. Each test gets
its own topology prefix and PostgreSQL database, so tests on the shared broker never meet.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import requests

from core.effects import status_label
from tests.carrier_flow import CARRIER_ENV
from tests.conftest import GENERIC_SECRET, sign_generic, unique_event, wait_for

ROOT = Path(__file__).resolve().parents[2]
OPS_TOKEN = "fault-test-ops-token-0123456789"


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class CarrierFake:
    """MyDHL's `POST /shipments` on 127.0.0.1: counts every request by Message-Reference (one per case).

    `fail_first` answers 503 to that many requests before recovering; `delay` holds each
    answer, so a batch is still in flight when a test kills the worker.
    """

    delay: float = 0.0
    fail_first: int = 0
    requests: Counter = field(default_factory=Counter)  # Message-Reference -> requests received
    booked: Counter = field(default_factory=Counter)  # Message-Reference -> labels issued (201 answers)
    failed: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                reference = self.headers.get("Message-Reference", "")
                with fake._lock:
                    fake.requests[reference] += 1
                    failing = fake.failed < fake.fail_first
                    if failing:
                        fake.failed += 1
                if fake.delay:
                    time.sleep(fake.delay)
                if failing:
                    self._answer(503, {"status": 503, "title": "Service Unavailable", "detail": "try later"})
                    return
                with fake._lock:
                    fake.booked[reference] += 1
                    number = sum(fake.booked.values())
                self._answer(
                    201,
                    {
                        "shipmentTrackingNumber": f"{1000000000 + number}",
                        "dispatchConfirmationNumber": f"PRG{number:06d}",
                        "documents": [{"typeCode": "label", "content": "JVBERi0xLjQK"}],
                    },
                )

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a worker killed mid-call
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def twice(self) -> dict[str, int]:
        """References that got more than one label: each one is a return booked twice."""
        return {ref: n for ref, n in self.booked.items() if n > 1}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Stack:
    """`make web` + `make worker` against RabbitMQ and a fresh PostgreSQL database."""

    def __init__(self, broker_url: str, database_url: str, carrier: CarrierFake, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        (log_dir / "prometheus").mkdir(exist_ok=True)
        self.prefix = f"f{uuid.uuid4().hex[:8]}"
        self.database_url = database_url
        self.carrier = carrier
        self.log_dir = log_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RB_")},
            "RB_DATABASE_URL": database_url,
            "RB_BROKER_URL": broker_url,
            "RB_TOPOLOGY_PREFIX": self.prefix,
            "RB_PORT": str(self.port),
            "RB_GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
            "RB_OPS_TOKEN": OPS_TOKEN,
            "RB_DHL_EXPRESS_BASE_URL": carrier.url,
            "RB_DHL_EXPRESS_API_KEY": "fault-key",
            "RB_DHL_EXPRESS_API_SECRET": "fault-secret",
            "RB_DHL_EXPRESS_ACCOUNT": "123456789",
            # The merchant's returns address, with the phone DHL requires of a receiver (MyDHL 3.1.1).
            **{k: v for k, v in CARRIER_ENV.items() if k.startswith("RB_RETURNS_ADDRESS_")},
            "RB_RETRY_DELAYS": "1,1,2",
            "RB_RELAY_INTERVAL_SECONDS": "0.1",
            "RB_PREFETCH": "10",
            "RB_WEB_WORKERS": "2",
            "RB_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(log_dir / "prometheus"),
            **env,
        }
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.accepted: list[str] = []  # event ids answered 202
        self.statuses: Counter = Counter()
        self._lock = threading.Lock()
        self.session = requests.Session()

    # processes -----------------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("ab")
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def migrate(self) -> None:
        """`make web`'s first step: the schema, once, before any process serves."""
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "migrate"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True, timeout=120)  # fmt: skip

    def start_web(self) -> None:
        """`make web` after its migration: gunicorn with the project's config."""
        self.web = self._spawn(
            "web",
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:create_app(migrate=False)"],
            self.env,
        )

    def wait_web(self) -> None:
        assert wait_for(self._web_up, timeout=60, step=0.2), f"web did not start; see {self.log_dir}/web.log"

    def _web_up(self) -> bool:
        with contextlib.suppress(requests.RequestException):
            return self.session.get(f"{self.url}/healthz", timeout=1).status_code == 200
        return False

    def start_worker(self) -> None:
        """`make worker`; its database connections are named so a test can cut exactly them."""
        env = {**self.env, "RB_DATABASE_URL": self.database_url + "?application_name=rb-worker"}
        self.worker = self._spawn("worker", [sys.executable, "-m", "flask", "--app", "wsgi", "worker"], env)

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)

    def terminate_worker(self, timeout: float = 30) -> float:
        """SIGTERM; returns how long the worker took to stop."""
        assert self.worker is not None
        started = time.monotonic()
        self.worker.send_signal(signal.SIGTERM)
        self.worker.wait(timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM to both at once (each stops cleanly on its own), then wait; kill what hangs."""
        self.session.close()  # gunicorn waits for open keep-alive connections before it stops
        running = [p for p in (self.worker, self.web) if p is not None and p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # traffic ---------------------------------------------------------------------------------------
    def post(self, event: dict[str, Any], msg_id: str | None = None) -> requests.Response:
        body = json.dumps(event).encode()
        response = self.session.post(f"{self.url}/webhooks/generic", data=body, headers=sign_generic(body, msg_id),
                                     timeout=15)  # fmt: skip
        with self._lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 202:
                self.accepted.append(response.json()["event_id"])
        return response

    def post_return(self, n: str, approve: bool = True) -> str:
        """A return requested, then approved (which books one DHL label); returns the case id."""
        requested = self.post(unique_event("return.requested", n=n))
        assert requested.status_code == 202, requested.text
        if approve:
            approved = {
                "type": "return.approved",
                "marketplace_event_id": f"evt-approve-{n}",
                "occurred_at": "2026-11-10T11:00:00+01:00",
                "order": {"id": f"ORD-{n}"},
                "return": {"id": f"RMA-{n}"},
            }
            response = self.post(approved)
            assert response.status_code == 202, response.text
        return requested.json()["case_id"]

    def ops(self, path: str, method: str = "GET", **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}{path}", headers={"Authorization": f"Bearer {OPS_TOKEN}"},
                                    timeout=15, **kwargs)  # fmt: skip

    # what happened ---------------------------------------------------------------------------------
    def sql(self, query: str, *params: Any) -> list[tuple]:
        url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def unprocessed(self) -> set[str]:
        handled = {row[0] for row in self.sql("SELECT message_id FROM processed_messages WHERE consumer = 'cases'")}
        return set(self.accepted) - handled

    def shipments(self) -> Counter:
        """Carrier bookings by status as the case shows them (core.effects.status_label)."""
        rows = self.sql("SELECT state FROM outbound_effects WHERE kind = 'carrier_booking'")
        return Counter(status_label("carrier_booking", row[0]) for row in rows)

    def repeated_notices(self) -> list[tuple]:
        return self.sql("SELECT case_id, kind, count(*) FROM case_notices GROUP BY case_id, kind HAVING count(*) > 1")

    def worker_log_count(self, word: str) -> int:
        path = self.log_dir / "worker.log"
        return path.read_text(errors="replace").count(word) if path.exists() else 0

    def notice_count(self) -> int:
        return self.sql("SELECT count(*) FROM case_notices")[0][0]

    def settled(self, cases: int) -> bool:
        """Every accepted event handled and every approved case's label in a final state."""
        final = sum(n for status, n in self.shipments().items() if status in ("booked", "unknown", "rejected"))
        return not self.unprocessed() and final >= cases

    def report(self, title: str, cases: int) -> dict[str, Any]:
        """Counts printed by every fault test (visible with `pytest -s` and in CI's log)."""
        figures = {
            "webhooks": dict(self.statuses),
            "accepted events": len(self.accepted),
            "unprocessed events": len(self.unprocessed()),
            "approved cases": cases,
            "deferred (out of order)": self.worker_log_count("deferred"),
            "shipments": dict(self.shipments()),
            "carrier requests": sum(self.carrier.requests.values()),
            "labels issued": sum(self.carrier.booked.values()),
            "labels issued twice": self.carrier.twice(),
            "notices": self.notice_count(),
            "notices repeated": len(self.repeated_notices()),
        }
        print(f"\n[fault] {title}: " + json.dumps(figures, sort_keys=False))
        return figures


def delete_queues(broker_url: str, prefix: str, names: list[str]) -> None:
    """Remove a test's queues and exchanges from the shared broker, by the names `/ops/queues` gave."""
    import pika

    from queues.inspection import pika_parameters

    with contextlib.closing(pika.BlockingConnection(pika_parameters(broker_url))) as connection:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(name)
        for suffix in ("events", "commands", "dlx"):
            channel.exchange_delete(f"{prefix}.{suffix}")


@contextlib.contextmanager
def running_stack(broker_url: str, database_url: str, carrier: CarrierFake, log_dir: Path, start_worker: bool = True,
                  **env: str) -> Iterator[Stack]:  # fmt: skip
    stack = Stack(broker_url, database_url, carrier, log_dir, **env)
    names: list[str] = []
    try:
        stack.migrate()
        stack.start_web()
        if start_worker:
            stack.start_worker()
        stack.wait_web()
        yield stack
    finally:
        with contextlib.suppress(Exception):
            names = [q["name"] for q in stack.ops("/ops/queues").json()["queues"]]
        stack.stop()
        carrier.close()
        with contextlib.suppress(Exception):
            delete_queues(broker_url, stack.prefix, names)
