"""The commercial invoice that travels with a cross-border return.

Every carrier and the customs regimes want the same facts, told their own way:
an invoice of type "returns" with export reason "return" (MyDHL `invoiceType`
"returns", `exportReasonType` "return"; UPS `ReasonForExport` RETURN; FedEx
`customsOption`; UPU CN23 category "Returned goods"), per line the HS code and
country of origin, and values in the order's currency (carriers_customs.md
§2.1–§2.4, §3.1, §3.6). The invoice cites the original order so customs can tie
the return to the export (UCC Art. 203(6); Colissimo CN23 practice, §2.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.money import Money
from core.shipments import CustomsLine, ReturnShipmentOrder

INVOICE_TYPE = "returns"
EXPORT_REASON = "return"
CN23_CATEGORY = "Returned goods"


@dataclass(frozen=True)
class InvoiceLine:
    number: int
    description: str
    quantity: int
    unit_value: Money
    hs_code: str | None
    origin_country: str
    net_weight_kg: Decimal

    @property
    def total(self) -> Money:
        return self.unit_value * self.quantity


@dataclass(frozen=True)
class ReturnsInvoice:
    number: str
    date: date
    currency: str
    lines: tuple[InvoiceLine, ...]
    original_order_id: str
    invoice_type: str = INVOICE_TYPE
    export_reason: str = EXPORT_REASON

    @property
    def total(self) -> Money:
        return sum((line.total for line in self.lines), Money.zero(self.currency))

    @property
    def gaps(self) -> tuple[str, ...]:
        """Fields customs will ask for that the order did not give: shown on the case, not guessed."""
        return tuple(f"items[{line.number - 1}].hs_code" for line in self.lines if not line.hs_code)


def _hs_code(line: CustomsLine) -> str | None:
    return line.hs_code.replace(".", "").replace(" ", "") if line.hs_code else None


def returns_invoice(order: ReturnShipmentOrder) -> ReturnsInvoice:
    """The returns invoice for `order`; goods of unknown origin are declared as made where the merchant is."""
    lines = tuple(
        InvoiceLine(
            number=line.number,
            description=line.description,
            quantity=line.quantity,
            unit_value=Money.rounded(line.unit_price, order.currency),
            hs_code=_hs_code(line),
            origin_country=line.origin_country or order.receiver.country,
            net_weight_kg=line.weight_kg,
        )
        for line in order.lines
    )
    return ReturnsInvoice(
        number=order.reference[:35],
        date=order.ship_date,
        currency=order.currency,
        lines=lines,
        original_order_id=order.original_order_id,
    )
