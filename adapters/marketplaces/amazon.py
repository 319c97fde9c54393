"""`amazon`: Selling Partner API returns reports, polled; nothing is pushed to a webhook.

Sources (research note §3, as cited there; not re-checked against Amazon's pages here):
- SP-API notifications go only to SQS or EventBridge, and no seller "return
  requested" notification exists (developer-docs.amazon.com/sp-api/docs/notifications-api-v1-use-case-guide),
  so returns are read from the Reports API 2021-06-30: `POST /reports/2021-06-30/reports`,
  `GET /reports/2021-06-30/reports/{reportId}` until `processingStatus` is DONE,
  `GET /reports/2021-06-30/documents/{reportDocumentId}` for a pre-signed `url`.
  Report type GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE (seller-fulfilled returns,
  at most 60 days per report); columns per developer-docs.amazon.com/sp-api/docs/returns-reports-attributes.
- Access: a Login with Amazon token from `POST https://api.amazon.com/auth/o2/token`
  (grant_type=refresh_token, client_id, client_secret), sent as `x-amz-access-token`.
- Reason codes: Amazon does not publish the list; the table holds the codes seen
  in integrations (research §3.3; `CR-` prefixes stripped). `Return request status`
  is not enumerated either: the table holds Seller Central's labels, and anything
  else keeps its raw value.
- No SP-API operation approves or declines an MFN return (done in Seller Central):
  `respond` refuses, and the case says so.

Report outcomes (processingStatus, tests/fixtures/official/amazon): DONE is read
(a GZIP document decompressed), CANCELLED means no data in the window so the
window moves on, FATAL leaves the window to be asked again.

The checkpoint remembers the report being prepared, so a restart resumes it instead
of asking for another, and the window's end once its rows are taken in.

Settings: RB_AMAZON_BASE_URL (`https://sellingpartnerapi-eu.amazon.com`),
RB_AMAZON_LWA_CLIENT_ID, RB_AMAZON_LWA_CLIENT_SECRET, RB_AMAZON_REFRESH_TOKEN,
RB_AMAZON_MARKETPLACE_IDS (comma-separated), RB_AMAZON_LWA_URL (default the public
token endpoint), RB_AMAZON_LOOKBACK_DAYS (first poll, default 7).
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from adapters.http import HttpClient, OutboundRequest
from adapters.marketplaces import api_calls, canonical_events, code_tables, payloads
from adapters.marketplaces.base import MARKETPLACES, PayloadError, PollBatch, Polls, Responds, ReturnRequestApi
from adapters.marketplaces.configured import PolledOnly
from adapters.registry import Setting
from core.money import minor_unit

NAME = "amazon"
LWA_URL = "https://api.amazon.com/auth/o2/token"
REPORT_TYPE = "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"
OVERLAP = timedelta(hours=1)  # rows land in reports late; re-reading an hour costs only duplicates
MAX_SPAN = timedelta(days=60)
CREDENTIALS = ("BASE_URL", "LWA_CLIENT_ID", "LWA_CLIENT_SECRET", "REFRESH_TOKEN", "MARKETPLACE_IDS")
WAITING = {"IN_QUEUE", "IN_PROGRESS"}
NO_DATA = "CANCELLED"
"""Reports API 2021-06-30 processingStatus: "an automatic cancellation if there is no data to return"."""

STATUS_EVENTS: dict[str, str] = {
    "Pending": "return.requested",
    "PendingApproval": "return.requested",
    "Requested": "return.requested",
    "Approved": "return.approved",
    "Authorized": "return.approved",
    "Rejected": "return.rejected",
    "Declined": "return.rejected",
    "Cancelled": "return.cancelled",
    "Canceled": "return.cancelled",
    "Delivered": "return.received",
    "Received": "return.received",
    "Closed": "return.received",
    "Refunded": "refund.completed",
    "Completed": "refund.completed",
}
"""`Return request status` -> canonical type (Seller Central labels; not enumerated by Amazon)."""

REASONS: dict[str, str] = {
    "NOT_COMPATIBLE": "not_as_described",
    "UNWANTED_ITEM": "changed_mind",
    "AMZ-PG-BAD-DESC": "not_as_described",
    "QUALITY_UNACCEPTABLE": "defective",
    "NO_REASON_GIVEN": "other",
    "DEFECTIVE": "defective",
    "ORDERED_WRONG_ITEM": "changed_mind",
    "DAMAGED_BY_FC": "damaged_in_transit",
    "MISSING_PARTS": "missing_parts",
    "SWITCHEROO": "other",
    "DAMAGED_BY_CARRIER": "damaged_in_transit",
    "MISSED_ESTIMATED_DELIVERY": "late_delivery",
    "FOUND_BETTER_PRICE": "changed_mind",
    "UNAUTHORIZED_PURCHASE": "changed_mind",
    "EXTRA_ITEM": "wrong_item",
    "POOR_FIT": "size_or_fit",
    "AMZ-PG-APP-TOO-LARGE": "size_or_fit",
    "AMZ-PG-APP-TOO-SMALL": "size_or_fit",
    "NOT_AS_DESCRIBED": "not_as_described",
}
"""Return Reason codes -> canonical reason (a `CR-` prefix is removed before lookup)."""

RESOLUTIONS: dict[str, str] = {"StandardRefund": "refund", "Replacement": "exchange", "Refund": "refund"}
"""`Resolution` -> canonical resolution."""

DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d", "%d-%b-%Y", "%m/%d/%Y", "%d/%m/%Y")


class AmazonAdapter(PolledOnly):
    name = NAME
    display_name = "Amazon"
    capabilities: frozenset[type] = frozenset({Polls, Responds})
    declared_settings = (
        Setting(
            ("BASE_URL", "LWA_CLIENT_ID", "LWA_CLIENT_SECRET", "REFRESH_TOKEN", "MARKETPLACE_IDS"),
            "none: not polled",
            "SP-API regional endpoint, LWA app credentials, the seller's refresh token, comma-separated marketplace ids",
        ),
        Setting(
            ("LWA_URL", "LOOKBACK_DAYS"),
            "`https://api.amazon.com/auth/o2/token`, `7`",
            "token endpoint; how far the first poll looks back",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=False,
        source="Selling Partner API (Reports API returns reports; Notifications API has no return topic), "
        "developer-docs.amazon.com/sp-api, research note §3",
        why_not="no SP-API operation opens a return authorization; buyers open returns in Amazon's returns centre",
    )

    def poll(self, checkpoint: dict[str, Any] | None, http: HttpClient, now: datetime) -> PollBatch:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return PollBatch([], checkpoint, missing)
        since = self.poll_start(checkpoint, now)
        sent: list[dict[str, Any]] = []

        def call(request: OutboundRequest) -> Any:
            sent.append(request.describe())
            result = api_calls.send(http, request)
            if not result.ok:
                raise PayloadError(f"{request.method} {request.url} answered {result.status}: {result.body}")
            return result.body

        token = call(build_token_request(creds, self.settings.get("LWA_URL", LWA_URL) or LWA_URL))["access_token"]
        report_id = (checkpoint or {}).get("report_id")
        until = datetime.fromisoformat(checkpoint["until"]) if checkpoint and checkpoint.get("until") else None
        if not report_id:
            until = min(now, since - OVERLAP + MAX_SPAN)
            created = call(build_create_report(creds, token, since - OVERLAP, until))
            report_id = created["reportId"]
        waiting = {"since": since.isoformat(), "report_id": report_id, "until": (until or now).isoformat()}
        report = call(build_get_report(creds, token, report_id))
        status = report.get("processingStatus")
        if status in WAITING:
            return PollBatch([], waiting, requests=sent)
        if status == NO_DATA:  # "an automatic cancellation if there is no data to return": the window is done
            return PollBatch([], {"since": (until or now).isoformat()}, requests=sent)
        if status != "DONE":  # FATAL (or unknown): ask again for the same window next time
            return PollBatch([], {"since": since.isoformat()}, requests=sent, rejected=[f"report {status}"])
        document = call(build_get_document(creds, token, report["reportDocumentId"]))
        sent.append(OutboundRequest("GET", document["url"]).describe())
        result = api_calls.send(http, OutboundRequest("GET", document["url"]))
        if not result.ok:
            raise PayloadError(f"GET report document answered {result.status}")
        events, rejected = report_events(document_text(result.content, document.get("compressionAlgorithm")))
        return PollBatch(events, {"since": (until or now).isoformat()}, requests=sent, rejected=rejected)


def document_text(content: bytes, compression: str | None) -> str:
    """The report's text: GZIP documents are decompressed (ReportDocument.compressionAlgorithm), others read as is.

    Amazon's flat-file reports are UTF-8 for most marketplaces and Windows-1252/Shift-JIS for some;
    bytes that are not UTF-8 are read as Latin-1 so a row is never lost to a decoding error.
    """
    if compression:
        if compression != "GZIP":
            raise PayloadError(f"report document uses {compression!r}; Amazon documents only GZIP")
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError, zlib.error) as exc:
            raise PayloadError(f"GZIP report document could not be decompressed: {exc}") from None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def build_token_request(creds: dict[str, str], url: str) -> OutboundRequest:
    return OutboundRequest(
        "POST",
        url,
        form={
            "grant_type": "refresh_token",
            "refresh_token": creds["REFRESH_TOKEN"],
            "client_id": creds["LWA_CLIENT_ID"],
            "client_secret": creds["LWA_CLIENT_SECRET"],
        },
    )


def _api(creds: dict[str, str], token: str, method: str, path: str, body: Any = None) -> OutboundRequest:
    return OutboundRequest(
        method,
        f"{creds['BASE_URL'].rstrip('/')}{path}",
        headers={"x-amz-access-token": token, "Content-Type": "application/json"},
        json_body=body,
    )


def build_create_report(creds: dict[str, str], token: str, start: datetime, end: datetime) -> OutboundRequest:
    body = {
        "reportType": REPORT_TYPE,
        "dataStartTime": start.astimezone(UTC).isoformat(),
        "dataEndTime": end.astimezone(UTC).isoformat(),
        "marketplaceIds": [m.strip() for m in creds["MARKETPLACE_IDS"].split(",") if m.strip()],
    }
    return _api(creds, token, "POST", "/reports/2021-06-30/reports", body)


def build_get_report(creds: dict[str, str], token: str, report_id: str) -> OutboundRequest:
    return _api(creds, token, "GET", f"/reports/2021-06-30/reports/{report_id}")


def build_get_document(creds: dict[str, str], token: str, document_id: str) -> OutboundRequest:
    return _api(creds, token, "GET", f"/reports/2021-06-30/documents/{document_id}")


def _date(value: str) -> datetime:
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)
    raise PayloadError(f"{value!r} is not a date the returns report uses")


def _unit_price(order_amount: str, order_quantity: str, currency: str) -> str | None:
    try:
        unit = Decimal(order_amount) / Decimal(order_quantity or "1")
    except (InvalidOperation, ZeroDivisionError):
        return None
    return str(unit.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP))


def row_event(row: dict[str, str]) -> dict[str, Any]:
    """One returns-report row -> a canonical event; the same row always gives the same event id."""
    rma, order_id = row.get("Amazon RMA ID", "").strip(), row.get("Order ID", "").strip()
    status = row.get("Return request status", "").strip()
    if not (rma and order_id and status and row.get("Return request date")):
        raise PayloadError(f"row for order {order_id or '?'} lacks Amazon RMA ID, status or request date")
    currency = (row.get("Currency code") or "").strip() or None
    code = (row.get("Return Reason") or "").strip()
    reason = code_tables.canonical_reason(REASONS, code.removeprefix("CR-")) if code else (None, None)
    if reason[1]:
        reason = (reason[0], code)
    items = []
    quantity, sku = (row.get("Return quantity") or "").strip(), (row.get("Merchant SKU") or "").strip()
    price = _unit_price(row.get("Order Amount", ""), row.get("Order quantity", ""), currency) if currency else None
    if sku and quantity.isdigit() and int(quantity) > 0 and price is not None:
        items.append(
            {"sku": sku, "title": row.get("Item Name") or None, "quantity": int(quantity), "unit_price": price}
        )
    refunded = (row.get("Refunded Amount") or "").strip()
    return canonical_events.canonical_event(
        event_type=code_tables.canonical_type(STATUS_EVENTS, status),
        event_id=f"{rma}:{status}",
        occurred_at=_date(row["Return request date"]),
        order_id=order_id,
        return_id=rma,
        raw_status=status,
        reason=reason,
        resolution=RESOLUTIONS.get((row.get("Resolution") or "").strip()),
        currency=currency,
        refund_amount=refunded if refunded and currency and _is_amount(refunded) else None,
        items=items,
        tracking={
            "carrier": (row.get("Return carrier") or "").strip(),
            "number": (row.get("Tracking ID") or "").strip(),
        },
    )


def _is_amount(value: str) -> bool:
    try:
        return Decimal(value) >= 0
    except InvalidOperation:
        return False


def report_events(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The tab-separated report -> events, plus a note for each row that could not be read."""
    events, rejected = [], []
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        try:
            events.append(row_event(row))
        except payloads.ROW_ERRORS as exc:
            rejected.append(str(exc))
    return events, rejected


MARKETPLACES.register(NAME, AmazonAdapter())
