"""Pulled marketplaces against a fake API on 127.0.0.1: cases created once, restarts and repeats create nothing twice."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from adapters.http import HttpClient
from adapters.marketplaces import aliexpress, amazon, shopee, tmall
from adapters.storage.checkpoints import DatabaseCheckpoints
from service.bootstrap import Container
from service.canonical import load_event
from service.polling import poll_once, pollers
from tests.conftest import make_settings
from tests.marketplaces.conftest import NOW, settings
from tests.marketplaces.fake_api import FakeApi

OFFICIAL = Path(__file__).resolve().parents[1] / "fixtures" / "official"

REPORT_TSV = "\t".join(
    ["Order ID", "Order date", "Return request date", "Return request status", "Amazon RMA ID", "Merchant RMA ID",
     "Label type", "Label cost", "Currency code", "Return carrier", "Tracking ID", "ASIN", "Merchant SKU", "Item Name",
     "Return quantity", "Return Reason", "In policy", "Return type", "Resolution", "Order Amount", "Order quantity",
     "Refunded Amount"]
) + "\n" + "\n".join(
    [
        "\t".join(["302-1111111-1111111", "2026-11-01", "2026-11-20", "Approved", "DabcRMA01", "", "AmazonPrePaidLabel",
                   "4.50", "EUR", "DHL", "JJD0001", "B0TEST0001", "SCARF-RED", "Wool scarf", "1", "CR-POOR_FIT", "Y",
                   "C-Returns", "StandardRefund", "49.90", "1", ""]),
        "\t".join(["302-2222222-2222222", "2026-11-02", "2026-11-21", "Pending", "DabcRMA02", "", "", "", "EUR", "", "",
                   "B0TEST0002", "MUG-1", "Mug", "2", "CR-DAMAGED_BY_CARRIER", "Y", "C-Returns", "StandardRefund",
                   "20.00", "2", ""]),
    ]
) + "\n"  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()
    assert fake.failures == [], "a check inside the fake API failed:\n" + "\n".join(fake.failures)


def amazon_routes(api: FakeApi, status_sequence: list[str]) -> None:
    statuses = iter(status_sequence)
    api.route("POST", "/auth/o2/token")(lambda call: (200, {"access_token": "Atza|token", "expires_in": 3600}))
    api.route("POST", "/reports/2021-06-30/reports")(lambda call: (202, {"reportId": "R2"}))

    @api.route("GET", "/reports/2021-06-30/reports/R2")
    def report(call):  # type: ignore[no-untyped-def]
        status = next(statuses, "DONE")
        return 200, {"reportId": "R2", "processingStatus": status, "reportDocumentId": "DOC-1"}

    api.route("GET", "/reports/2021-06-30/documents/DOC-1")(
        lambda call: (200, {"reportDocumentId": "DOC-1", "url": f"{api.url}/download/DOC-1"})
    )
    api.route("GET", "/download/DOC-1")(lambda call: (200, REPORT_TSV))


def amazon_settings(api: FakeApi):  # type: ignore[no-untyped-def]
    return settings(
        "amazon",
        base_url=api.url,
        lwa_url=f"{api.url}/auth/o2/token",
        lwa_client_id="amzn1.application-oa2-client.x",
        lwa_client_secret="secret",
        refresh_token="Atzr|refresh",
        marketplace_ids="A1PA6795UKMFR9",
    )


def test_amazon_report_rows_become_canonical_events(api: FakeApi):
    amazon_routes(api, ["DONE"])
    batch = amazon.AmazonAdapter(amazon_settings(api)).poll(None, HttpClient(), NOW)
    events = [load_event(e) for e in batch.events]
    assert [(e.return_.id, e.type) for e in events] == [
        ("DabcRMA01", "return.approved"),
        ("DabcRMA02", "return.requested"),
    ]
    assert (events[0].return_.reason, events[0].return_.raw_reason) == ("size_or_fit", "CR-POOR_FIT")
    assert (events[1].items[0].unit_price, events[1].items[0].quantity) == (amazon.Decimal("10.00"), 2)
    assert batch.checkpoint == {"since": NOW.isoformat()}
    token = api.calls_to("/auth/o2/token")[0].form
    assert (token["grant_type"], token["refresh_token"]) == ("refresh_token", "Atzr|refresh")
    assert api.calls_to("/reports/2021-06-30/reports")[0].headers["x-amz-access-token"] == "Atza|token"
    request = api.calls_to("/reports/2021-06-30/reports")[0].json()
    assert request["reportType"] == "GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE"


def test_amazon_resumes_the_report_in_preparation_instead_of_asking_again(api: FakeApi):
    amazon_routes(api, ["IN_PROGRESS", "DONE"])
    adapter = amazon.AmazonAdapter(amazon_settings(api))
    first = adapter.poll(None, HttpClient(), NOW)
    assert first.events == [] and first.checkpoint["report_id"] == "R2"
    second = adapter.poll(first.checkpoint, HttpClient(), NOW + timedelta(minutes=5))
    assert len(second.events) == 2
    assert len(api.calls_to("/reports/2021-06-30/reports")) == 1


# Written from what Amazon and its integrators document, not read from the adapter: the returns report's
# reason codes (research §3.3, `CR-` prefixed in the report) and the `Return request status` values seen in it.
AMAZON_REASONS = {
    "UNWANTED_ITEM": "changed_mind",
    "ORDERED_WRONG_ITEM": "changed_mind",
    "FOUND_BETTER_PRICE": "changed_mind",
    "UNAUTHORIZED_PURCHASE": "changed_mind",
    "NOT_COMPATIBLE": "not_as_described",
    "NOT_AS_DESCRIBED": "not_as_described",
    "AMZ-PG-BAD-DESC": "not_as_described",
    "DEFECTIVE": "defective",
    "QUALITY_UNACCEPTABLE": "defective",
    "DAMAGED_BY_FC": "damaged_in_transit",  # damaged in Amazon's fulfilment centre
    "DAMAGED_BY_CARRIER": "damaged_in_transit",
    "MISSING_PARTS": "missing_parts",
    "EXTRA_ITEM": "wrong_item",  # an item the buyer did not order
    "POOR_FIT": "size_or_fit",
    "AMZ-PG-APP-TOO-LARGE": "size_or_fit",
    "AMZ-PG-APP-TOO-SMALL": "size_or_fit",
    "MISSED_ESTIMATED_DELIVERY": "late_delivery",
    "SWITCHEROO": "other",  # a different item came back than was sent: the merchant's problem, not a reason
    "NO_REASON_GIVEN": "other",
}
AMAZON_STATUSES = {
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


def test_the_amazon_adapter_knows_exactly_the_documented_reasons_and_statuses():
    assert set(amazon.REASONS) == set(AMAZON_REASONS)
    assert set(amazon.STATUS_EVENTS) == set(AMAZON_STATUSES)


AMAZON_REPORTS = json.loads((OFFICIAL / "amazon" / "reports_2021-06-30.json").read_text())


def test_amazon_knows_every_documented_processing_status():
    assert set(AMAZON_REPORTS["processingStatus"]) == amazon.WAITING | {"DONE", "FATAL", amazon.NO_DATA}
    assert "no data to return" in AMAZON_REPORTS["processingStatus"][amazon.NO_DATA]


def test_an_amazon_report_cancelled_for_lack_of_data_moves_the_window_on(api: FakeApi):
    """Issue 13: CANCELLED is Amazon's "no data"; a quiet spell longer than 60 days must not stall the poller."""
    amazon_routes(api, ["CANCELLED", "CANCELLED"])
    adapter = amazon.AmazonAdapter(amazon_settings(api))
    quiet_since = NOW - timedelta(days=150)
    first = adapter.poll({"since": quiet_since.isoformat()}, HttpClient(), NOW)
    assert first.events == [] and first.rejected == []
    assert first.checkpoint == {"since": (quiet_since - amazon.OVERLAP + amazon.MAX_SPAN).isoformat()}
    second = adapter.poll(first.checkpoint, HttpClient(), NOW)
    asked = [call.json() for call in api.calls_to("/reports/2021-06-30/reports")]
    assert [a["dataStartTime"] for a in asked] == [
        (quiet_since - amazon.OVERLAP).isoformat(),
        (quiet_since - 2 * amazon.OVERLAP + amazon.MAX_SPAN).isoformat(),
    ]
    assert datetime.fromisoformat(second.checkpoint["since"]) > datetime.fromisoformat(first.checkpoint["since"])


