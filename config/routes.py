"""Reads the carrier routing table (config/carrier_routes.json or RB_CARRIER_ROUTES_FILE) for core/routing.py.

Reading files is I/O, so it happens here at wiring time; core only matches the table it is given.
"""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import PROJECT_ROOT, Settings, SettingsError
from core.routing import Route, load_routes

DEFAULT_ROUTES_FILE = PROJECT_ROOT / "config" / "carrier_routes.json"


def carrier_routes(settings: Settings | None = None) -> tuple[Route, ...]:
    """The lane table; `RB_CARRIER_ROUTES_FILE` points a deployment at its own."""
    configured = settings.for_adapter("carrier").get("ROUTES_FILE") if settings else None
    path = Path(configured) if configured else DEFAULT_ROUTES_FILE
    try:
        return load_routes(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"carrier routing table {path} cannot be read: {exc}") from exc
