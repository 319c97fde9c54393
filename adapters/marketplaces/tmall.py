"""`tmall`: Taobao Open Platform (TOP) refunds received by a Tmall seller, polled.

Sources (research note §8; statuses re-checked 2026-11-23 in bububa/opentaobao; seeds 002
and 003 for the flow; the TOP signing rule is as TOP's SDKs implement it, not re-checked here):
- `fields` asks only what taobao.refunds.receive.get documents; the returned line's
  num/price/outer_id/sku are read per refund from taobao.refund.get, which documents them.
- TMC messages need the TMC SDK's long connection (no per-message signature to
  check over HTTP), so refunds are polled with `taobao.refunds.receive.get`
  (seller's received refunds, filtered by `start_modified`/`end_modified`,
  paged with `use_has_next`), answer key `refunds_receive_get_response.refunds.refund`.
- Refund statuses WAIT_SELLER_AGREE, WAIT_BUYER_RETURN_GOODS,
  WAIT_SELLER_CONFIRM_GOODS, SELLER_REFUSE_BUYER, CLOSED, SUCCESS and the exchange
  ones: the status enumeration of TOP's refund APIs as carried by
  bububa/opentaobao model/refund/TmallDisputeReceiveGetAPIRequest.go.
- The flow (seed 003 §任务二 "处理退款"): the buyer asks for 仅退款 (refund only)
  or 退货退款 (return and refund); the seller agrees or refuses; unanswered requests
  are refunded automatically when the platform's time runs out.
- Reasons are free Chinese texts chosen by the buyer (seed 003: "退款原因根据实际情况填写"),
  so they go through a Chinese keyword table; unknown texts are `other`, raw kept.
- TOP signing: parameters sorted by name, concatenated name+value, wrapped in the
  app secret (`secret + pairs + secret`), MD5, upper-case hex; `timestamp` is
  Beijing time `yyyy-MM-dd HH:mm:ss`, times in answers likewise (Asia/Shanghai).

Settings: RB_TMALL_BASE_URL (`https://eco.taobao.com/router/rest`), RB_TMALL_APP_KEY,
RB_TMALL_APP_SECRET, RB_TMALL_SESSION (the seller's session key),
RB_TMALL_LOOKBACK_DAYS (first poll, default 7).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters.http import HttpClient, OutboundRequest
from adapters.marketplaces import api_calls, canonical_events, code_tables, payloads, times
from adapters.marketplaces.base import MARKETPLACES, PayloadError, PollBatch, Polls, Responds, ReturnRequestApi
from adapters.marketplaces.configured import PolledOnly
from adapters.registry import Setting

NAME = "tmall"
ZONE = "Asia/Shanghai"
METHOD = "taobao.refunds.receive.get"
FIELDS = "refund_id,tid,oid,title,total_fee,refund_fee,status,reason,desc,good_status,has_good_return,company_name,sid,created,modified"
"""Only fields taobao.refunds.receive.get documents (tests/fixtures/official/tmall): it has no num, price,
outer_id or sku, and a TOP method refuses or ignores fields it does not know."""
DETAIL_METHOD = "taobao.refund.get"
DETAIL_FIELDS = "refund_id,tid,oid,num_iid,title,price,num,outer_id,sku"
"""The returned line (quantity, unit price, merchant code) is documented only on taobao.refund.get."""
OVERLAP = timedelta(minutes=10)
CREDENTIALS = ("BASE_URL", "APP_KEY", "APP_SECRET", "SESSION")
MAX_PAGES = 50

STATUS_EVENTS: dict[str, str] = {
    "WAIT_SELLER_AGREE": "return.requested",
    "WAIT_SELLER_CONFIRM_RETURN_ADDRESS": "return.requested",
    "WAIT_BUYER_RETURN_GOODS": "return.approved",
    "WAIT_SELLER_CONFIRM_GOODS": "return.shipped",
    "SELLER_REFUSE_BUYER": "return.rejected",
    "CLOSED": "return.cancelled",
    "SUCCESS": "refund.completed",
    "WAIT_SELLER_CONSIGN_GOOGDS": "return.received",  # tmall.dispute.receive.get's spelling
    "WAIT_SELLER_CONSIGN_GOODS": "return.received",  # taobao.refunds.receive.get's spelling
    "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": "exchange.requested",
    "WAIT_BUYER_CONFIRM_REDO_SEND_GOODS": "exchange.requested",
    "EXCHANGE_WAIT_BUYER_CONFIRM_GOODS": "exchange.requested",
    "EXCHANGE_TRANSFORM_TO_REFUND": "refund.requested",
    "POST_FEE_DISPUTE_WAIT_ACTIVATE": "dispute.opened",
}
"""TOP refund status -> canonical type: every value of taobao.refunds.receive.get and of
tmall.dispute.receive.get (tests/fixtures/official/tmall)."""

REASONS: dict[str, str] = {"7天无理由退换货": "changed_mind", "七天无理由退换货": "changed_mind"}
"""Exact reason texts; all others go through REASON_KEYWORDS."""

REASON_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("描述不符", "not_as_described"),
    ("假冒", "not_as_described"),
    ("质量问题", "defective"),
    ("无法使用", "defective"),
    ("少件", "missing_parts"),
    ("漏发", "missing_parts"),
    ("发错", "wrong_item"),
    ("错发", "wrong_item"),
    ("包装", "packaging_damaged"),
    ("破损", "damaged_in_transit"),
    ("损坏", "damaged_in_transit"),
    ("尺码", "size_or_fit"),
    ("大小", "size_or_fit"),
    ("未收到", "late_delivery"),
    ("未按约定时间发货", "late_delivery"),
    ("发货慢", "late_delivery"),
    ("无理由", "changed_mind"),
    ("不想要", "changed_mind"),
    ("拍错", "changed_mind"),
    ("多拍", "changed_mind"),
    ("不喜欢", "changed_mind"),
)
"""Chinese reason keywords -> canonical reason (first match wins; specific before general)."""


def sign(params: dict[str, str], secret: str) -> str:
    """TOP md5 signature: upper hex MD5 of secret + sorted name/value pairs + secret."""
    pairs = "".join(f"{k}{params[k]}" for k in sorted(params) if params[k] not in (None, ""))
    return hashlib.md5(f"{secret}{pairs}{secret}".encode()).hexdigest().upper()


def beijing(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")


class TmallAdapter(PolledOnly):
    name = NAME
    display_name = "Tmall"
    capabilities: frozenset[type] = frozenset({Polls, Responds})
    declared_settings = (
        Setting(
            ("BASE_URL", "APP_KEY", "APP_SECRET", "SESSION", "LOOKBACK_DAYS"),
            "none (lookback `7`): not polled",
            "TOP gateway (`https://eco.taobao.com/router/rest`), app credentials and the seller's session key",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=False,
        source="Taobao Open Platform refund APIs (taobao.refunds.receive.get, taobao.refund.get, agree/refuse "
        "calls), open.taobao.com, research note §8",
        why_not="TOP's seller refund calls answer a refund the buyer applied for (退款申请); none creates one",
    )

    def poll(self, checkpoint: dict[str, Any] | None, http: HttpClient, now: datetime) -> PollBatch:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return PollBatch([], checkpoint, missing)
        since = self.poll_start(checkpoint, now)
        events: list[dict[str, Any]] = []
        rejected: list[str] = []
        sent: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            request = build_list(creds, since - OVERLAP, now, page, now)
            sent.append(request.describe())
            result = api_calls.send(http, request)
            refunds, has_next = list_refunds(result.body)
            for refund in refunds:
                try:
                    detail = self._line(creds, refund, now, http, sent)
                    events.append(refund_event({**detail, **refund}))
                except payloads.ROW_ERRORS as exc:
                    rejected.append(str(exc))
            if not has_next:
                break
        return PollBatch(events, {"since": now.isoformat()}, requests=sent, rejected=rejected)

    def _line(
        self, creds: dict[str, str], refund: dict[str, Any], now: datetime, http: HttpClient, sent: list
    ) -> dict[str, Any]:
        """What the list does not carry (the line's quantity and price), asked of taobao.refund.get."""
        if not refund.get("refund_id"):
            return {}
        request = build_detail(creds, str(refund["refund_id"]), now)
        sent.append(request.describe())
        body = api_calls.send(http, request).body
        answer = (body or {}).get("refund_get_response") if isinstance(body, dict) else None
        line = (answer or {}).get("refund") if isinstance(answer, dict) else None
        return {k: v for k, v in (line or {}).items() if k in DETAIL_FIELDS.split(",")}


def _call(creds: dict[str, str], method: str, now: datetime, **params: str) -> OutboundRequest:
    signed = {
        "method": method,
        "app_key": creds["APP_KEY"],
        "session": creds["SESSION"],
        "timestamp": beijing(now),
        "format": "json",
        "v": "2.0",
        "sign_method": "md5",
        **params,
    }
    signed["sign"] = sign(signed, creds["APP_SECRET"])
    return OutboundRequest("POST", creds["BASE_URL"], form=signed)


def build_detail(creds: dict[str, str], refund_id: str, now: datetime) -> OutboundRequest:
    return _call(creds, DETAIL_METHOD, now, fields=DETAIL_FIELDS, refund_id=refund_id)


def build_list(creds: dict[str, str], start: datetime, end: datetime, page: int, now: datetime) -> OutboundRequest:
    return _call(
        creds,
        METHOD,
        now,
        fields=FIELDS,
        start_modified=beijing(start),
        end_modified=beijing(end),
        page_no=str(page),
        page_size="100",
        use_has_next="true",
    )


def list_refunds(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if isinstance(body, dict) and "error_response" in body:
        error = body["error_response"]
        raise PayloadError(f"TOP refused {METHOD}: {error.get('code')} {error.get('msg')} {error.get('sub_msg') or ''}")
    response = (body or {}).get("refunds_receive_get_response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        raise PayloadError(f"{METHOD} answered without refunds_receive_get_response")
    refunds = (response.get("refunds") or {}).get("refund") or []
    return list(refunds), bool(response.get("has_next"))


def refund_event(refund: dict[str, Any]) -> dict[str, Any]:
    """One TOP refund -> a canonical event; amounts are CNY yuan strings as TOP sends them."""
    status, modified = str(refund.get("status") or ""), refund.get("modified")
    if not (refund.get("refund_id") and refund.get("tid") and status and modified):
        raise PayloadError("a refund lacks refund_id, tid, status or modified")
    items = []
    if refund.get("price") and refund.get("num"):
        sku = str(refund.get("outer_id") or refund.get("sku") or refund.get("oid") or refund["tid"])
        items.append(
            {
                "sku": sku,
                "title": refund.get("title"),
                "quantity": int(refund["num"]),
                "unit_price": str(refund["price"]),
            }
        )
    return canonical_events.canonical_event(
        event_type=code_tables.canonical_type(STATUS_EVENTS, status),
        event_id=f"{refund['refund_id']}:{status}:{modified}",
        occurred_at=times.local_time(str(modified), ZONE),
        order_id=str(refund["tid"]),
        return_id=str(refund["refund_id"]),
        raw_status=status,
        reason=code_tables.canonical_reason(REASONS, refund.get("reason"), REASON_KEYWORDS),
        reason_detail=refund.get("desc"),
        resolution="refund" if refund.get("has_good_return") in (True, "true") else "refund_only",
        currency="CNY",
        refund_amount=str(refund["refund_fee"]) if refund.get("refund_fee") is not None else None,
        items=items,
        tracking={"carrier": refund.get("company_name") or "", "number": refund.get("sid") or ""},
    )


MARKETPLACES.register(NAME, TmallAdapter())
