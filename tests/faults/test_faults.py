"""Faults on the real parts: `make web` and `make worker` as processes, RabbitMQ, PostgreSQL, a carrier fake.

Each test prints its counts (`[fault] ...`): every accepted event handled, no label booked
twice, no notice repeated. Source of the scenarios: messaging_reliability.md §7.3.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import unique_event, wait_for
from tests.faults.stack import CarrierFake, Stack, running_stack

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


def approval(n: str) -> dict:
    return {
        "type": "return.approved",
        "marketplace_event_id": f"evt-approve-{n}",
        "occurred_at": "2026-11-10T11:00:00+01:00",
        "order": {"id": f"ORD-{n}"},
        "return": {"id": f"RMA-{n}"},
    }


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path


def assert_nothing_lost_nothing_doubled(stack: Stack, cases: int, title: str, timeout: float = 40) -> dict:
    settled = wait_for(lambda: stack.settled(cases), timeout=timeout, step=0.3)
    figures = stack.report(title, cases)
    assert settled, f"not settled in {timeout}s; logs in {stack.log_dir}"
    assert figures["unprocessed events"] == 0
    assert figures["labels issued twice"] == {}
    assert figures["notices repeated"] == 0
    assert all(n <= 1 for n in stack.carrier.booked.values())
    return figures


@pytest.fixture
def stack_for(rabbit_url: str, postgres_url: str, log_dir: Path):  # type: ignore[no-untyped-def]
    stacks: list = []

    def start(carrier: CarrierFake, start_worker: bool = True, **env: str) -> Stack:
        context = running_stack(rabbit_url, postgres_url, carrier, log_dir, start_worker, **env)
        stacks.append(context)
        return context.__enter__()

    yield start
    for context in stacks:
        context.__exit__(None, None, None)


def test_worker_killed_mid_batch_loses_nothing_and_books_no_label_twice(stack_for) -> None:  # type: ignore[no-untyped-def]
    carrier = CarrierFake(delay=0.15)
    stack = stack_for(carrier)
    cases = 24
    for n in range(cases):
        stack.post_return(f"kill{n}")
    assert wait_for(lambda: sum(carrier.requests.values()) >= 4, timeout=30), "no booking reached the carrier"
    stack.kill_worker()
    booked_before = sum(carrier.booked.values())
    stack.start_worker()
    figures = assert_nothing_lost_nothing_doubled(stack, cases, "worker SIGKILL mid-batch")
    assert booked_before < cases, "the kill came after the batch: it tested nothing"
    shipments = figures["shipments"]
    # A booking interrupted inside the carrier call is marked unknown for a person, never repeated blindly.
    assert shipments.get("booked", 0) + shipments.get("unknown", 0) == cases
    assert shipments.get("unknown", 0) <= 1


def test_broker_restart_while_webhooks_arrive_answers_202_and_loses_nothing(stack_for) -> None:  # type: ignore[no-untyped-def]
    carrier = CarrierFake()
    stack = stack_for(carrier)
    stack.post_return("before")
    assert wait_for(lambda: stack.settled(1), timeout=30)
    stopped = threading.Event()
    sent = {"during": 0}

    def keep_posting() -> None:
        n = 0
        while not stopped.is_set():
            stack.post_return(f"during{n}")
            sent["during"] += 1
            n += 1
            time.sleep(0.15)

    poster = threading.Thread(target=keep_posting)
    poster.start()
    try:
        time.sleep(0.5)
        subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, capture_output=True, timeout=60)
        time.sleep(3)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, capture_output=True, timeout=120)
    time.sleep(1)
    stopped.set()
    poster.join(30)
    cases = 1 + sent["during"]
    figures = assert_nothing_lost_nothing_doubled(stack, cases, "broker stop_app/start_app under load", timeout=60)
    assert set(figures["webhooks"]) == {202}, "a webhook answered something else than 202 while the broker was down"
    assert figures["shipments"].get("booked") == cases


def _reverse_queue(stack: Stack) -> int:
    """Take every message waiting in the cases queue and put them back newest first (pika, confirmed)."""
    import pika

    from queues.inspection import pika_parameters

    queue = f"{stack.prefix}.cases"
    connection = pika.BlockingConnection(pika_parameters(stack.env["RB_BROKER_URL"]))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        taken = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            taken.append((method, properties, body))
        for _, properties, body in reversed(taken):
            channel.basic_publish("", queue, body, properties, mandatory=True)
        for method, _, _ in taken:
            channel.basic_ack(method.delivery_tag)
        return len(taken)
    finally:
        connection.close()


def test_duplicate_and_out_of_order_deliveries_take_effect_once_and_in_order(stack_for) -> None:  # type: ignore[no-untyped-def]
    carrier = CarrierFake()
    # No worker yet: the web's own relay publishes what it accepts (RB_WEB_RELAY is off by default on PostgreSQL,
    # where the worker's relay, woken by NOTIFY, publishes instead).
    stack = stack_for(carrier, start_worker=False, RB_WEB_RELAY="on")
    cases = 8
    for n in range(cases):
        requested = unique_event("return.requested", n=f"dup{n}")
        approved = approval(f"dup{n}")
        assert stack.post(requested).status_code == 202
        assert stack.post(requested).status_code == 200  # a marketplace resend: same ids, "duplicate"
        assert stack.post(approved).status_code == 202
        assert stack.post(approved, msg_id=f"redelivery-{n}").status_code == 200
    assert wait_for(lambda: not stack.sql("SELECT 1 FROM outbox WHERE published_at IS NULL"), timeout=20)
    # Out of order: every approval now reaches the worker before the request it approves.
    assert _reverse_queue(stack) == 2 * cases
    stack.start_worker()
    assert_nothing_lost_nothing_doubled(stack, cases, "out-of-order deliveries")
    # Broker-level duplicates: the relay publishes every message a second time.
    stack.sql("UPDATE outbox SET published_at = NULL")
    assert wait_for(lambda: not stack.sql("SELECT 1 FROM outbox WHERE published_at IS NULL"), timeout=20)
    time.sleep(2)
    figures = assert_nothing_lost_nothing_doubled(stack, cases, "duplicate and out-of-order deliveries")
    assert figures["webhooks"] == {202: 2 * cases, 200: 2 * cases}
    assert figures["shipments"] == {"booked": cases}
    assert stack.sql("SELECT count(*) FROM cases WHERE needs_attention")[0][0] == 0, "an event was applied out of order"


def test_carrier_answering_5xx_then_recovering_books_each_label_once(stack_for) -> None:  # type: ignore[no-untyped-def]
    carrier = CarrierFake(fail_first=6)
    stack = stack_for(carrier)
    cases = 6
    for n in range(cases):
        stack.post_return(f"c5xx{n}")
    figures = assert_nothing_lost_nothing_doubled(stack, cases, "carrier 503 then recovery")
    assert carrier.failed == 6
    assert figures["shipments"] == {"booked": cases}
    assert figures["carrier requests"] == cases + 6
    # The worker's adapter calls reach the web's /metrics through the multiprocess directory.
    metrics = stack.session.get(f"{stack.url}/metrics", timeout=10).text
    assert 'returnbridge_adapter_calls_total{adapter="dhl_express",outcome="server_error"} 6.0' in metrics
    assert 'returnbridge_adapter_calls_total{adapter="dhl_express",outcome="ok"} 6.0' in metrics
    assert f'returnbridge_queue_messages{{queue="{stack.prefix}.cases",role="work"}}' in metrics


def test_database_connections_cut_under_the_worker_lose_nothing(stack_for) -> None:  # type: ignore[no-untyped-def]
    carrier = CarrierFake(delay=0.05)
    stack = stack_for(carrier)
    cases = 16
    cut = 0
    for n in range(cases):
        stack.post_return(f"db{n}")
        if n % 4 == 1:
            cut += len(
                stack.sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'rb-worker' AND datname = current_database()"
                )
            )
            time.sleep(0.3)
    figures = assert_nothing_lost_nothing_doubled(stack, cases, f"database connections cut ({cut} terminated)")
    assert cut > 0, "no worker connection was cut: the test tested nothing"
    shipments = figures["shipments"]
    assert shipments.get("booked", 0) + shipments.get("unknown", 0) == cases


def test_sigterm_finishes_the_booking_in_hand_then_stops(stack_for) -> None:  # type: ignore[no-untyped-def]
    carrier = CarrierFake(delay=2.0)
    stack = stack_for(carrier)
    stack.post_return("term")
    assert wait_for(lambda: sum(carrier.requests.values()) == 1, timeout=30), "the booking never reached the carrier"
    took = stack.terminate_worker()
    figures = stack.report(f"SIGTERM during a carrier call (stopped in {took:.1f}s)", 1)
    assert stack.worker.returncode == 0
    assert figures["shipments"] == {"booked": 1}, "the booking in hand was not finished before stopping"
    assert figures["unprocessed events"] == 0
    assert took < 15
