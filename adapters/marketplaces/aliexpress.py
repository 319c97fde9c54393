"""`aliexpress`: AliExpress seller disputes (returns and refunds), polled through the Open Platform.

Sources (research note §4 found no return push; API names and fields found by code search on
2026-11-23; the IOP signing rule is Lazada's documented one, assumed identical, not re-checked):
- Buyers ask for refunds and returns by opening an "issue" (纠纷). The seller API
  `aliexpress.issue.issuelist.get` lists them (`query_dto` with `current_page`,
  `page_size`, `issue_status`), answer key
  `aliexpress_issue_issuelist_get_response.data_list.issue_api_issue_dto`; each issue
  has `issue_id`, `order_id`, `parent_order_id`, `issue_status` (processing,
  canceled_issue, finish = "纠纷完结,退款处理完成"), `reason_chinese`, `reason_english`,
  `gmt_create`, `gmt_modified` (AliExpress IOP Java SDK classes
  AliexpressIssueIssuelistGetRequest / ...IssueAPIIssueDTO; AE-Refund&return API list).
- The gateway is Alibaba's IOP (`https://api-sg.aliexpress.com/sync`), shared with
  Lazada: parameters sorted by name, concatenated name+value, HMAC-SHA256 with the
  app secret, upper-case hex (`sign_method=sha256`, `timestamp` in ms). For
  `method=`-style business APIs no path is prefixed.
- No time filter exists on the issue list, so each poll pages through open and
  recently finished issues and keeps those modified since the checkpoint. Times
  are Pacific (AliExpress's seller APIs report US Pacific time); RB_ALIEXPRESS_TIMEZONE
  overrides it.
- Decisions (`aliexpress.issue.solution.agree` / `.save`) need the buyer's
  solution id from the issue detail; they are not sent from here.

Settings: RB_ALIEXPRESS_BASE_URL (`https://api-sg.aliexpress.com/sync`),
RB_ALIEXPRESS_APP_KEY, RB_ALIEXPRESS_APP_SECRET, RB_ALIEXPRESS_ACCESS_TOKEN,
RB_ALIEXPRESS_TIMEZONE (default America/Los_Angeles).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from adapters.http import HttpClient, OutboundRequest
from adapters.marketplaces import api_calls, canonical_events, code_tables, payloads, signing, times
from adapters.marketplaces.base import MARKETPLACES, PayloadError, PollBatch, Polls, Responds, ReturnRequestApi
from adapters.marketplaces.configured import PolledOnly
from adapters.registry import Setting

NAME = "aliexpress"
METHOD = "aliexpress.issue.issuelist.get"
CREDENTIALS = ("BASE_URL", "APP_KEY", "APP_SECRET", "ACCESS_TOKEN")
DEFAULT_ZONE = "America/Los_Angeles"
OVERLAP = timedelta(minutes=10)
PAGE_SIZE = 50
MAX_PAGES = 20
LISTED_STATUSES = ("processing", "finish", "canceled_issue")

STATUS_EVENTS: dict[str, str] = {
    "processing": "return.requested",
    "canceled_issue": "return.cancelled",
    "finish": "refund.completed",
}
"""issue_status -> canonical type: an open issue is the buyer's refund/return request."""

REASONS: dict[str, str] = {}
"""AliExpress sends reasons as English and Chinese texts; the English one goes through the shared keywords."""


def sign(params: dict[str, str], secret: str) -> str:
    pairs = "".join(f"{k}{params[k]}" for k in sorted(params) if params[k] not in (None, ""))
    return signing.hmac_sha256(secret, pairs.encode()).hex().upper()


