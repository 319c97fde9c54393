"""The shared base classes of marketplace adapters: settings handed in, and a pulled platform's refusals.

The registry imports this module with the adapters; it registers nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Self

from adapters.http import HttpClient
from adapters.marketplaces.base import (
    JSON,
    Decision,
    DecisionAnswer,
    InboundRequest,
    PayloadError,
    SignatureError,
)
from adapters.registry import SignatureHeader
from config.settings import AdapterSettings


class Configured:
    """A marketplace adapter reading its `RB_<NAME>_*` settings, handed to it as carriers are handed theirs.

    The registered instance has none; the service calls `configured` with the process's settings before using it
    (as tests do with their own), so nothing is read from the environment or a process global behind its back.
    """

    name: str
    content_types: tuple[str, ...] = JSON

    def __init__(self, settings: AdapterSettings | None = None) -> None:
        self.settings = settings if settings is not None else AdapterSettings(self.name, {})

    def configured(self, settings: AdapterSettings) -> Self:
        """This adapter with `settings` (`Settings.for_adapter(name)`)."""
        return type(self)(settings)

    def poll_start(self, checkpoint: dict[str, Any] | None, now: datetime) -> datetime:
        """Where a poll starts: the stored checkpoint, else `RB_<NAME>_LOOKBACK_DAYS` (7) before now."""
        if checkpoint:
            return datetime.fromisoformat(checkpoint["since"])
        return now - timedelta(days=int(self.settings.get("LOOKBACK_DAYS", "7") or 7))


class PolledOnly(Configured):
    """Pulled marketplaces push nothing we could verify: their webhook route refuses every post (401)."""

    signature_headers: tuple[SignatureHeader, ...] = ()

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        raise SignatureError(f"{self.name} is polled; it sends no webhooks to this route")

    def parse(self, request: InboundRequest) -> Any:
        raise PayloadError(f"{self.name} is polled; it sends no webhooks to this route")

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer:
        """No decision API of this platform is known to us (research note): the case records that it was not sent."""
        return DecisionAnswer(
            decision.action,
            sent=False,
            accepted=False,
            detail=f"{self.name} has no decision API here; decide in the seller centre",
        )
