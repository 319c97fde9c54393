"""`make run`: a consumer takes its next message once no request is in flight, or after `max_wait`."""

from __future__ import annotations

import threading
import time

from web.priority import RequestsFirst


def test_a_message_waits_for_the_request_in_flight_and_then_a_quiet_moment():
    first = RequestsFirst(quiet=0.05, max_wait=5.0)
    release = threading.Event()
    handled: list[float] = []

    def slow_app(environ, start_response):  # type: ignore[no-untyped-def]
        release.wait(5)
        start_response("202 Accepted", [])
        return [b"{}"]

    app = first.wsgi(slow_app)
    request = threading.Thread(target=app, args=({}, lambda *a: None))
    request.start()
    time.sleep(0.05)
    consumer = threading.Thread(target=first.handler(lambda message: handled.append(time.monotonic())), args=("m",))
    consumer.start()
    time.sleep(0.2)
    assert handled == []  # the request is still being answered
    answered = time.monotonic()
    release.set()
    request.join(5)
    consumer.join(5)
    assert handled and handled[0] - answered >= 0.05


def test_a_message_is_handled_after_max_wait_under_steady_requests():
    first = RequestsFirst(quiet=0.05, max_wait=0.2)
    stop = threading.Event()

    def steady() -> None:
        app = first.wsgi(lambda environ, start_response: [time.sleep(0.01) or b""])
        while not stop.is_set():
            app({}, lambda *a: None)

    traffic = threading.Thread(target=steady)
    traffic.start()
    started = time.monotonic()
    handled: list[str] = []
    first.handler(handled.append)("m")
    stop.set()
    traffic.join(5)
    assert handled == ["m"] and 0.15 <= time.monotonic() - started < 2.0


def test_with_no_requests_a_message_is_handled_at_once():
    first = RequestsFirst(quiet=0.05, max_wait=5.0)
    started = time.monotonic()
    handled: list[str] = []
    first.handler(handled.append)("m")
    assert handled == ["m"] and time.monotonic() - started < 0.1


def test_a_batch_goes_whole_when_the_web_is_quiet_and_one_by_one_while_requests_keep_coming():
    """A batch is one transaction (SQLite's one write lock): a webhook must not wait behind twenty events."""
    turns: list[list[str]] = []
    failure = ValueError("m2 refused")

    def apply(messages: list[str]) -> list[Exception | None]:
        turns.append(list(messages))
        return [failure if m == "m2" else None for m in messages]

    quiet = RequestsFirst(quiet=0.01, max_wait=1.0)
    assert quiet.batch_handler(apply)(["m1", "m2", "m3"]) == [None, failure, None]
    assert turns == [["m1", "m2", "m3"]]

    busy = RequestsFirst(quiet=0.05, max_wait=0.05)
    stop = threading.Event()

    def steady() -> None:
        app = busy.wsgi(lambda environ, start_response: [time.sleep(0.01) or b""])
        while not stop.is_set():
            app({}, lambda *a: None)

    traffic = threading.Thread(target=steady)
    traffic.start()
    try:
        turns.clear()
        assert busy.batch_handler(apply)(["m1", "m2", "m3"]) == [None, failure, None]
    finally:
        stop.set()
        traffic.join(5)
    assert turns == [["m1"], ["m2"], ["m3"]]  # in delivery order, each after its own wait
