"""What every benchmark needs: signed events, servers in subprocesses, scratch databases and topologies."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = b"bench-generic-key-0123456789abcdef"
BENCH_SECRET = "whsec_" + base64.b64encode(BENCH_KEY).decode()
BROKER_URL = os.environ.get("RB_BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_ADMIN = os.environ.get("RB_BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


# The contract's example, kept in the project (examples/): the bench reads nothing outside the repository.
TEMPLATE: dict[str, Any] = json.loads((ROOT / "examples" / "return-requested-de.json").read_text())


def fresh_event(n: int, run: str) -> dict[str, Any]:
    """The contract's `return.requested` example with ids of its own: each one opens a new case."""
    event = json.loads(json.dumps(TEMPLATE))
    event["type"] = "return.requested"
    event["marketplace_event_id"] = f"evt-bench-{run}-{n}"
    event["order"]["id"] = f"ORD-{run}-{n}"
    event["return"]["id"] = f"RMA-{run}-{n}"
    # Dated now, as a live webhook is: the example's November dates would put its deadlines in the past and
    # let the case timers move the cases on while they are counted.
    now = datetime.now(UTC)
    event["occurred_at"] = now.isoformat()
    event["order"]["placed_at"] = (now - timedelta(days=10)).isoformat()
    event["order"]["delivered_at"] = (now - timedelta(days=3)).isoformat()
    return event


def signed_post(event: dict[str, Any], webhook: Webhook | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and Standard Webhooks headers, signed with the library the generic route verifies with."""
    webhook = webhook or Webhook(BENCH_SECRET)
    body = json.dumps(event).encode()
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = time.time()
    signature = webhook.sign(msg_id, datetime.fromtimestamp(now, UTC), body.decode())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }
    return body, headers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def base_env(**extra: str) -> dict[str, str]:
    # RB_WEB_* (gunicorn workers, connections) pass through, so other server shapes can be measured.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RB_") or k.startswith("RB_WEB_")}
    env.update(
        {
            "RB_GENERIC_WEBHOOK_SECRET": BENCH_SECRET,
            "RB_LOG_LEVEL": "WARNING",
            "RB_HOST": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
            # Nothing leaves 127.0.0.1: the worker's exchange-rate refresh is refused at once (port 9, discard)
            # and keeps its stored rates, as it does offline.
            "RB_ECB_RATES_URL": "http://127.0.0.1:9/eurofxref-daily.xml",
            "RB_ECB_HISTORY_URL": "http://127.0.0.1:9/eurofxref-hist-90d.xml",
        }
    )
    env.update(extra)
    return env


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_process(name: str, argv: list[str], env: dict[str, str], port: int | None, log: Path) -> Server:
    """Start a server and wait until `/healthz` accepts connections (or the process dies)."""
    handle = log.open("wb")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    server = Server(name, port or 0, process)
    if port is None:
        return server
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
        if server_answers(port):
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} did not listen on {port} within 60 s; see {log}")


def flask_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def gunicorn_cmd() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:create_app(migrate=False)"]


@contextlib.contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A fresh PostgreSQL database of our own, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg

    name = f"rb_bench_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_topology(prefix: str) -> None:
    """Remove our exchanges and queues (names known from the topology) from the shared broker."""
    from kombu import Connection

    import adapters.customs  # noqa: F401 (registers the customs adapters)
    from adapters.carriers import CARRIERS
    from adapters.customs.base import CUSTOMS
    from adapters.notifiers import NOTIFIERS
    from queues.topology import QueueSpec, Topology

    topology = Topology(prefix)
    topology.add(QueueSpec("cases", "events", ("#",)))
    topology.add(QueueSpec("marketplace.details", "events", ("#",)))
    names = [f"carrier.{n}" for n, _ in CARRIERS] + [f"customs.{n}" for n, _ in CUSTOMS]
    names += (
        ["notify.buyer"] + [f"notify.{n}" for n, _ in NOTIFIERS] + [f"marketplace.{n}" for n in _marketplace_names()]
    )
    for name in names:
        topology.add(QueueSpec(name, "commands", (f"{name}.#",)))
    try:
        with Connection(BROKER_URL, connect_timeout=10) as connection:
            channel = connection.default_channel
            for queue in topology.all_queues():
                with contextlib.suppress(Exception):
                    channel.queue_delete(queue.name)
            for suffix in ("events", "commands", "dlx"):
                with contextlib.suppress(Exception):
                    channel.exchange_delete(f"{prefix}.{suffix}")
    except Exception as exc:  # a busy shared broker must not cost the figures already measured
        print(f"bench: could not delete the {prefix}.* queues ({exc}); delete them by hand", file=sys.stderr)


def _marketplace_names() -> list[str]:
    from adapters.marketplaces import MARKETPLACES

    return [name for name, _ in MARKETPLACES]


def broker_available() -> bool:
    return server_answers(5672)


def postgres_available() -> bool:
    return server_answers(5432)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
