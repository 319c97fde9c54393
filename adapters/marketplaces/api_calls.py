"""Calling a marketplace's API: its credentials from the settings, the one HTTP client, the answer as recorded."""

from __future__ import annotations

from adapters.http import HttpClient, HttpResult, OutboundRequest
from adapters.marketplaces.base import DecisionAnswer
from config.settings import AdapterSettings


def credentials(settings: AdapterSettings, *keys: str) -> tuple[dict[str, str] | None, list[str]]:
    """The adapter's credentials, or the names of the `RB_*` settings that are not set."""
    values = settings.require(*keys)
    if values is not None:
        return values, []
    return None, [f"RB_{settings.name.upper()}_{key.upper()}" for key in keys if not settings.get(key)]


def send(http: HttpClient, request: OutboundRequest) -> HttpResult:
    """Every marketplace call goes through the one HTTP client (adapters/http.py)."""
    return http.send(request)


def answer_from(action: str, request: OutboundRequest, result: HttpResult, accepted: bool) -> DecisionAnswer:
    return DecisionAnswer(
        action=action,
        sent=True,
        accepted=accepted,
        status=result.status,
        detail=result.body,
        request=request.describe(),
    )


def not_sent(action: str, request: OutboundRequest | None, missing: list[str]) -> DecisionAnswer:
    return DecisionAnswer(
        action=action,
        sent=False,
        accepted=False,
        request=request.describe() if request else None,
        missing=missing,
    )
