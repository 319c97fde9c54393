"""The return analytics report: where returns come from, how fast refunds are paid, where money goes.

Figures over a chosen period (seed 001 ch. 7): return rate and counts by reason, marketplace,
category, lane and jurisdiction; time from request to refund (median, p90) against the
refund deadlines the policy set, with the breaches listed; refunds and duty/VAT recovered by
currency. And buyer-level abuse signals (seed 001 §7.3(5); seed 000 on goods used or with
tags cut): each one a pointer for a person, with the evidence, never a decision. Nothing
reads them back into a case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.analytics import (
    DIMENSIONS,
    SERIAL_MIN_RETURNS,
    SERIAL_RETURNED_SHARE,
    SERIAL_SHARE_MIN_ORDERS,
    SIGNAL_WINDOW_DAYS,
    Period,
    rate,
)
from core.money import Money

SIGNAL_NOTE = (
    "Signals for a person to review with the evidence on each case. They never refuse, delay or change a return."
)
LIST_LIMIT = 100


@dataclass(frozen=True)
class SignalThresholds:
    """When a buyer is a serial returner: many returns, or a high returned share of value, in the window."""

    window_days: int = SIGNAL_WINDOW_DAYS
    min_returns: int = SERIAL_MIN_RETURNS
    returned_share: Decimal = SERIAL_RETURNED_SHARE
    share_min_orders: int = SERIAL_SHARE_MIN_ORDERS

    def to_json(self) -> dict[str, Any]:
        return {"window_days": self.window_days, "min_returns": self.min_returns,
                "returned_share": str(self.returned_share), "share_min_orders": self.share_min_orders}  # fmt: skip


def _hours(minutes: int | None) -> str | None:
    return None if minutes is None else str((Decimal(minutes) / 60).quantize(Decimal("0.1")))


def _money(minor: int, currency: str) -> str:
    return str(Money.from_minor(minor, currency).amount)


class ReturnAnalytics:
    """Builds the report in one read-only transaction of the unit of work."""

    def __init__(self, uow: Callable[[], Any], clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.clock = clock

    def report(self, period: Period, thresholds: SignalThresholds | None = None) -> dict[str, Any]:
        thresholds = thresholds or SignalThresholds()
        now = self.clock()
        with self.uow() as uow:
            store = uow.analytics
            (orders, returns), groups = store.breakdown(period)
            by = {
                dimension: [
                    {"key": g.key, "returns": g.returns, "orders": g.orders if dimension != "reason" else None,
                     "return_rate": _share(g.returns, orders if dimension == "reason" else g.orders)}
                    for g in groups[dimension]
                    if g.returns or dimension != "reason"  # an order with no return has no reason to count
                ]
                for dimension in DIMENSIONS
            }  # fmt: skip
            timing = self._timing(store, period, now)
            refunds = [
                {"currency": currency, "refunds": count, "amount": _money(total, currency)}
                for currency, count, total in store.refunds(period)
            ]
            duty = [
                {"currency": currency, "claims": count, "amount": str(total)}
                for currency, count, total in store.duty_recovered(period)
            ]
            signals = self._signals(store, period, thresholds)
        return {
            "period": period.to_json(),
            "as_of": now.isoformat(timespec="seconds"),
            "totals": {"orders": orders, "returns": returns, "return_rate": _share(returns, orders)},
            "by": by,
            "refund_timing": timing,
            "refunds": refunds,
            "duty_vat_recovered": duty,
            "signals": signals,
        }

    def _timing(self, store: Any, period: Period, now: datetime) -> dict[str, Any]:
        refunded, median, p90 = store.refund_minutes(period)
        met, late, unpaid = store.deadline_counts(period, now)
        breaches = []
        for row in store.breaches(period, now, LIST_LIMIT):
            over = (row.refunded_at or now) - row.refund_due_by
            breaches.append({
                "case_id": row.case_id, "marketplace": row.marketplace, "order_id": row.order_id,
                "jurisdiction": row.jurisdiction, "state": row.state,
                "refund_due_by": row.refund_due_by.isoformat(),
                "refunded_at": row.refunded_at.isoformat() if row.refunded_at else None,
                "hours_late": str((Decimal(int(over.total_seconds())) / 3600).quantize(Decimal("0.1"))),
            })  # fmt: skip
        breaches.sort(key=lambda b: -Decimal(b["hours_late"]))
        return {
            "refunded": refunded,
            "median_hours": _hours(median),
            "p90_hours": _hours(p90),
            "deadlines": {
                "met": met,
                "paid_late": late,
                "passed_unpaid": unpaid,
                "met_rate": _share(met, met + late + unpaid),
            },
            "breaches": breaches,
        }

    def _signals(self, store: Any, period: Period, thresholds: SignalThresholds) -> dict[str, Any]:
        window = Period(period.end - timedelta(days=thresholds.window_days), period.end)
        serial = []
        found = store.serial_returners(window, thresholds.min_returns, thresholds.share_min_orders,
                                       thresholds.returned_share, LIST_LIMIT)  # fmt: skip
        for buyer in found:
            share = rate(buyer["returned"], buyer["ordered"])
            why = []
            if buyer["returns"] >= thresholds.min_returns:
                why.append(f"{buyer['returns']} returns in {thresholds.window_days} days")
            if (
                share is not None
                and buyer["orders"] >= thresholds.share_min_orders
                and share >= thresholds.returned_share
            ):
                why.append(f"{share:.0%} of the value of {buyer['orders']} orders returned")
            currency = buyer["currency"]
            serial.append({
                "buyer_key": buyer["buyer_key"], "marketplace": buyer["marketplace"], "returns": buyer["returns"],
                "orders": buyer["orders"], "currency": currency,
                "returned_value": _money(buyer["returned"], currency) if currency else None,
                "ordered_value": _money(buyer["ordered"], currency) if currency else None,
                "returned_share": str(share) if share is not None else None,
                "why": why, "case_ids": buyer["cases"][-20:],
            })  # fmt: skip
        worn_count, worn = store.condition_flags(period, LIST_LIMIT)
        changed_count, changed = store.reason_changes(period, LIST_LIMIT)
        return {
            "note": SIGNAL_NOTE,
            "thresholds": thresholds.to_json(),
            "window": window.to_json(),
            "serial_returners": serial[:LIST_LIMIT],
            "worn_or_tags_removed": {
                "count": worn_count,
                "cases": [
                    {
                        **_case_ref(row),
                        "worn": row.worn,
                        "tags_removed": row.tags_removed,
                        "evidence": _condition_words(row),
                    }
                    for row in worn
                ],
            },
            "reason_changed": {
                "count": changed_count,
                "cases": [
                    {
                        **_case_ref(row),
                        "reason_at_request": row.reason_at_request,
                        "reason_at_inspection": row.reason_at_inspection,
                    }
                    for row in changed
                ],
            },
        }


def _share(part: int, whole: int) -> str | None:
    found = rate(part, whole)
    return None if found is None else str(found)


def _case_ref(row: Any) -> dict[str, Any]:
    return {"case_id": row.case_id, "marketplace": row.marketplace, "order_id": row.order_id,
            "buyer_key": row.buyer_key, "reason": row.reason, "state": row.state,
            "requested_at": row.requested_at.isoformat() if row.requested_at else None}  # fmt: skip


def _condition_words(row: Any) -> str:
    found = [words for flag, words in ((row.worn, "used or worn"), (row.tags_removed, "tags removed")) if flag]
    return " and ".join(found)


def backfill_facts(uow: Callable[[], Any], clock: Callable[[], datetime], batch: int = 500) -> int:
    """Give every case stored before the analytics existed its `return_facts` row; returns how many."""
    done = 0
    while True:
        with uow() as work:
            ids = work.cases.without_facts(batch)
            for case_id in ids:
                work.cases.record_facts(work.cases.get(case_id), clock())
            work.commit()
        done += len(ids)
        if len(ids) < batch:
            return done
