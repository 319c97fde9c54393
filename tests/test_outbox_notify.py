"""`make web` on PostgreSQL: the web runs no relay; its intake commit NOTIFYs the worker's relay.

The worker's relay here polls only every 30 seconds, so an event published within a few seconds was
published because NOTIFY woke it. With its LISTEN connection gone it falls back to that poll and loses
nothing. Skipped with a message when the servers do not answer; mandatory under CI=true.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pika
import psycopg
import pytest

from adapters.storage.outbox_signal import OutboxListener, libpq_url
from service.bootstrap import Container
from tests.conftest import (
    delete_topology,
    make_settings,
    operator_client,
    pika_parameters,
    post_event,
    unique_event,
    wait_for,
)
from wsgi import create_app

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


@dataclass
class WebAndWorker:
    web: object  # the Flask test client of a web whose relay never starts (RB_WEB_RELAY off)
    worker: Container  # its relay alone runs: no consumer takes the published message from its queue
    rabbit_url: str


def _container(postgres_url: str, rabbit_url: str, prefix: str, interval: str) -> Container:
    settings = make_settings(
        RB_DATABASE_URL=postgres_url, RB_BROKER_URL=rabbit_url, RB_TOPOLOGY_PREFIX=prefix,
        RB_RELAY_INTERVAL_SECONDS=interval,
    )  # fmt: skip
    return Container(settings)


@pytest.fixture
def web_and_worker(rabbit_url: str, postgres_url: str) -> Iterator[WebAndWorker]:
    prefix = f"t{time.time_ns() % 10**10}"
    web = _container(postgres_url, rabbit_url, prefix, "30")
    worker = _container(postgres_url, rabbit_url, prefix, "30")
    assert not web.settings.web_relay, "RB_WEB_RELAY is off by default on PostgreSQL"
    yield WebAndWorker(operator_client(create_app(web.settings, web)), worker, rabbit_url)
    worker.close()
    web.close()
    delete_topology(rabbit_url, prefix)


def _cases_queue_depth(rabbit_url: str, prefix: str) -> int:
    with contextlib.closing(pika.BlockingConnection(pika_parameters(rabbit_url))) as connection:
        return connection.channel().queue_declare(f"{prefix}.cases", passive=True).method.message_count


def _relay_idle(worker: Container) -> None:
    """The relay started, listening, and past its first rounds: what wakes it next is a NOTIFY or its poll."""
    worker.relay.start()
    listener = worker.relay.listener
    assert listener is not None and listener.listening.wait(10)
    assert wait_for(lambda: worker.outbox_store.pending() == 0, timeout=10)
    time.sleep(0.3)


def test_an_event_the_web_accepts_is_published_by_the_workers_relay_woken_by_notify(web_and_worker):
    worker = web_and_worker.worker
    _relay_idle(worker)
    posted = time.monotonic()
    assert post_event(web_and_worker.web, unique_event()).status_code == 202
    assert wait_for(lambda: worker.outbox_store.pending() == 0, timeout=10, step=0.01)
    assert time.monotonic() - posted < 3.0, "published by the 30 s poll, not by NOTIFY"
    prefix = worker.settings.topology_prefix
    assert wait_for(lambda: _cases_queue_depth(web_and_worker.rabbit_url, prefix) == 1, timeout=5)


def test_a_lost_listen_connection_falls_back_to_polling_and_loses_nothing(web_and_worker):
    worker = web_and_worker.worker
    worker.relay.interval = 1.0  # the poll it falls back to
    listener = OutboxListener(worker.settings.database_url, worker.relay.notify, retry_seconds=60)
    worker.relay.listener = listener  # reconnects only after the test: polling alone must publish
    _relay_idle(worker)
    pid = listener.backend_pid()
    with psycopg.connect(libpq_url(worker.settings.database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert wait_for(lambda: not listener.listening.is_set(), timeout=5)
    for n in range(3):
        assert post_event(web_and_worker.web, unique_event()).status_code == 202, n
    assert wait_for(lambda: worker.outbox_store.pending() == 0, timeout=10)
    prefix = worker.settings.topology_prefix
    assert wait_for(lambda: _cases_queue_depth(web_and_worker.rabbit_url, prefix) == 3, timeout=5)
    assert not listener.listening.is_set(), "published by the poll while the LISTEN connection was down"


def test_the_listener_reconnects_and_notify_wakes_the_relay_again(web_and_worker):
    worker = web_and_worker.worker
    listener = OutboxListener(worker.settings.database_url, worker.relay.notify, retry_seconds=0.2)
    worker.relay.listener = listener
    _relay_idle(worker)
    first = listener.backend_pid()
    with psycopg.connect(libpq_url(worker.settings.database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    assert wait_for(lambda: listener.listening.is_set() and listener.backend_pid() not in (None, first), timeout=10)
    time.sleep(0.3)  # past the round its reconnect woke
    posted = time.monotonic()
    assert post_event(web_and_worker.web, unique_event()).status_code == 202
    assert wait_for(lambda: worker.outbox_store.pending() == 0, timeout=10, step=0.01)
    assert time.monotonic() - posted < 3.0, "published by the 30 s poll, not by NOTIFY"
