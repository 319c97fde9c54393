"""Helpers shared by the marketplace adapter tests: a fixed clock and canonical validation."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.marketplaces.base import InboundRequest
from config.settings import AdapterSettings
from service.canonical import load_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def settings(name: str, **values: str) -> AdapterSettings:
    return AdapterSettings(name=name, env={f"RB_{name.upper()}_{k.upper()}": v for k, v in values.items()})


class LowerHeaders(dict):
    """Header lookups are case-insensitive in the web layer (werkzeug); the tests mimic that."""

    def get(self, key, default=None):  # type: ignore[override]
        return super().get(key.lower(), default)


def inbound(body: bytes, headers: dict[str, str], url: str = "") -> InboundRequest:
    return InboundRequest(body=body, headers=LowerHeaders({k.lower(): v for k, v in headers.items()}), url=url)


def valid(events: list[dict]) -> list:
    """Every event an adapter emits must pass the one canonical schema."""
    return [load_event(event) for event in events]