def test_a_fatal_amazon_report_asks_for_the_same_window_again(api: FakeApi):
    amazon_routes(api, ["FATAL"])
    since = NOW - timedelta(days=3)
    batch = amazon.AmazonAdapter(amazon_settings(api)).poll({"since": since.isoformat()}, HttpClient(), NOW)
    assert batch.checkpoint == {"since": since.isoformat()} and batch.rejected == ["report FATAL"]


def test_a_gzip_amazon_report_is_decompressed_and_read(api: FakeApi):
    amazon_routes(api, ["DONE"])
    assert AMAZON_REPORTS["ReportDocument.compressionAlgorithm"] == ["GZIP"]
    api.route("GET", "/reports/2021-06-30/documents/DOC-1")(
        lambda call: (200, {"reportDocumentId": "DOC-1", "url": f"{api.url}/download/DOC-1.gz",
                            "compressionAlgorithm": "GZIP"})
    )  # fmt: skip
    api.route("GET", "/download/DOC-1.gz")(lambda call: (200, gzip.compress(REPORT_TSV.encode())))
    batch = amazon.AmazonAdapter(amazon_settings(api)).poll(None, HttpClient(), NOW)
    assert [e["return"]["id"] for e in batch.events] == ["DabcRMA01", "DabcRMA02"]
    assert batch.checkpoint == {"since": NOW.isoformat()}


