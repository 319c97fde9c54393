"""The merchant's ledger of a refund: its cost in the settlement currency and the exchange gain or loss.

A sale in a foreign currency was booked at the sale-date rate; refunding it costs
the same foreign amount, now worth what the refund-date rate says. The difference
is the merchant's exchange gain (the refund costs less than was booked) or loss.
ECB reference rates serve for this reporting purpose (policy_fx_l10n.md §5.1,
"Picking a rate for a refund": FX is for the merchant ledger and display only; the
buyer is refunded in the currency they paid in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from core.money import Conversion, Money, RateSource, convert


@dataclass(frozen=True)
class LedgerEntry:
    """One refund in the settlement currency, at both rates, with the exchange result."""

    refund: Money
    settlement_currency: str
    sale_date: date
    refund_date: date
    at_sale: Conversion
    at_refund: Conversion

    @property
    def fx_gain_loss(self) -> Money:
        """Positive is a gain: the refund costs less in settlement currency than the sale was booked at."""
        return self.at_sale.converted - self.at_refund.converted

    def to_json(self) -> dict[str, Any]:
        return {
            "refund": self.refund.to_json(),
            "settlement_currency": self.settlement_currency,
            "sale_date": self.sale_date.isoformat(),
            "refund_date": self.refund_date.isoformat(),
            "at_sale": self.at_sale.to_json(),
            "at_refund": self.at_refund.to_json(),
            "fx_gain_loss": self.fx_gain_loss.to_json(),
        }


def ledger_entry(
    refund: Money, settlement_currency: str, sale_date: date, refund_date: date, rates: RateSource
) -> LedgerEntry:
    """`refund` (in the payment currency) valued at the sale-date and refund-date rates.

    Each side is rounded once, half-up, to the settlement currency's minor unit, so
    the gain or loss is exact in that currency and equals the difference of the two
    amounts shown.
    """
    return LedgerEntry(
        refund=refund,
        settlement_currency=settlement_currency,
        sale_date=sale_date,
        refund_date=refund_date,
        at_sale=convert(refund, settlement_currency, rates, sale_date),
        at_refund=convert(refund, settlement_currency, rates, refund_date),
    )


@dataclass(frozen=True)
class LedgerTotals:
    settlement_currency: str
    cases: int
    refunded: Money  # at refund-date rates: what the refunds cost
    booked: Money  # at sale-date rates: what those sales were booked at
    fx_gain_loss: Money

    def to_json(self) -> dict[str, Any]:
        return {
            "settlement_currency": self.settlement_currency,
            "cases": self.cases,
            "refunded": self.refunded.to_json(),
            "booked": self.booked.to_json(),
            "fx_gain_loss": self.fx_gain_loss.to_json(),
        }


def ledger_totals(entries: list[LedgerEntry], settlement_currency: str) -> LedgerTotals:
    """Sums for the report; entries kept in another settlement currency are not mixed in."""
    refunded = booked = Money.zero(settlement_currency)
    count = 0
    for entry in entries:
        if entry.settlement_currency != settlement_currency:
            continue
        refunded += entry.at_refund.converted
        booked += entry.at_sale.converted
        count += 1
    return LedgerTotals(settlement_currency, count, refunded, booked, booked - refunded)


# --- the case's money ledger (issue 19) ---------------------------------------------------------------------
#
# Every amount that moves on a case is one line in `ReturnCase.ledger`, in the payment currency:
# what goes to the buyer (refund, partial refund, compensation, dispute award), what is kept back from it
# (deductions: a buyer-paid return label, diminished value, a restocking fee where the law allows it) and
# what comes back to the merchant (return-shipping insurance 运费险, carrier claims, duty/VAT recovery).
# Payouts together never exceed what the buyer paid for the lines plus the delivery the law refunds.

PAYOUTS: tuple[str, ...] = ("refund", "partial_refund", "compensation", "dispute_award")
DEDUCTIONS: tuple[str, ...] = ("deduction",)
RECOVERIES: tuple[str, ...] = ("insurance", "carrier_claim", "duty_vat_recovery")
# A payout counts against the cap once asked for, until it is known to have failed.
COUNTED: tuple[str, ...] = ("requested", "agreed", "paid")


class AmountOverCap(ValueError):
    """A payout asked for above what is left under the cap (HTTP 422 naming the cap)."""

    def __init__(self, asked: Money, cap: Money, already: Money) -> None:
        left = cap - already
        super().__init__(
            f"{asked} exceeds the refund cap of {cap} (paid for the lines plus refundable delivery); "
            f"{already} is already paid or asked for, so at most {left} can be paid"
        )
        self.asked, self.cap, self.already, self.left = asked, cap, already, left


@dataclass(frozen=True)
class LedgerLine:
    """One amount that moved on a case; `amount` is None where the payment currency is not known."""

    kind: str  # one of PAYOUTS, DEDUCTIONS, RECOVERIES
    amount: Money | None
    at: datetime
    status: str  # requested, agreed, paid, failed (payouts); pending, applied (deductions); claimed, recovered
    detail: Mapping[str, Any] = field(default_factory=dict)  # what it was for: key, reason, source, carrier

    @property
    def payout(self) -> bool:
        return self.kind in PAYOUTS

    def with_status(self, status: str) -> LedgerLine:
        return replace(self, status=status)

    def in_currency(self, currency: str) -> bool:
        return self.amount is not None and self.amount.currency == currency

    def to_json(self) -> dict[str, Any]:
        """As stored and shown (the case view's `ledger.entries`, the timeline's `ledger_<kind>`)."""
        return {
            "kind": self.kind,
            "amount": str(self.amount.amount) if self.amount is not None else None,
            "currency": self.amount.currency if self.amount is not None else None,
            "at": self.at.isoformat(),
            "status": self.status,
            **self.detail,
        }


def entry(kind: str, amount: Money | None, at: datetime, status: str, **detail: Any) -> LedgerLine:
    """One ledger line; detail left out (None) is not kept."""
    return LedgerLine(kind, amount, at, status, {k: v for k, v in detail.items() if v is not None})


def total(lines: Sequence[LedgerLine], currency: str, kinds: tuple[str, ...], statuses: tuple[str, ...]) -> Money:
    """The sum of the lines of `kinds` in `statuses`, in `currency` (other currencies are not mixed in)."""
    result = Money.zero(currency)
    for line in lines:
        if line.kind in kinds and line.status in statuses and line.amount is not None and line.in_currency(currency):
            result = result + line.amount
    return result


def summary(lines: Sequence[LedgerLine], currency: str | None, cap: Money | None) -> dict[str, Any]:
    """What the case view shows: the entries, and the totals a person checks against the cap."""
    entries = [line.to_json() for line in lines]
    if currency is None:
        return {"entries": entries, "cap": None}
    return {
        "entries": entries,
        "cap": cap.to_json() if cap is not None else None,
        "paid_out": total(lines, currency, PAYOUTS, ("paid", "agreed")).to_json(),
        "pending": total(lines, currency, PAYOUTS, ("requested",)).to_json(),
        "deducted": total(lines, currency, DEDUCTIONS, ("applied", "pending")).to_json(),
        "recovered": total(lines, currency, RECOVERIES, ("claimed", "recovered")).to_json(),
    }
