"""Consumers: manual acks after the effect is committed, retries parked in the database, dead letters with reasons.

A handler returns normally when its effect is durable (then we ack), raises `Reject`
when retrying cannot help (dead-lettered at once, reason kept), raises `Defer` to wait
the shortest delay, or raises anything else for a transient failure: a copy of the
message, with the same message id, is parked in the retry schedule (a database row,
adapters/storage/retry_schedule.py) for a growing delay, and dead-lettered when the
delays are used up. The delivery is acked only once the row is committed; the outbox
relay publishes the copy back to the work queue when it is due. No broker TTL is
involved, so a broker restart cannot drop or strand a parked message.
The handlers themselves are idempotent by message id (the consumers' inbox), so a
redelivery after a crash between commit (or parking) and ack changes nothing.

Publishing a dead letter uses its own connection, as kombu's
ConsumerProducerMixin does, so a confirm wait never runs inside a delivery callback.

A handler with `handle_batch(messages) -> outcomes` (one `None` or exception per message)
gets up to `batch` deliveries at once: those waiting now, collected until the batch is full
or no other arrives within `BATCH_LINGER_SECONDS`. It commits them in one transaction; the
consumer then settles each failure as above and acks the rest together. If the batch itself
fails (its commit), nothing of it was kept, and each message is handled alone; so are
redelivered messages.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from kombu import Connection
from kombu.mixins import ConsumerProducerMixin

from adapters.messages import Defer, IncomingMessage, OutgoingMessage, Reject
from queues.publisher import ConfirmedPublisher, connection_for
from queues.topology import QueueSpec, Topology

log = logging.getLogger(__name__)


Handler = Callable[[IncomingMessage], None]
BatchHandler = Callable[[Sequence[IncomingMessage]], Sequence[Exception | None]]


class RetrySchedule(Protocol):
    """Where a delivery waits until it is due (adapters/storage/retry_schedule.py): durable once `park` returns."""

    def park(self, queue: str, message: OutgoingMessage, delay_seconds: float) -> datetime: ...


# How long a partial batch waits for one more delivery: a few ms, so a lone message is not held up.
BATCH_LINGER_SECONDS = 0.005


class QueueConsumer(ConsumerProducerMixin):
    """Consumes one work queue in its own thread, with per-consumer prefetch (quorum queues refuse global QoS)."""

    def __init__(
        self,
        broker_url: str,
        topology: Topology,
        spec: QueueSpec,
        handler: Handler,
        schedule: RetrySchedule,
        prefetch: int = 20,
        on_outcome: Callable[[str, str, float], None] | None = None,
        on_dead_letter: Callable[[str, str, str, str | None], None] | None = None,
        max_deferrals: int = 30,
        batch: int = 1,
        on_parked: Callable[[datetime], None] | None = None,
    ) -> None:
        self.connection: Connection = connection_for(broker_url)
        self.broker_url = broker_url
        self.topology = topology
        self.spec = spec
        self.handler = handler
        self.schedule = schedule
        # Told when a parked copy falls due (the relay's `expect`), so it is published on time.
        self.on_parked = on_parked or (lambda due_at: None)
        self.prefetch = prefetch
        self.max_deferrals = max_deferrals
        # Batches only for handlers that take them, and never more than the broker lets us hold unacked.
        self.batch_handler: BatchHandler | None = getattr(handler, "handle_batch", None) if batch > 1 else None
        self.batch = min(batch, prefetch)
        self._waiting: list[tuple[Any, Any]] = []  # (body, message) of the batch being collected
        self.queue_name = topology.queue_name(spec)
        self.on_outcome = on_outcome or (lambda queue, outcome, seconds: None)
        # Told (queue, message id, reason, case id or None) once a dead letter is confirmed by the broker.
        self.on_dead_letter = on_dead_letter or (lambda queue, message_id, reason, case_id: None)
        self._publisher = ConfirmedPublisher(broker_url, topology)
        self.ready = threading.Event()

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        self.topology.declare_on(channel, self.spec)  # after a broker restart the queues may be new
        return [
            Consumer(
                queues=[self.topology.work_queue(self.spec)],
                callbacks=[self.on_message],
                accept=["json", "application/json"],
                prefetch_count=self.prefetch,
            )
        ]

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
        self.ready.set()

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """kombu would ack and drop an undecodable message; keep it in the dead letters instead."""
        self._dead_letter_raw(message, f"undecodable: {exc}")

    def consume(self, limit: int | None = None, timeout: float | None = None, safety_interval: float = 1,
                **kwargs: Any) -> Iterator[None]:  # fmt: skip
        """ConsumerMixin's loop, except that while a batch is being collected the wait for the next delivery
        is `BATCH_LINGER_SECONDS`, and a wait that ends empty hands the batch to the handler."""
        self._waiting = []  # after a reconnect, deliveries of the old channel come again from the broker
        with self.consumer_context(**kwargs) as (connection, _channel, _consumers):
            while not self.should_stop:
                self.on_iteration()
                try:
                    connection.drain_events(timeout=BATCH_LINGER_SECONDS if self._waiting else safety_interval)
                except TimeoutError:
                    if self._waiting:
                        self._flush()
                    else:
                        connection.heartbeat_check()
                except OSError:
                    if not self.should_stop:
                        raise
                yield
            if self._waiting:  # stopping: finish the batch in hand, as a single message would be
                self._flush()

    def on_message(self, body: Any, message: Any) -> None:
        if self.batch_handler is None:
            self._handle_one(body, message)
            return
        self._waiting.append((body, message))
        if len(self._waiting) >= self.batch:
            self._flush()

    def _handle_one(self, body: Any, message: Any) -> None:
        started = time.monotonic()
        incoming = self._incoming(body, message)
        try:
            self.handler(incoming)
        except Exception as failure:
            self._settle_failure(message, incoming, failure)
        else:
            message.ack()
            self.on_outcome(self.queue_name, "processed", time.monotonic() - started)

    def _flush(self) -> None:
        """Hand the collected deliveries to the batch handler; settle failures one by one, ack the rest together."""
        waiting, self._waiting = self._waiting, []
        started = time.monotonic()
        incoming = [self._incoming(body, message) for body, message in waiting]
        if any(one.redelivered for one in incoming):
            # Back after a consumer died holding them: one of them may be what killed it, so each goes alone
            # and only that one climbs to the queue's delivery limit, not the whole batch with it.
            for body, message in waiting:
                self._handle_one(body, message)
            return
        try:
            assert self.batch_handler is not None  # set whenever deliveries are collected (on_message)
            outcomes = self.batch_handler(incoming)
        except Exception:
            log.warning("%s: a batch of %d failed; handling each alone", self.queue_name, len(waiting), exc_info=True)
            for body, message in waiting:
                self._handle_one(body, message)
            return
        each = (time.monotonic() - started) / len(waiting)
        for (_, message), one, outcome in zip(waiting, incoming, outcomes, strict=True):
            if outcome is not None:
                self._settle_failure(message, one, outcome)
        processed = [message for (_, message), outcome in zip(waiting, outcomes, strict=True) if outcome is None]
        self._ack_together(processed)
        for _ in processed:
            self.on_outcome(self.queue_name, "processed", each)

    def _ack_together(self, messages: list[Any]) -> None:
        """One `basic.ack multiple` for the batch: every other delivery up to the last is settled already.

        The in-process broker ignores `multiple`, so there each is acked."""
        if not messages:
            return
        if self.broker_url.startswith("memory") or len(messages) == 1:
            for message in messages:
                message.ack()
            return
        messages[-1].ack(multiple=True)

    def _settle_failure(self, message: Any, incoming: IncomingMessage, failure: Exception) -> None:
        """`Reject`: dead letter now; `Defer`: wait the shortest delay; anything else: retry later."""
        if isinstance(failure, Reject):
            reason = str(failure)
            self._settle(message, incoming, "dead_lettered", lambda: self._dead_letter(incoming, reason))
        elif isinstance(failure, Defer):
            if incoming.deferrals < self.max_deferrals:
                log.info("%s: message %s deferred: %s", self.queue_name, incoming.message_id, failure)
                self._settle(message, incoming, "deferred", lambda: self._delay(incoming, failure, defer=True))
            else:
                self._settle(message, incoming, "retried", lambda: self._retry(incoming, failure))
        else:
            log.warning(
                "%s: message %s failed (attempt %d): %s",
                self.queue_name,
                incoming.message_id,
                incoming.attempts + 1,
                failure,
                exc_info=failure,
            )
            self._settle(message, incoming, "retried", lambda: self._retry(incoming, failure))

    def _settle(self, message: Any, incoming: IncomingMessage, outcome: str, action: Callable[[], object]) -> None:
        """Ack only once the parked copy is committed or the dead letter confirmed; else let the broker redeliver."""
        try:
            result = action()
        except Exception:
            log.exception("%s: could not park message %s; it will be redelivered", self.queue_name, incoming.message_id)
            message.requeue()
            self.on_outcome(self.queue_name, "requeued", 0.0)
            return
        message.ack()
        self.on_outcome(self.queue_name, result if isinstance(result, str) else outcome, 0.0)

    def _incoming(self, body: Any, message: Any) -> IncomingMessage:
        if isinstance(body, bytes | str):
            body = json.loads(body)
        if not isinstance(body, dict):
            body = {"value": body}
        props = message.properties or {}
        return IncomingMessage(
            message_id=str(props.get("message_id") or message.delivery_tag),
            body=body,
            routing_key=(message.delivery_info or {}).get("routing_key", ""),
            headers=dict(message.headers or {}),
            redelivered=bool((message.delivery_info or {}).get("redelivered")),
        )

    def _retry(self, incoming: IncomingMessage, exc: Exception) -> str:
        if incoming.attempts + 1 > len(self.topology.retry_delays):
            self._dead_letter(incoming, f"gave up after {incoming.attempts + 1} attempts: {exc}")
            return "dead_lettered"
        return self._delay(incoming, exc, defer=False)

    def _delay(self, incoming: IncomingMessage, exc: Exception, defer: bool) -> str:
        """Park a copy (same message id) in the retry schedule; a deferral waits the shortest delay, costs no attempt."""
        if defer:
            delay = self.topology.retry_delays[0]
            counters: dict[str, int | str] = {"x-rb-deferrals": incoming.deferrals + 1}
        else:
            delay = self.topology.retry_delays[incoming.attempts]
            counters = {"x-rb-attempts": incoming.attempts + 1, "x-rb-last-error": str(exc)[:500]}
        copy = OutgoingMessage(
            message_id=incoming.message_id,
            exchange="",
            routing_key=self.queue_name,
            body=incoming.body,
            correlation_id=incoming.headers.get("x-rb-correlation"),
            # Stored as JSON: what the broker added (`x-death` times, bytes) is kept as text.
            headers=json.loads(json.dumps({**incoming.headers, **counters}, default=str)),
        )
        self.on_parked(self.schedule.park(self.queue_name, copy, delay))
        return "deferred" if defer else "retried"

    def _dead_letter(self, incoming: IncomingMessage, reason: str) -> None:
        log.error("%s: dead-lettering message %s: %s", self.queue_name, incoming.message_id, reason)
        self._publisher.publish(
            OutgoingMessage(
                message_id=incoming.message_id,
                exchange=self.topology.dlx.name,
                routing_key=self.queue_name,
                body=incoming.body,
                headers={
                    **incoming.headers,
                    "x-rb-dead-reason": reason[:1000],
                    "x-rb-dead-at": datetime.now(UTC).isoformat(),
                    "x-rb-queue": self.queue_name,
                    "x-rb-original-routing-key": incoming.routing_key,
                },
            )
        )
        try:
            body = incoming.body if isinstance(incoming.body, dict) else {}
            case_id = body.get("case_id") if isinstance(body.get("case_id"), str) else None
            self.on_dead_letter(self.queue_name, incoming.message_id, reason, case_id)
        except Exception:  # the dead letter itself is safe in the broker; only the record of it failed
            log.exception("%s: could not record dead letter %s", self.queue_name, incoming.message_id)

    def _dead_letter_raw(self, message: Any, reason: str) -> None:
        try:
            self._dead_letter(
                IncomingMessage(
                    message_id=str((message.properties or {}).get("message_id") or message.delivery_tag),
                    body={
                        "raw": message.body.decode("utf-8", "replace")
                        if isinstance(message.body, bytes)
                        else str(message.body)
                    },
                    routing_key=(message.delivery_info or {}).get("routing_key", ""),
                    headers=dict(message.headers or {}),
                ),
                reason,
            )
        except Exception:
            log.exception("%s: could not dead-letter an undecodable message; rejecting it", self.queue_name)
            message.reject(requeue=False)
            return
        message.ack()

    def stop(self) -> None:
        self.should_stop = True

    def close(self) -> None:
        self._publisher.close()