def test_a_corrupt_gzip_report_is_an_error_not_a_silent_empty_window(api: FakeApi):
    amazon_routes(api, ["DONE"])
    api.route("GET", "/reports/2021-06-30/documents/DOC-1")(
        lambda call: (
            200,
            {"reportDocumentId": "DOC-1", "url": f"{api.url}/download/bad", "compressionAlgorithm": "GZIP"},
        )
    )
    api.route("GET", "/download/bad")(lambda call: (200, b"\x1f\x8b not really gzip"))
    with pytest.raises(amazon.PayloadError, match="GZIP"):
        amazon.AmazonAdapter(amazon_settings(api)).poll(None, HttpClient(), NOW)


@pytest.mark.parametrize(("code", "reason"), sorted(AMAZON_REASONS.items()))
def test_every_amazon_reason_maps(code, reason):
    row = dict(zip(REPORT_TSV.splitlines()[0].split("\t"), REPORT_TSV.splitlines()[1].split("\t"), strict=True))
    event = load_event(amazon.row_event({**row, "Return Reason": f"CR-{code}"}))
    assert (event.return_.reason, event.return_.raw_reason) == (reason, f"CR-{code}")


@pytest.mark.parametrize(("status", "expected"), sorted(AMAZON_STATUSES.items()))
def test_every_amazon_status_maps(status, expected):
    row = dict(zip(REPORT_TSV.splitlines()[0].split("\t"), REPORT_TSV.splitlines()[1].split("\t"), strict=True))
    assert load_event(amazon.row_event({**row, "Return request status": status})).type == expected


def tmall_refund(**overrides):  # type: ignore[no-untyped-def]
    base = {
        "refund_id": 140000001, "tid": 2026112300001, "oid": 2026112300002, "title": "真丝围巾", "total_fee": "199.00",
        "refund_fee": "199.00", "status": "WAIT_SELLER_AGREE", "reason": "尺码拍错/不合适", "desc": "太小了",
        "good_status": "BUYER_RECEIVED", "has_good_return": True, "num": 1, "price": "199.00", "outer_id": "SILK-01",
        "created": "2026-11-23 18:00:00", "modified": "2026-11-23 18:30:00",
    }  # fmt: skip
    return {**base, **overrides}


LISTED = set(json.loads((OFFICIAL / "tmall" / "taobao.refunds.receive.get.json").read_text())["fields_supported"])
DETAILED = set(json.loads((OFFICIAL / "tmall" / "taobao.refund.get.json").read_text())["fields_supported"])


