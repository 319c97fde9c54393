"""Pulled marketplaces against a fake API on 127.0.0.1: cases created once, restarts and repeats create nothing twice."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(("code", "reason"), list(amazon.REASONS.items()))
def test_every_amazon_reason_maps(code, reason):
    row = dict(zip(REPORT_TSV.splitlines()[0].split("\t"), REPORT_TSV.splitlines()[1].split("\t"), strict=True))
    event = load_event(amazon.row_event({**row, "Return Reason": f"CR-{code}"}))
    assert (event.return_.reason, event.return_.raw_reason) == (reason, f"CR-{code}")


@pytest.mark.parametrize(("status", "expected"), list(amazon.STATUS_EVENTS.items()))
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
    events = [load_event(e) for e in batch.events]
    assert [(e.return_.reason, e.type) for e in events] == [
        ("size_or_fit", "return.requested"),
        ("damaged_in_transit", "refund.completed"),
    ]
    assert events[0].occurred_at.isoformat() == "2026-11-23T10:30:00+00:00"  # Beijing 18:30
    assert events[0].order.currency == "CNY" and events[0].return_.resolution == "refund"
    assert [(i.sku, i.quantity, str(i.unit_price)) for i in events[0].items] == [("SILK-01", 1, "199.00")]
    assert batch.rejected == []


@pytest.mark.parametrize(("status", "expected"), list(tmall.STATUS_EVENTS.items()))
def test_every_tmall_status_maps(status, expected):
    assert load_event(tmall.refund_event(tmall_refund(status=status))).type == expected


@pytest.mark.parametrize(("keyword", "reason"), list(tmall.REASON_KEYWORDS))
def test_every_tmall_reason_keyword_maps(keyword, reason):
    event = load_event(tmall.refund_event(tmall_refund(reason=f"买家:{keyword}")))
    assert (event.return_.reason, event.return_.raw_reason) == (reason, f"买家:{keyword}")


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
    assert [(e.return_.id, e.type, e.return_.reason) for e in events] == [
        ("9001", "return.requested", "damaged_in_transit"),
        ("9002", "refund.completed", "damaged_in_transit"),
    ]
    assert events[0].occurred_at.isoformat() == "2026-11-23T05:00:00+00:00"  # Pacific 21:00


@pytest.mark.parametrize(("status", "expected"), list(aliexpress.STATUS_EVENTS.items()))
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
    assert case_count(container) == 1
    container.close()


def test_every_pulled_marketplace_is_scheduled():
    assert {p.name for p in pollers()} >= {"amazon", "tmall", "aliexpress", "shopee"}
