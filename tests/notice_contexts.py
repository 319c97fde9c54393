"""A complete context for every notice kind, as a case would record it (JSON, UTC times)."""

from __future__ import annotations

from typing import Any

EUR = {"amount": "49.90", "currency": "EUR"}

FULL_CONTEXTS: dict[str, dict[str, Any]] = {
    "request_received": {
        "order_id": "ORD-1001",
        "return_id": "RET-77",
        "requested_at": "2026-11-20T23:30:00+00:00",
        "amount": EUR,
    },
    "return_approved": {
        "order_id": "ORD-1001",
        "return_id": "RET-77",
        "method": "label",
        "label_url": "https://labels.example/RET-77.pdf",
        "ship_by": "2026-11-30T22:59:00+00:00",
        "amount": EUR,
    },
    "return_rejected": {
        "order_id": "ORD-1001",
        "return_id": "RET-77",
        "reason": "outside_return_window",
        "appeal_by": "2026-12-07T22:59:00+00:00",
        "note": "Delivered 2026-09-01.",
    },
    "ship_by_reminder": {"return_id": "RET-77", "ship_by": "2026-11-30T22:59:00+00:00"},
    "return_shipped": {"order_id": "ORD-1001", "return_id": "RET-77", "tracking_number": "SF1234567890123"},
    "return_expired": {"order_id": "ORD-1001", "return_id": "RET-77"},
    "cancellation_refused": {"order_id": "ORD-1001"},
    "refund_failed": {"order_id": "ORD-1001", "return_id": "RET-77", "amount": {"amount": "49.90", "currency": "EUR"}},
    "return_received": {"order_id": "ORD-1001", "return_id": "RET-77", "received_at": "2026-12-02T09:15:00+00:00"},
    "inspection_result": {"return_id": "RET-77", "passed": True, "inspected_at": "2026-12-03T10:00:00+00:00"},
    "refund_paid": {
        "return_id": "RET-77",
        "amount": EUR,
        "route": "original_payment",
        "issued_at": "2026-12-03T12:00:00+00:00",
        "expected_by": "2026-12-10T12:00:00+00:00",
    },
    "exchange_shipped": {
        "order_id": "ORD-1001",
        "carrier": "dhl_express",
        "tracking_number": "JD014600006101234567",
        "shipped_at": "2026-12-04T08:00:00+00:00",
        "expected_by": "2026-12-09T18:00:00+00:00",
    },
    "interception_result": {"order_id": "ORD-1001", "outcome": "stopped"},
    "dispute_update": {
        "order_id": "ORD-1001",
        "stage": "opened",
        "dispute_at": "2026-12-05T08:00:00+00:00",
        "respond_by": "2026-12-12T08:00:00+00:00",
    },
    "withdrawal_confirmation": {
        "order_id": "ORD-1001",
        "return_id": "RET-77",
        "withdrawn_at": "2026-11-20T23:30:00+00:00",
        "refund_due_by": "2026-12-04T23:30:00+00:00",
        "amount": EUR,
    },
}

# Variants that pick other paragraphs: each code value and each yes/no fact once.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("return_approved", {"method": "pickup", "carrier": "sf_express", "pickup_at": "2026-11-25T02:00:00+00:00"}),
    ("return_approved", {"method": "pickup", "carrier": "ups"}),  # the pickup date is not known yet
    ("return_approved", {"label_url": None, "carrier": "fedex"}),  # the label is not ready yet
    ("return_approved", {"method": "drop_off", "return_address": "Returnbridge DC, Am Hafen 1, 20457 Hamburg"}),
    ("inspection_result", {"passed": False, "appeal_by": "2026-12-10T22:59:00+00:00", "note": "Scratched."}),
    ("inspection_result", {"passed": False}),  # no appeal deadline known: how to appeal, undated
    ("return_rejected", {"appeal_by": None}),
    ("interception_result", {"outcome": "not_stopped"}),
    ("dispute_update", {"stage": "resolved_for_buyer"}),
    ("dispute_update", {"stage": "resolved_for_seller"}),
    ("withdrawal_confirmation", {"amount": None}),
    *[("return_rejected", {"reason": r}) for r in ("item_used", "missing_evidence", "excluded_item", "other")],
    *[("refund_paid", {"route": r}) for r in ("marketplace_balance", "bank_transfer", "store_credit")],
]
