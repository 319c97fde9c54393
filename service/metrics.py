"""Prometheus metrics: what operators watch (events by marketplace and outcome, processing time, outbox)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOK_EVENTS = Counter(
    "returnbridge_webhook_events_total", "Webhook deliveries by marketplace and outcome", ["marketplace", "outcome"]
)
MESSAGES = Counter("returnbridge_messages_total", "Messages handled by queue and outcome", ["queue", "outcome"])
PROCESSING_SECONDS = Histogram("returnbridge_processing_seconds", "Time to handle one message, by queue", ["queue"])


def record_outcome(queue: str, outcome: str, seconds: float) -> None:
    MESSAGES.labels(queue, outcome).inc()
    if outcome == "processed":
        PROCESSING_SECONDS.labels(queue).observe(seconds)
