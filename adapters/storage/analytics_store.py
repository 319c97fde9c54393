"""The analytics' queries over `return_facts` and `customs_claims`: grouped counts and sums, all on indexes.

Each query reads one period through an index (requested, seen, refunded or due time) and
groups in the database; only the short lists (breaches, signals) come back as rows. Money
is summed as integers of minor units; duty/VAT claims keep their amounts as exact decimal
text, so those few rows are summed here with Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from adapters.storage.models import CustomsClaimRow, ReturnFactsRow
from core.analytics import DIMENSIONS, NO_REFUND_OWED, Period, rank

F = ReturnFactsRow
# The nullable flag as a condition (NULL reads as false, as SQL has it); typed as the condition it is used as.
FIRST_OF_ORDER: ColumnElement[bool] = F.first_of_order  # type: ignore[assignment]


@dataclass(frozen=True)
class Group:
    key: str
    orders: int
    returns: int


class AnalyticsStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _requested(self, period: Period) -> Any:
        return and_(F.requested_at >= period.start, F.requested_at < period.end)

    def _seen(self, period: Period) -> Any:
        return and_(F.seen_at >= period.start, F.seen_at < period.end)

    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def breakdown(self, period: Period) -> tuple[tuple[int, int], dict[str, list[Group]]]:
        """(orders seen, returns asked for) in the period, and the same by each dimension, most returns first.

        One pass over the period's rows (those asked for in it, or whose order was seen in it). PostgreSQL
        groups by every dimension at once (GROUPING SETS); elsewhere one grouped query per dimension.
        An order is counted once, on its first case (a delivery report and its return are one order).
        """
        columns: list[InstrumentedAttribute[Any]] = [getattr(F, d) for d in DIMENSIONS]
        found: dict[str, list[Group]] = {d: [] for d in DIMENSIONS}
        if self._postgres():
            # Two index-only scans (returns by request time, first cases of orders by seen time), one grouping.
            asked = select(*columns, literal(1).label("asked"), literal(0).label("order")).where(
                self._requested(period)
            )
            seen = select(*columns, literal(0), literal(1)).where(self._seen(period), FIRST_OF_ORDER)
            both = union_all(asked, seen).subquery()
            keys = [both.c[d] for d in DIMENSIONS]
            rows = self.session.execute(
                select(*keys, func.sum(both.c.asked), func.sum(both.c.order)).group_by(func.grouping_sets(*keys))
            ).all()
            for row in rows:
                for i, dimension in enumerate(DIMENSIONS):
                    if row[i] is not None:
                        found[dimension].append(Group(row[i], int(row[-1]), int(row[-2])))
        else:
            in_period = or_(self._requested(period), self._seen(period))
            returns = func.count().filter(self._requested(period))
            orders = func.count().filter(and_(self._seen(period), FIRST_OF_ORDER))
            for dimension, column in zip(DIMENSIONS, columns, strict=True):
                grouped = self.session.execute(select(column, returns, orders).where(in_period).group_by(column))
                found[dimension] = [Group(key, n_orders, n_returns) for key, n_returns, n_orders in grouped]
        totals = (sum(g.orders for g in found["marketplace"]), sum(g.returns for g in found["marketplace"]))
        return totals, {d: sorted(groups, key=lambda g: (-g.returns, -g.orders, g.key)) for d, groups in found.items()}

    def refund_minutes(self, period: Period) -> tuple[int, int | None, int | None]:
        """(refunds paid in the period, median and 90th percentile (nearest rank) of minutes from request to refund)."""
        paid = and_(F.refunded_at >= period.start, F.refunded_at < period.end, F.refund_minutes.is_not(None))
        if self._postgres():
            count, median, p90 = self.session.execute(
                select(func.count(), func.percentile_disc(0.5).within_group(F.refund_minutes),
                       func.percentile_disc(0.9).within_group(F.refund_minutes)).where(paid)
            ).one()  # fmt: skip
            return count, median, p90
        count = self.session.scalar(select(func.count()).where(paid)) or 0
        if not count:
            return 0, None, None

        def at(fraction: str) -> int | None:
            return self.session.scalar(
                select(F.refund_minutes).where(paid).order_by(F.refund_minutes)
                .offset(rank(count, Decimal(fraction))).limit(1)
            )  # fmt: skip

        return count, at("0.5"), at("0.9")

    def deadline_counts(self, period: Period, now: datetime) -> tuple[int, int, int]:
        """Of refund deadlines falling in the period: (met, paid late, passed with the refund still unpaid)."""
        due = and_(F.refund_due_by >= period.start, F.refund_due_by < period.end)
        met, late, unpaid = self.session.execute(
            select(
                func.count().filter(F.refunded_at.is_not(None), F.refund_late.is_(False)),
                func.count().filter(F.refund_late.is_(True)),
                func.count().filter(self._unpaid_past(period, now)),
            ).where(due)
        ).one()
        return met, late, unpaid

    def _unpaid_past(self, period: Period, now: datetime) -> Any:
        return and_(
            F.refund_due_by >= period.start,
            F.refund_due_by < min(period.end, now),
            F.refunded_at.is_(None),
            F.state.not_in(NO_REFUND_OWED),
        )

    def breaches(self, period: Period, now: datetime, limit: int) -> list[ReturnFactsRow]:
        """Refund deadlines in the period that were missed (paid late, or passed unpaid), the worst first."""
        due = and_(F.refund_due_by >= period.start, F.refund_due_by < period.end)
        late = list(self.session.scalars(select(F).where(due, F.refund_late.is_(True)).limit(limit)))
        unpaid = list(self.session.scalars(select(F).where(self._unpaid_past(period, now)).limit(limit)))
        return late + unpaid

    def refunds(self, period: Period) -> list[tuple[str, int, int]]:
        """(currency, refunds paid, sum in minor units) in the period."""
        rows = self.session.execute(
            select(F.refund_currency, func.count(), func.sum(F.refund_minor))
            .where(F.refunded_at >= period.start, F.refunded_at < period.end, F.refund_minor.is_not(None))
            .group_by(F.refund_currency)
        ).all()
        return sorted((currency, count, int(total or 0)) for currency, count, total in rows if currency)

    def duty_recovered(self, period: Period) -> list[tuple[str, int, Decimal]]:
        """(currency, claims, amount) of duty/VAT claims the authority accepted in the period."""
        found: dict[str, tuple[int, Decimal]] = {}
        for currency, amount in self.session.execute(
            select(CustomsClaimRow.currency, CustomsClaimRow.amount).where(
                CustomsClaimRow.status == "accepted",
                CustomsClaimRow.updated_at >= period.start,
                CustomsClaimRow.updated_at < period.end,
            )
        ):
            count, total = found.get(currency, (0, Decimal(0)))
            found[currency] = (count + 1, total + Decimal(amount))
        return sorted((currency, count, total) for currency, (count, total) in found.items())

    def serial_returners(
        self, window: Period, min_returns: int, min_orders: int, share: Decimal, limit: int
    ) -> list[dict[str, Any]]:
        """Buyers with `min_returns` returns in the window, or `min_orders` orders of which `share` of the
        value came back; most returns first, then the highest share. Values per currency, in minor units.

        An order counts once (its delivery report and its return are one order), worth what was
        reported with it or, when nothing was, what was asked back.
        """
        seen = and_(F.seen_at >= window.start, F.seen_at < window.end, F.buyer_key.is_not(None))
        asked = F.requested_at.is_not(None)
        # An order is worth what was reported with it, counted on its first case (or, reported by its return
        # alone, what was asked back): one pass grouped by buyer, read from the seen-time index alone.
        worth = case((FIRST_OF_ORDER, func.coalesce(F.ordered_minor, F.returned_minor, 0)), else_=0)
        returns, orders = func.count(F.requested_at), func.count().filter(FIRST_OF_ORDER)
        ordered_value = func.sum(worth)
        returned_value = func.coalesce(func.sum(F.returned_minor).filter(asked), 0)
        basis_points = int((share * 10_000).to_integral_value())
        rows = self.session.execute(
            select(F.buyer_key, F.currency, func.min(F.marketplace), orders, returns, ordered_value, returned_value)
            .where(seen)
            .group_by(F.buyer_key, F.currency)
            .having(or_(returns >= min_returns,
                        and_(orders >= min_orders, returns > 0, returned_value * 10_000 >= ordered_value * basis_points)))
            .order_by(returns.desc(), (returned_value * 10_000 / func.nullif(ordered_value, 0)).desc(), F.buyer_key)
            .limit(limit)
        ).all()  # fmt: skip
        found = [
            {"buyer_key": key, "currency": currency, "marketplace": marketplace, "orders": n_orders,
             "returns": int(n_returns), "ordered": int(ordered or 0), "returned": int(returned or 0), "cases": []}
            for key, currency, marketplace, n_orders, n_returns, ordered, returned in rows
        ]  # fmt: skip
        by_key = {(b["buyer_key"], b["currency"]): b for b in found}
        if by_key:
            for key, currency, case_id in self.session.execute(
                select(F.buyer_key, F.currency, F.case_id)
                .where(seen, F.requested_at.is_not(None), F.buyer_key.in_([b["buyer_key"] for b in found]))
                .order_by(F.requested_at)
            ):
                if (key, currency) in by_key:
                    by_key[(key, currency)]["cases"].append(case_id)
        return found

    def condition_flags(self, period: Period, limit: int) -> tuple[int, list[ReturnFactsRow]]:
        flagged = and_(self._requested(period), F.worn | F.tags_removed)
        count = self.session.scalar(select(func.count()).where(flagged)) or 0
        rows = list(self.session.scalars(select(F).where(flagged).order_by(F.requested_at.desc()).limit(limit)))
        return count, rows

    def reason_changes(self, period: Period, limit: int) -> tuple[int, list[ReturnFactsRow]]:
        changed = and_(self._requested(period), F.reason_changed)
        count = self.session.scalar(select(func.count()).where(changed)) or 0
        rows = list(self.session.scalars(select(F).where(changed).order_by(F.requested_at.desc()).limit(limit)))
        return count, rows
