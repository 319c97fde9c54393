"""What every customs authority or broker adapter offers: file a returned-goods declaration or a duty/VAT claim.

Same pattern as the carriers (STYLE.md): pure build and parse functions, the
registry by name, and requests that are built, stored and shown but not sent
while the adapter has no credentials (contract: settings table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from adapters.http import HttpResult, OutboundRequest
from adapters.registry import Registry
from config.settings import AdapterSettings
from core.customs import CustomsPlan, DutyClaim


class CustomsRejected(Exception):
    """The authority or broker refused the filing (a 4xx): the case needs attention with its message."""


@dataclass(frozen=True)
class Filing:
    reference: str
    status: str  # filed | accepted
    raw: Any = None


class CustomsAdapter(Protocol):
    name: str

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None: ...

    def build_declaration(self, case_id: str, plan: CustomsPlan, settings: AdapterSettings) -> OutboundRequest: ...

    def build_claim(self, case_id: str, claim: DutyClaim, settings: AdapterSettings) -> OutboundRequest: ...

    def parse_filing(self, result: HttpResult) -> Filing: ...


CUSTOMS: Registry[CustomsAdapter] = Registry("customs", "adapters.customs")