def test_tmall_signed_list_becomes_events_with_chinese_reasons(api: FakeApi):
    """The list answers only its documented fields; the line comes from taobao.refund.get (issue 13)."""
    rows = {"1": [tmall_refund()], "2": [tmall_refund(refund_id=140000002, reason="收到商品破损", status="SUCCESS")]}
    pages = {page: [{k: v for k, v in row.items() if k in LISTED} for row in listed] for page, listed in rows.items()}
    lines = {str(row["refund_id"]): row for listed in rows.values() for row in listed}

    @api.route("POST", "/router/rest")
    def refunds(call):  # type: ignore[no-untyped-def]
        form = call.form
        if form["sign"] != tmall.sign({k: v for k, v in form.items() if k != "sign"}, "tm-secret"):
            return 200, {"error_response": {"code": 25, "msg": "Invalid signature"}}
        asked = set(form["fields"].split(","))
        if form["method"] == "taobao.refund.get":
            if not asked <= DETAILED:
                return 200, {"error_response": {"code": 40, "msg": f"unknown fields {asked - DETAILED}"}}
            line = lines[form["refund_id"]]
            return 200, {"refund_get_response": {"refund": {k: v for k, v in line.items() if k in asked}}}
        if not asked <= LISTED:
            return 200, {"error_response": {"code": 40, "msg": f"unknown fields {asked - LISTED}"}}
        page = form["page_no"]
        return 200, {"refunds_receive_get_response": {"refunds": {"refund": pages[page]}, "has_next": page == "1"}}

    creds = settings(
        "tmall", base_url=f"{api.url}/router/rest", app_key="12345678", app_secret="tm-secret", session="6100"
    )
    batch = tmall.TmallAdapter(creds).poll(None, HttpClient(), NOW)
    assert api.failures == []  # every request was signed
    events = [load_event(e) for e in batch.events]
    assert [(e.return_.reason, e.type) for e in events] == [
        ("size_or_fit", "return.requested"),
        ("damaged_in_transit", "refund.completed"),
    ]
    assert events[0].occurred_at.isoformat() == "2026-11-23T10:30:00+00:00"  # Beijing 18:30
    assert events[0].order.currency == "CNY" and events[0].return_.resolution == "refund"
    assert [(i.sku, i.quantity, str(i.unit_price)) for i in events[0].items] == [("SILK-01", 1, "199.00")]
    assert batch.rejected == []


# Taobao/Tmall refund statuses (taobao.refunds.receive.get `status`), written here, not read from the adapter.
TMALL_STATUSES = {
    "WAIT_SELLER_AGREE": "return.requested",
    "WAIT_SELLER_CONFIRM_RETURN_ADDRESS": "return.requested",
    "WAIT_BUYER_RETURN_GOODS": "return.approved",
    "WAIT_SELLER_CONFIRM_GOODS": "return.shipped",
    "WAIT_SELLER_CONSIGN_GOOGDS": "return.received",  # tmall.dispute.receive.get spells it so
    "WAIT_SELLER_CONSIGN_GOODS": "return.received",  # taobao.refunds.receive.get spells it so
    "SELLER_REFUSE_BUYER": "return.rejected",
    "CLOSED": "return.cancelled",
    "SUCCESS": "refund.completed",
    "WAIT_BUYER_CONFIRM_REDO_SEND_GOODS": "exchange.requested",
    "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": "exchange.requested",
    "EXCHANGE_WAIT_BUYER_CONFIRM_GOODS": "exchange.requested",
    "EXCHANGE_TRANSFORM_TO_REFUND": "refund.requested",
    "POST_FEE_DISPUTE_WAIT_ACTIVATE": "dispute.opened",
}
# Reasons as a Tmall buyer picks them from the refund form, and what each means for the case.
TMALL_REASON_TEXTS = {
    "七天无理由退换货": "changed_mind",
    "拍错/多拍/不喜欢": "changed_mind",
    "我不想要了": "changed_mind",
    "颜色/图案/款式与商品描述不符": "not_as_described",
    "大小/尺寸与商品描述不符": "not_as_described",  # the listing was wrong, not the buyer's choice of size
    "假冒品牌": "not_as_described",
    "质量问题": "defective",
    "商品无法使用": "defective",
    "少件/漏发": "missing_parts",
    "卖家发错货": "wrong_item",
    "收到商品破损": "damaged_in_transit",
    "货物破损已拒签": "damaged_in_transit",
    "尺码不合适": "size_or_fit",
    "未按约定时间发货": "late_delivery",
    "未收到货": "late_delivery",
}


