"""What every carrier adapter offers: pure build and parse functions around one HTTP call.

Shaped after karrio's providers (STYLE.md): `build_*` turns a carrier-neutral
order into the carrier's request, `parse_*` turns its answer into a result, and
only `adapters.http.HttpClient` does I/O. Without credentials the request is
built and stored on the case, not sent (contract: settings table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.http import HttpResult, OutboundRequest
from adapters.registry import Registry
from config.settings import AdapterSettings
from core.shipments import ReturnShipmentOrder


class CarrierRejected(Exception):
    """The carrier refused the request (a 4xx): retrying will not help; the case needs attention."""


@dataclass(frozen=True)
class BookedShipment:
    tracking_number: str | None
    label_pdf_base64: str | None = None
    documents: dict[str, str] = field(default_factory=dict)  # e.g. {"invoice": <base64 pdf>}
    pickup_reference: str | None = None
    raw: Any = None


class CarrierAdapter(Protocol):
    name: str

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        """The credentials set for this carrier, or None: then nothing is sent."""

    def build_return_shipment(self, order: ReturnShipmentOrder, settings: AdapterSettings) -> OutboundRequest:
        """The carrier's request that books a return label (and pickup, where asked)."""

    def parse_return_shipment(self, result: HttpResult) -> BookedShipment:
        """The booking from the carrier's answer; raises `CarrierRejected` on a refusal."""


CARRIERS: Registry[CarrierAdapter] = Registry("carrier", "adapters.carriers")
