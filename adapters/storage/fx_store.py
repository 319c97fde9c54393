"""Storage of exchange rates (the cache the rate book starts from) and of the merchant's FX ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.storage.models import FxLedgerRow, FxRateRow
from core.ledger import LedgerEntry
from core.money import Conversion, Money
from core.rates import PublishedRates


class SqlRateStore:
    """The `RateStore` of service.rates over the `fx_rates` table: insert or replace per day and currency."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    def load(self, source: str, anchor: str) -> PublishedRates | None:
        days: dict[date, dict[str, Decimal]] = defaultdict(dict)
        with self._factory() as session:
            rows = session.scalars(select(FxRateRow).where(FxRateRow.source == source, FxRateRow.anchor == anchor))
            for row in rows:
                days[row.rate_date][row.currency] = Decimal(row.rate)
        return PublishedRates(source, anchor, dict(days)) if days else None

    def save(self, rates: PublishedRates) -> None:
        now = datetime.now(UTC)
        with self._factory() as session:
            for day, table in rates.days.items():
                for currency, rate in table.items():
                    session.merge(
                        FxRateRow(
                            source=rates.source,
                            rate_date=day,
                            currency=currency,
                            anchor=rates.anchor,
                            rate=str(rate),
                            fetched_at=now,
                        )
                    )
            session.commit()


def _conversion(refund: Money, amount: str, currency: str, rate: str, rate_date: date, source: str) -> Conversion:
    return Conversion(refund, Money(Decimal(amount), currency), Decimal(rate), rate_date, source)


class FxLedger:
    """One ledger row per case: the latest refund figures replace earlier ones (refund.requested → completed)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def put(self, case_id: str, entry: LedgerEntry, now: datetime) -> None:
        self.session.merge(
            FxLedgerRow(
                case_id=case_id,
                refund_amount=str(entry.refund.amount),
                refund_currency=entry.refund.currency,
                settlement_currency=entry.settlement_currency,
                sale_date=entry.sale_date,
                refund_date=entry.refund_date,
                at_sale_amount=str(entry.at_sale.converted.amount),
                at_sale_rate=format(entry.at_sale.rate, "f"),
                at_sale_rate_date=entry.at_sale.rate_date,
                at_refund_amount=str(entry.at_refund.converted.amount),
                at_refund_rate=format(entry.at_refund.rate, "f"),
                at_refund_rate_date=entry.at_refund.rate_date,
                source=entry.at_refund.source,
                fx_gain_loss=str(entry.fx_gain_loss.amount),
                recorded_at=now,
            )
        )

    def entries(
        self, settlement_currency: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[tuple[str, LedgerEntry]]:
        """(case id, entry) by refund date, optionally within [since, until]."""
        stmt = select(FxLedgerRow)
        if settlement_currency:
            stmt = stmt.where(FxLedgerRow.settlement_currency == settlement_currency)
        if since:
            stmt = stmt.where(FxLedgerRow.refund_date >= since)
        if until:
            stmt = stmt.where(FxLedgerRow.refund_date <= until)
        result = []
        for row in self.session.scalars(stmt.order_by(FxLedgerRow.refund_date, FxLedgerRow.case_id)):
            refund = Money(Decimal(row.refund_amount), row.refund_currency)
            entry = LedgerEntry(
                refund=refund,
                settlement_currency=row.settlement_currency,
                sale_date=row.sale_date,
                refund_date=row.refund_date,
                at_sale=_conversion(
                    refund,
                    row.at_sale_amount,
                    row.settlement_currency,
                    row.at_sale_rate,
                    row.at_sale_rate_date,
                    row.source,
                ),
                at_refund=_conversion(
                    refund,
                    row.at_refund_amount,
                    row.settlement_currency,
                    row.at_refund_rate,
                    row.at_refund_rate_date,
                    row.source,
                ),
            )
            result.append((row.case_id, entry))
        return result