def test_the_tmall_adapter_knows_exactly_the_listed_statuses():
    assert set(tmall.STATUS_EVENTS) == set(TMALL_STATUSES)


@pytest.mark.parametrize(("status", "expected"), sorted(TMALL_STATUSES.items()))
def test_every_tmall_status_maps(status, expected):
    assert load_event(tmall.refund_event(tmall_refund(status=status))).type == expected


@pytest.mark.parametrize(("text", "reason"), sorted(TMALL_REASON_TEXTS.items()))
def test_every_tmall_buyer_reason_maps_to_what_it_means_and_keeps_the_text(text, reason):
    event = load_event(tmall.refund_event(tmall_refund(reason=text)))
    assert (event.return_.reason, event.return_.raw_reason) == (reason, text)


def test_tmall_signature_follows_tops_md5_rule():
    import hashlib

    params = {"method": "taobao.refunds.receive.get", "app_key": "12345678", "v": "2.0"}
    expected = hashlib.md5(b"secretapp_key12345678methodtaobao.refunds.receive.getv2.0secret").hexdigest().upper()
    assert tmall.sign(params, "secret") == expected


def issue(**overrides):  # type: ignore[no-untyped-def]
    base = {
        "issue_id": 9001, "order_id": 8101234567890, "parent_order_id": 8101234567891, "issue_status": "processing",
        "reason_english": "Product damaged", "reason_chinese": "货物破损", "buyer_login_id": "us1234",
        "gmt_create": "2026-11-22 20:00:00", "gmt_modified": "2026-11-22 21:00:00",
    }  # fmt: skip
    return {**base, **overrides}


def test_aliexpress_issues_become_events(api: FakeApi):
    by_status = {"processing": [issue()], "finish": [issue(issue_id=9002, issue_status="finish")], "canceled_issue": []}

    @api.route("POST", "/sync")
    def issues(call):  # type: ignore[no-untyped-def]
        form = call.form
        assert form["sign"] == aliexpress.sign({k: v for k, v in form.items() if k != "sign"}, "ae-secret")
        rows = by_status[__import__("json").loads(form["query_dto"])["issue_status"]]
        return 200, {"aliexpress_issue_issuelist_get_response": {"data_list": {"issue_api_issue_dto": rows},
                                                                 "total_item": len(rows)}}  # fmt: skip

    creds = settings(
        "aliexpress", base_url=f"{api.url}/sync", app_key="50001", app_secret="ae-secret", access_token="t"
    )
    events = [load_event(e) for e in aliexpress.AliExpressAdapter(creds).poll(None, HttpClient(), NOW).events]
    assert api.failures == []  # every request was signed
    assert [(e.return_.id, e.type, e.return_.reason) for e in events] == [
        ("9001", "return.requested", "damaged_in_transit"),
        ("9002", "refund.completed", "damaged_in_transit"),
    ]
    assert events[0].occurred_at.isoformat() == "2026-11-23T05:00:00+00:00"  # Pacific 21:00


# AliExpress issue (dispute) statuses of the issue list API's `issue_status` filter.
ALIEXPRESS_STATUSES = {
    "processing": "return.requested",
    "canceled_issue": "return.cancelled",
    "finish": "refund.completed",
}


def test_the_aliexpress_adapter_knows_exactly_the_issue_statuses():
    assert set(aliexpress.STATUS_EVENTS) == set(ALIEXPRESS_STATUSES)


@pytest.mark.parametrize(("status", "expected"), sorted(ALIEXPRESS_STATUSES.items()))
def test_every_aliexpress_status_maps(status, expected):
    assert load_event(aliexpress.issue_event(issue(issue_status=status))).type == expected