class AliExpressAdapter(PolledOnly):
    name = NAME
    display_name = "AliExpress"
    capabilities: frozenset[type] = frozenset({Polls, Responds})
    declared_settings = (
        Setting(
            ("BASE_URL", "APP_KEY", "APP_SECRET", "ACCESS_TOKEN", "TIMEZONE"),
            "none (zone `America/Los_Angeles`): not polled",
            "IOP gateway (`https://api-sg.aliexpress.com/sync`), app credentials, seller token, the zone of its times",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=False,
        source="AliExpress Open Platform issue (纠纷) APIs, aliexpress.issue.issuelist.get and the AE-Refund&return "
        "API list, research note §4",
        why_not="returns are issues the buyer opens; the seller API lists and answers them, none opens one",
    )

    def poll(self, checkpoint: dict[str, Any] | None, http: HttpClient, now: datetime) -> PollBatch:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return PollBatch([], checkpoint, missing)
        zone = self.settings.get("TIMEZONE", DEFAULT_ZONE) or DEFAULT_ZONE
        since = datetime.fromisoformat(checkpoint["since"]) - OVERLAP if checkpoint else None
        events: list[dict[str, Any]] = []
        rejected: list[str] = []
        sent: list[dict[str, Any]] = []
        for status in LISTED_STATUSES:
            for page in range(1, MAX_PAGES + 1):
                request = build_list(creds, status, page, now)
                sent.append(request.describe())
                issues, total = list_issues(api_calls.send(http, request).body)
                for issue in issues:
                    try:
                        event = issue_event(issue, zone)
                    except payloads.ROW_ERRORS as exc:
                        rejected.append(str(exc))
                        continue
                    if since is None or datetime.fromisoformat(event["occurred_at"]) >= since:
                        events.append(event)
                if page * PAGE_SIZE >= total or not issues:
                    break
        return PollBatch(events, {"since": now.isoformat()}, requests=sent, rejected=rejected)


def build_list(creds: dict[str, str], status: str, page: int, now: datetime) -> OutboundRequest:
    params = {
        "method": METHOD,
        "app_key": creds["APP_KEY"],
        "session": creds["ACCESS_TOKEN"],
        "timestamp": str(int(now.timestamp() * 1000)),
        "sign_method": "sha256",
        "format": "json",
        "query_dto": json.dumps({"current_page": page, "page_size": PAGE_SIZE, "issue_status": status}),
    }
    params["sign"] = sign(params, creds["APP_SECRET"])
    return OutboundRequest("POST", creds["BASE_URL"], form=params)


def list_issues(body: Any) -> tuple[list[dict[str, Any]], int]:
    if isinstance(body, dict) and "error_response" in body:
        error = body["error_response"]
        raise PayloadError(f"AliExpress refused {METHOD}: {error.get('code')} {error.get('msg')}")
    response = (body or {}).get("aliexpress_issue_issuelist_get_response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        raise PayloadError(f"{METHOD} answered without aliexpress_issue_issuelist_get_response")
    issues = (response.get("data_list") or {}).get("issue_api_issue_dto") or []
    return list(issues), int(response.get("total_item") or 0)


def issue_event(issue: dict[str, Any], zone: str = DEFAULT_ZONE) -> dict[str, Any]:
    status, modified = str(issue.get("issue_status") or ""), issue.get("gmt_modified")
    if not (issue.get("issue_id") and issue.get("order_id") and status and modified):
        raise PayloadError("an issue lacks issue_id, order_id, issue_status or gmt_modified")
    raw_reason = issue.get("reason_english") or issue.get("reason_chinese")
    return canonical_events.canonical_event(
        event_type=code_tables.canonical_type(STATUS_EVENTS, status),
        event_id=f"{issue['issue_id']}:{status}:{modified}",
        occurred_at=times.local_time(str(modified), zone),
        order_id=str(issue["order_id"]),
        return_id=str(issue["issue_id"]),
        raw_status=status,
        reason=code_tables.canonical_reason(REASONS, raw_reason),
        reason_detail=issue.get("reason_chinese") if issue.get("reason_english") else None,
    )


MARKETPLACES.register(NAME, AliExpressAdapter())
