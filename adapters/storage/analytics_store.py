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

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from adapters.storage.models import CustomsClaimRow, ReturnFactsRow
from core.analytics import DIMENSIONS, Period, rank
from core.cases import FINAL_STATES

F = ReturnFactsRow


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

    def groups(self, dimension: str, period: Period) -> list[Group]:
        """Orders seen and returns asked for in the period, by one dimension, most returns first.

        Orders are counted once per marketplace and order id (a delivery report and its return are one order).
        """
        if dimension not in DIMENSIONS:
            raise ValueError(f"no dimension {dimension!r}")
        column = getattr(F, dimension)
        returns = dict(
            self.session.execute(select(column, func.count()).where(self._requested(period)).group_by(column)).all()
        )
        orders: dict[str, int] = {}
        if dimension != "reason":  # an order has no reason: a reason's rate is over all orders
            keys = (column, F.marketplace) if dimension != "marketplace" else (column,)
            for row in self.session.execute(
                select(*keys, func.count(F.order_id.distinct())).where(self._seen(period)).group_by(*keys)
            ):
                orders[row[0]] = orders.get(row[0], 0) + row[-1]
        found = [Group(key, orders.get(key, 0), returns.get(key, 0)) for key in set(returns) | set(orders)]
        return sorted(found, key=lambda g: (-g.returns, -g.orders, g.key))

    def totals(self, period: Period) -> tuple[int, int]:
        """(orders seen, returns asked for) in the period."""
        returns = self.session.scalar(select(func.count()).where(self._requested(period))) or 0
        per_marketplace = self.session.execute(
            select(F.marketplace, func.count(F.order_id.distinct())).where(self._seen(period)).group_by(F.marketplace)
        ).all()
        return sum(n for _, n in per_marketplace), returns

    def refund_minutes(self, period: Period) -> tuple[int, int | None, int | None]:
        """(refunds paid in the period, median and 90th percentile of minutes from request to refund)."""
        paid = and_(F.refunded_at >= period.start, F.refunded_at < period.end, F.refund_minutes.is_not(None))
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
        met = self.session.scalar(select(func.count()).where(due, F.refunded_at.is_not(None), F.refund_late.is_(False)))
        late = self.session.scalar(select(func.count()).where(due, F.refund_late.is_(True)))
        unpaid = self.session.scalar(select(func.count()).where(self._unpaid_past(period, now)))
        return met or 0, late or 0, unpaid or 0

    def _unpaid_past(self, period: Period, now: datetime) -> Any:
        return and_(
            F.refund_due_by >= period.start,
            F.refund_due_by < min(period.end, now),
            F.refunded_at.is_(None),
            F.state.not_in(FINAL_STATES),
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

    def buyers(self, window: Period, min_returns: int, min_orders: int) -> list[dict[str, Any]]:
        """Buyers with returns in the window: their orders, returns and values, per currency.

        Only buyers with `min_returns` returns, or with `min_orders` orders and a return, come back;
        their orders are then read one by one so that an order reported and returned counts once.
        """
        seen = and_(F.seen_at >= window.start, F.seen_at < window.end, F.buyer_key.is_not(None))
        candidates = self.session.execute(
            select(F.buyer_key, func.count(F.requested_at), func.count(F.order_id.distinct()))
            .where(seen)
            .group_by(F.buyer_key)
            .having(
                (func.count(F.requested_at) >= min_returns)
                | ((func.count(F.order_id.distinct()) >= min_orders) & (func.count(F.requested_at) > 0))
            )
            .limit(2000)
        ).all()
        keys = [row[0] for row in candidates]
        found: dict[tuple[str, str | None], dict[str, Any]] = {}
        for chunk in range(0, len(keys), 500):
            rows = self.session.execute(
                select(F.buyer_key, F.currency, F.marketplace, F.order_id, F.case_id, F.requested_at,
                       F.ordered_minor, F.returned_minor)
                .where(seen, F.buyer_key.in_(keys[chunk : chunk + 500]))
                .order_by(F.seen_at)
            )  # fmt: skip
            for row in rows:
                buyer = found.setdefault(
                    (row.buyer_key, row.currency),
                    {"buyer_key": row.buyer_key, "currency": row.currency, "marketplace": row.marketplace,
                     "orders": {}, "cases": []},
                )  # fmt: skip
                order = buyer["orders"].setdefault(row.order_id, {"ordered": 0, "returned": 0})
                if row.ordered_minor is not None:
                    order["ordered"] = max(order["ordered"], row.ordered_minor)
                if row.requested_at is not None:
                    order["returned"] += row.returned_minor or 0
                    buyer["cases"].append(row.case_id)
        return list(found.values())

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
