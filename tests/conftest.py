"""Shared fixtures: a service on a temporary SQLite file and the in-process broker by default;
real RabbitMQ and PostgreSQL for the tests marked `rabbitmq` / `postgres` (mandatory under CI=true)."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from queues.worker import Worker
from service.bootstrap import Container

GENERIC_KEY = b"test-generic-key-0123456789abcdef"
GENERIC_SECRET = "whsec_" + base64.b64encode(GENERIC_KEY).decode()
# Every /returns and /ops route needs a bearer credential (web/auth.py): tests have one unless they set their own.
OPS_TOKEN = "test-ops-token-0123456789abcdef"
# The contract's examples, kept in the project so that nothing at run time reads outside it.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def server_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        return True
    return False


def need_server(name: str, port: int) -> None:
    """Skip with a clear message when the server is absent; under CI its absence is a failure."""
    if server_answers(port):
        return
    message = f"{name} does not answer on 127.0.0.1:{port}"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true makes the {name} tests mandatory")
    pytest.skip(f"{message}: start it to run these tests (they run, mandatory, under CI=true)")


def sign_generic(body: bytes, msg_id: str | None = None, ts: int | None = None, key: bytes = GENERIC_KEY) -> dict:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }


def example(name: str = "return-requested-de", **overrides: Any) -> dict[str, Any]:
    """A contract example with fresh ids unless told otherwise; nested dicts in overrides are merged."""
    event = json.loads((EXAMPLES / f"{name}.json").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(event.get(key), dict):
            event[key] = {**event[key], **value}
        else:
            event[key] = value
    return copy.deepcopy(event)


def unique_event(kind: str = "return.requested", n: str | None = None, **overrides: Any) -> dict[str, Any]:
    n = n or uuid.uuid4().hex[:10]
    event = example("return-requested-de")
    event["type"] = kind
    event["marketplace_event_id"] = f"evt-{kind}-{n}-{uuid.uuid4().hex[:6]}"
    event["order"]["id"] = f"ORD-{n}"
    event["return"]["id"] = f"RMA-{n}"
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(event.get(key), dict):
            event[key] = {**event[key], **value}
        else:
            event[key] = value
    return event


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)


def make_settings(**env: str) -> Settings:
    base = {
        "RB_GENERIC_WEBHOOK_SECRET": GENERIC_SECRET,
        "RB_OPS_TOKEN": OPS_TOKEN,
        "RB_TOPOLOGY_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "RB_RETRY_DELAYS": "1,1",
        "RB_RELAY_INTERVAL_SECONDS": "0.05",
        "RB_LOG_LEVEL": "WARNING",
        "RB_PII_PURGE_INTERVAL_SECONDS": "0",  # the purge is tested by calling it, not by a timer
        "RB_QUEUE_DEPTH_SAMPLE_SECONDS": "0",  # depth samples are taken by calling sample_depths
        # The contract examples' deadlines are past by the wall clock: timer tests move their own clock.
        "RB_TIMER_INTERVAL_SECONDS": "3600",
    }
    return Settings.from_env({**base, **env})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db")


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = Container(settings)
    yield built
    built.close()


@pytest.fixture
def app(settings: Settings, container: Container):  # type: ignore[no-untyped-def]
    from wsgi import create_app

    return create_app(settings, container)


def operator_client(app):  # type: ignore[no-untyped-def]
    """A test client that sends `Authorization: Bearer <RB_OPS_TOKEN>` unless a request sets its own header."""
    test_client = app.test_client()
    token = app.extensions["returnbridge"].settings.ops_token
    if token:
        test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return operator_client(app)


@pytest.fixture
def anonymous(app):  # type: ignore[no-untyped-def]
    """A client with no credential: what an attacker on the network has."""
    return app.test_client()


@pytest.fixture
def running(container: Container) -> Iterator[Worker]:
    """The relay, consumers and case timers running in this process, as `make run` does."""
    worker = Worker(container.relay, container.consumers(), [container.timer_task()])
    worker.start()
    assert worker.wait_ready(10)
    yield worker
    worker.stop()


def post_event(client, event: dict[str, Any], marketplace: str = "generic", **sign: Any):  # type: ignore[no-untyped-def]
    body = json.dumps(event).encode()
    return client.post(f"/webhooks/{marketplace}", data=body, headers=sign_generic(body, **sign))


@pytest.fixture
def rabbit_url() -> str:
    need_server("RabbitMQ", 5672)
    return os.environ.get("RB_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    need_server("PostgreSQL", 5432)
    import psycopg

    name = f"rb_test_{uuid.uuid4().hex[:12]}"
    admin = os.environ.get("RB_TEST_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def schedule_db(tmp_path: Path) -> Iterator[Any]:
    """A database for the retry schedule alone, for tests that run a consumer without a Container."""
    from tests.retry_support import ScheduleDb

    db = ScheduleDb.on(tmp_path / "schedule.db")
    yield db
    db.engine.dispose()


def delete_topology(broker_url: str, prefix: str) -> None:
    """Remove a test's exchanges and queues from the shared broker."""
    import pika

    from queues.inspection import pika_parameters

    with contextlib.closing(pika.BlockingConnection(pika_parameters(broker_url))) as connection:
        channel = connection.channel()
        queues = [q for q in list_queues() if q.startswith(prefix + ".")]
        for queue in queues:
            channel.queue_delete(queue)
        for suffix in ("events", "commands", "dlx"):
            channel.exchange_delete(f"{prefix}.{suffix}")


def pika_parameters(broker_url: str):  # type: ignore[no-untyped-def]
    """kombu reads `amqp://host//` as the vhost "/"; pika wants it escaped as `%2F`."""
    import pika

    if broker_url.endswith("//"):
        broker_url = broker_url[:-1] + "%2F"
    return pika.URLParameters(broker_url)


def list_queues() -> list[str]:
    import subprocess

    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True, text=True, timeout=30)
    return [line.strip() for line in out.stdout.splitlines() if line.strip() and line.strip() != "name"]