def shopee_routes(api: FakeApi, rows: list[dict]) -> None:
    @api.route("GET", "/api/v2/returns/get_return_list")
    def returns(call):  # type: ignore[no-untyped-def]
        q = call.query
        assert q["sign"] == shopee.sign(
            "pk", "2001", "/api/v2/returns/get_return_list", int(q["timestamp"]), "acc", "123"
        )
        return 200, {"error": "", "response": {"return": rows, "more": False}}


SHOPEE_ROW = {
    "return_sn": "2611230RET001", "order_sn": "2611230ABCDEF", "status": "REQUESTED", "reason": "CHANGE_MIND",
    "currency": "SGD", "refund_amount": 12.5, "update_time": 1795434000, "return_solution": "RETURN_REFUND",
    "item": [{"name": "Cap", "item_sku": "CAP-1", "amount": 1, "item_price": 12.5}],
}  # fmt: skip


def shopee_settings(api: FakeApi):  # type: ignore[no-untyped-def]
    return settings(
        "shopee", base_url=api.url, partner_id="2001", shop_id="123", access_token="acc", webhook_secret="pk"
    )


def test_a_failed_check_inside_the_fake_api_is_reported_as_such_not_as_a_dropped_connection():
    fake = FakeApi()

    @fake.route("POST", "/sync")
    def refuses(call):  # type: ignore[no-untyped-def]
        assert call.form.get("sign") == "expected", "unsigned request"
        return 200, {}

    answer = requests.post(f"{fake.url}/sync", data={"app_key": "1"}, timeout=10)
    fake.close()
    assert answer.status_code == 500
    assert len(fake.failures) == 1 and "unsigned request" in fake.failures[0]


def test_without_credentials_a_poll_asks_nothing_and_names_the_settings():
    batch = amazon.AmazonAdapter(settings("amazon")).poll(None, HttpClient(), NOW)
    assert batch.events == [] and "RB_AMAZON_REFRESH_TOKEN" in batch.missing


# --- through the real intake and the database: created once, restart-safe ---


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/polls.db"


def container_for(db_url: str, **env: str) -> Container:
    return Container(make_settings(RB_DATABASE_URL=db_url, **env), clock=lambda: NOW)


def case_count(container: Container) -> int:
    with container.uow() as uow:
        return uow.cases.list()[1]


def test_a_poll_creates_each_case_once_even_across_a_restart(api: FakeApi, db_url: str):
    amazon_routes(api, ["DONE"])
    adapter = amazon.AmazonAdapter(amazon_settings(api))
    first = container_for(db_url)
    outcome = poll_once(adapter, DatabaseCheckpoints(first.uow), first.intake, HttpClient(), NOW)
    assert (outcome.created, outcome.duplicates) == (2, 0)
    assert case_count(first) == 2
    first.close()

    restarted = container_for(db_url)  # a new process on the same database
    store = DatabaseCheckpoints(restarted.uow)
    assert store.load("amazon") == {"since": NOW.isoformat()}
    again = poll_once(amazon.AmazonAdapter(amazon_settings(api)), store, restarted.intake, HttpClient(), NOW)
    assert (again.created, again.duplicates, again.error) == (0, 2, None)
    assert case_count(restarted) == 2
    restarted.close()


def test_a_crash_before_the_checkpoint_is_stored_repeats_the_poll_harmlessly(api: FakeApi, db_url: str):
    shopee_routes(api, [SHOPEE_ROW])
    container = container_for(db_url)

    class CrashingStore(DatabaseCheckpoints):
        def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt("power cut after intake, before the checkpoint")

    with pytest.raises(KeyboardInterrupt):
        poll_once(
            shopee.ShopeeAdapter(shopee_settings(api)),
            CrashingStore(container.uow),
            container.intake,
            HttpClient(),
            NOW,
        )
    store = DatabaseCheckpoints(container.uow)
    assert store.load("shopee") is None
    outcome = poll_once(shopee.ShopeeAdapter(shopee_settings(api)), store, container.intake, HttpClient(), NOW)
    assert (outcome.created, outcome.duplicates) == (0, 1)
    assert api.failures == []  # every request was signed
    assert case_count(container) == 1
    container.close()


def test_every_pulled_marketplace_is_scheduled():
    assert {p.name for p in pollers(make_settings())} >= {"amazon", "tmall", "aliexpress", "shopee"}
