"""Currency on a case: the refund's display amount, the merchant's ledger, and the record of every conversion.

The buyer is refunded in the currency they paid in (CRD art. 13(1): the same means
of payment; policy_fx_l10n.md §5.1). That amount is also shown in the buyer's
display currency: `buyer.display_currency` when the event gives one, else the
currency of the ship-to country (Babel/CLDR territory data, §5.4), rounded half-up
to that currency's ISO minor unit. Each conversion keeps its rate, rate date and
source in the case's facts, so the figures shown can always be recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from babel.numbers import get_territory_currencies

from core.events import Order, ReturnEvent
from core.ledger import LedgerEntry, ledger_entry
from core.money import Conversion, Money, MoneyError, RateSource, convert, is_currency
from core.rates import RateUnavailable

# Currency changes newer than the CLDR data in Babel 2.18: (territory, from date, currency).
# Bulgaria adopted the euro on 1 January 2026 (policy_fx_l10n.md §5.1 "BGN ends", §5.4:
# Babel 2.18 still answers BGN).
TERRITORY_CURRENCY_CHANGES: tuple[tuple[str, date, str], ...] = (("BG", date(2026, 1, 1), "EUR"),)

# Events after which the refund's display amount is worked out, and those that also book the ledger.
DISPLAY_EVENTS = frozenset({"return.requested", "return.approved", "refund.requested", "refund.completed"})
LEDGER_EVENTS = frozenset({"refund.requested", "refund.completed"})


def territory_currency(country: str, on: date) -> str | None:
    """The legal tender of `country` on `on`; the first one CLDR lists when there are several (PA: PAB)."""
    country = country.upper()
    for territory, since, currency in TERRITORY_CURRENCY_CHANGES:
        if territory == country and on >= since:
            return currency
    try:
        currencies = get_territory_currencies(country, start_date=on, tender=True)
    except (KeyError, ValueError):
        return None
    return next((c for c in currencies if is_currency(c)), None)


def display_currency(order: Order, on: date) -> str | None:
    """`buyer.display_currency`, else the currency of the ship-to country (contract: POST /policy/evaluate)."""
    if order.buyer is not None and order.buyer.display_currency and is_currency(order.buyer.display_currency):
        return order.buyer.display_currency
    if order.ship_to is not None and order.ship_to.country:
        return territory_currency(order.ship_to.country, on)
    return None


def refund_display(refund: Money, order: Order, rates: RateSource, on: date) -> Conversion | None:
    """The refund in the buyer's display currency, or None when no display currency is known.

    Raises `RateUnavailable` when the source publishes no rate for that currency (the
    ECB has no KWD or BHD, for instance).
    """
    currency = display_currency(order, on)
    if currency is None:
        return None
    return convert(refund, currency, rates, on)


def conversion_record(purpose: str, conversion: Conversion, at: datetime) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "from": conversion.original.to_json(),
        "to": conversion.converted.to_json(),
        "rate": format(conversion.rate, "f"),
        "rate_date": conversion.rate_date.isoformat(),
        "source": conversion.source,
        "at": at.isoformat(),
    }


@dataclass(frozen=True)
class FxOutcome:
    display: Conversion | None
    ledger: LedgerEntry | None
    errors: tuple[str, ...]


class FxRecorder:
    """Works out the display amount and ledger entry of a case's refund and writes them into its facts."""

    def __init__(self, rates: RateSource, settlement_currency: str) -> None:
        self.rates = rates
        self.settlement_currency = settlement_currency

    @staticmethod
    def refund_of(case: Any) -> Money | None:
        """The refund asked for, else the value of the returned lines; in the payment currency."""
        currency = case.order.currency
        if not currency:
            return None
        if case.return_.refund_amount is not None:
            return Money(case.return_.refund_amount, currency)
        return case.return_value()

    def record(self, case: Any, event: ReturnEvent, now: datetime) -> FxOutcome:
        """Update `case.facts["fx"]` after `event`; never raises for missing rates, records why instead."""
        if event.type not in DISPLAY_EVENTS:
            return FxOutcome(None, None, ())
        try:
            refund = self.refund_of(case)
        except MoneyError as exc:
            return self._store(case, now, None, None, (f"refund amount: {exc}",), None)
        if refund is None:
            return FxOutcome(None, None, ())
        on = event.occurred_at.date() if event.type == "refund.completed" else now.date()
        errors: list[str] = []
        display: Conversion | None = None
        ledger: LedgerEntry | None = None
        try:
            display = refund_display(refund, case.order, self.rates, on)
        except (RateUnavailable, MoneyError) as exc:
            errors.append(f"display: {exc}")
        if event.type in LEDGER_EVENTS:
            if case.order.placed_at is None:
                errors.append("ledger: the order has no placed_at, so there is no sale-date rate")
            else:
                try:
                    ledger = ledger_entry(refund, self.settlement_currency, case.order.placed_at.date(), on, self.rates)
                except (RateUnavailable, MoneyError) as exc:
                    errors.append(f"ledger: {exc}")
        return self._store(case, now, display, ledger, tuple(errors), refund)

    def _store(
        self,
        case: Any,
        now: datetime,
        display: Conversion | None,
        ledger: LedgerEntry | None,
        errors: tuple[str, ...],
        refund: Money | None,
    ) -> FxOutcome:
        fx: dict[str, Any] = dict(case.facts.get("fx") or {})
        conversions: list[Mapping[str, Any]] = list(fx.get("conversions") or [])
        if refund is not None:
            fx["refund"] = refund.to_json()
        if display is not None:
            fx["display"] = display.to_json()
            conversions.append(conversion_record("display", display, now))
        if ledger is not None:
            fx["ledger"] = ledger.to_json()
            conversions.append(conversion_record("ledger_sale_date", ledger.at_sale, now))
            conversions.append(conversion_record("ledger_refund_date", ledger.at_refund, now))
        fx["conversions"] = conversions
        fx["errors"] = list(errors)
        case.record_fx(fx)
        return FxOutcome(display, ledger, errors)
