"""The policy engine applied to a live case: the same `core.policy.evaluate` as POST /policy/evaluate.

Every move of a case (marketplace event, operator command, timer) decides again on
what the case now knows: the request as refined by later events, and the moments
that start deadlines (requested, approved, received, inspected). Eligibility and
the display rate are judged as of the request (issue 5: the buyer's right at the
time they asked); deadlines run from each milestone on the merchant's calendar.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.calendar import Calendars
from core.cases import ReturnCase
from core.events import ReturnEvent
from core.money import RateSource
from core.policy import Milestones, PolicyTables, evaluate

# Merchant-policy keys the case reads (config/policy/merchants.json `_about` describes each).
MERCHANT_RULES: tuple[str, ...] = (
    "auto_approve_returns",
    "ineligible_on_silence",
    "buyer_paid_return",
    "return_label_cost",
    "outbound_carrier",
    "points_refund",
    "payment_timeout_hours",
    "warehouse_answer_hours",
    "refund_retry_hours",
    "appeal_hours",
    "evidence_hours",
)


def one_line(address: dict[str, str] | None) -> str | None:
    """An address as the buyer writes it on their own label: name, street, postcode and city, country."""
    if not address:
        return None
    town = " ".join(v for v in (address.get("postal_code"), address.get("city")) if v)
    parts = (address.get("name"), address.get("line1"), address.get("line2"), town, address.get("region"),
             address.get("country"))  # fmt: skip
    return ", ".join(p for p in parts if p)


def request_of(case: ReturnCase) -> ReturnEvent:
    """The return request as the case knows it now: facts merged from every event so far."""
    return ReturnEvent(
        type="return.requested",
        marketplace_event_id=case.return_id,
        occurred_at=requested_at(case),
        order=case.order,
        return_=case.return_,
        items=case.items,
    )


def requested_at(case: ReturnCase) -> datetime:
    """When the buyer asked; a case opened by a later event (approval, dispute) counts from its opening."""
    stones = case.milestones
    known = stones.get("requested_at") or case.created_at
    if known is None:
        raise ValueError(f"case {case.id} has neither a request time nor an opening time")
    return known


class CasePolicy:
    """`core.cases.Decide` for the service: tables, calendars and rates fixed, the case the only input."""

    def __init__(
        self,
        tables: PolicyTables,
        calendars: Calendars,
        rates: RateSource | None,
        merchant: str | None = None,
        returns_address: str | None = None,
    ) -> None:
        self.tables = tables
        self.calendars = calendars
        self.rates = rates
        self.merchant = merchant
        self.returns_address = returns_address  # one line, for a buyer who ships with their own label

    def __call__(self, case: ReturnCase) -> dict[str, Any]:
        stones = case.milestones
        asked = requested_at(case)
        milestones = Milestones(
            requested_at=asked,
            approved_at=stones.get("approved_at"),
            received_at=stones.get("received_at"),
            inspected_at=stones.get("inspected_at"),
            shipped_at=stones.get("shipped_at"),
        )
        decision = evaluate(
            request_of(case),
            self.tables,
            asked,
            self.calendars,
            self.rates,
            marketplace=case.marketplace,
            merchant=self.merchant,
            milestones=milestones,
            ordered_lines=case.facts.get("ordered_lines"),
        )
        return decision.to_json()

    def prepare(self, case: ReturnCase) -> None:
        """Merchant settings the lifecycle's conditions and actions read (seed 002 §1: refund at once under an
        amount; issue 19: automatic approval, silence on ineligible requests, who-pays handling, periods)."""
        policy = self.tables.merchants.get(self.merchant) if self.merchant else None
        rules = {name: (policy or {})[name] for name in MERCHANT_RULES if name in (policy or {})}
        case.adopt_merchant_policy(rules, (policy or {}).get("auto_refund_unshipped_under"), self.returns_address)
