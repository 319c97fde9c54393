"""Load the policy tables (config/policy/*.json) into `core.policy.PolicyTables`.

The tables are data so that law and policy changes are edits, not code (STYLE.md;
research/policy_fx_l10n.md §1.3). Group rules (the EU) are merged into each
member; a member's own keys win.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.policy import PolicyTables

POLICY_DIR = Path(__file__).resolve().parent / "policy"
ROUTES_FILE = Path(__file__).resolve().parent / "carrier_routes.json"


def _read(directory: Path, name: str) -> dict[str, Any]:
    data = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def merge_jurisdictions(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each jurisdiction with its group's rules filled in."""
    groups = data.get("groups", {})
    merged = {}
    for code, own in data["jurisdictions"].items():
        group = groups.get(own.get("group"), {}) if own.get("group") else {}
        merged[code] = {**group, **own}
    return merged


def load_label_prices(routes_file: Path = ROUTES_FILE) -> tuple[dict[str, Any], ...]:
    """The return-label price estimates by lane that sit beside the carrier routes (returnless refund)."""
    data = json.loads(routes_file.read_text(encoding="utf-8"))
    return tuple(data.get("return_label_prices") or ())


def load_policy_tables(directory: Path = POLICY_DIR, routes_file: Path = ROUTES_FILE) -> PolicyTables:
    return PolicyTables(
        jurisdictions=merge_jurisdictions(_read(directory, "jurisdictions")),
        marketplaces=_read(directory, "marketplaces"),
        merchants=_read(directory, "merchants"),
        service_levels=_read(directory, "service_levels"),
        fees=_read(directory, "fees"),
        label_prices=load_label_prices(routes_file),
    )


@lru_cache(maxsize=1)
def default_policy_tables() -> PolicyTables:
    """The shipped tables, read once per process."""
    return load_policy_tables()
