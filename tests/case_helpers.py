"""Helpers for tests that drive cases through the HTTP API: a clock the test moves, fixed rates, reads."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any


class MovableClock:
    """The service's clock, moved by the test (timers are due by this clock, not the wall's)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = at.astimezone(UTC)


class FixedRates:
    """A `core.money.RateSource` with one published day of rates per EUR (the ECB's base currency)."""

    def __init__(self, per_eur: dict[str, str], published: date) -> None:
        self.per_eur = {code: Decimal(value) for code, value in per_eur.items()} | {"EUR": Decimal(1)}
        self.published = published

    def rate(self, base: str, quote: str, on: date) -> tuple[Decimal, date, str]:
        return self.per_eur[quote] / self.per_eur[base], self.published, "ECB"


def recent(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The event moved in time so that it happened at `now`, its order's dates shifted alike.

    Webhook signatures are checked against the wall clock (Standard Webhooks), so events are posted at
    the wall's time and the deadlines they start lie ahead; the test then moves the service's clock.
    """
    shift = now - datetime.fromisoformat(event["occurred_at"])
    moved = {**event, "occurred_at": now.isoformat(), "order": dict(event["order"])}
    for name in ("placed_at", "delivered_at"):
        if moved["order"].get(name):
            moved["order"][name] = (datetime.fromisoformat(moved["order"][name]) + shift).isoformat()
    return moved


def case_of(client: Any, case_id: str) -> dict[str, Any]:
    return client.get(f"/returns/{case_id}").get_json()


def timeline_names(case: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in case["timeline"]]
