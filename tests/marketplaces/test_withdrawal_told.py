"""Issue 18 §2: "The marketplace is told through its adapter where it has an API" when a buyer confirms a
withdrawal on the buyer page.

Each marketplace adapter declares whether its platform documents an API that opens a return on the buyer's
behalf (`return_request`). Shopify (`returnRequest`) and TikTok Shop (Create Return) do: the withdrawal goes
out as `marketplace.<name>.open_return` through the same once-per-key decision mechanism, in the documented
request shape (tests/fixtures/official/<marketplace>/, SOURCES.md there). The return the platform opens, and
the webhook it then sends for it, join the withdrawal's case. The others leave an operator task on the case.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from adapters.marketplaces import shopify, tiktok_shop
from adapters.marketplaces.base import MARKETPLACES, Decision, ParsedDelivery, ReturnRequestApi
from queues.worker import Worker
from service.bootstrap import Container
from tests.conftest import example, make_settings, operator_client, wait_for
from tests.marketplaces import test_shopify
from tests.marketplaces.fake_api import FakeApi
from wsgi import create_app

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official"
SHOPIFY_DOC = json.loads((OFFICIAL / "shopify" / "return_request.json").read_text())
SHOPIFY_ECHO = json.loads((OFFICIAL / "shopify" / "returns_request.json").read_text())
TIKTOK_DOC = json.loads((OFFICIAL / "tiktok_shop" / "create_return.json").read_text())
GRAPHQL = "/admin/api/2025-07/graphql.json"
ORDER = str(SHOPIFY_ECHO["order"]["id"])  # 450789469: the order of Shopify's own returns/request sample
CREATED = str(SHOPIFY_ECHO["id"])  # 945000954: the return Shopify opens, as its webhook names it
LINK_KEY = "link-key-0123456789abcdef0123456789abcdef"


# --- what each adapter declares ----------------------------------------------------------------


def test_every_marketplace_declares_whether_its_platform_can_be_told_of_a_withdrawal():
    declared = {name: adapter.return_request for name, adapter in MARKETPLACES}
    assert all(isinstance(d, ReturnRequestApi) and d.source for d in declared.values())
    assert {name for name, d in declared.items() if d.opens_returns} == {"shopify", "tiktok_shop"}
    assert all(d.why_not for d in declared.values() if not d.opens_returns), "each 'no' says why"


# --- the documented request shapes -------------------------------------------------------------


def decision(lines: tuple[tuple[str, int], ...] = (("SCARF-RED", 1),), note: str = "Ich widerrufe") -> Decision:
    return Decision("open_return", ORDER, "W-" + ORDER, "case_1:open_return", note=note, lines=lines,
                      reason="changed_mind")  # fmt: skip


def test_shopifys_return_request_has_the_documented_input_shape():
    schema = Draft202012Validator(SHOPIFY_DOC["variables_schema"])
    assert list(schema.iter_errors(SHOPIFY_DOC["documented_example_variables"])) == [], "the schema fits the docs"
    creds = {"BASE_URL": "https://shop.example", "ACCESS_TOKEN": "shpat_x"}
    request = shopify.build_return_request(
        creds, "2025-07", decision(note="x" * 400), [("gid://shopify/FulfillmentLineItem/987654321", 1)]
    )
    body = request.json_body
    assert "returnRequest(input: $input)" in body["query"]
    assert [e.message for e in schema.iter_errors(body["variables"])] == []
    [line] = body["variables"]["input"]["returnLineItems"]
    assert line["returnReason"] == "UNWANTED" and len(line["customerNote"]) == 300  # "customer changed their mind"
    assert body["variables"]["input"]["orderId"] == f"gid://shopify/Order/{ORDER}"


def test_shopifys_returnable_lines_are_read_from_the_documented_answer_and_cover_the_quantities():
    answer = copy.deepcopy(SHOPIFY_DOC["returnable_fulfillments_answer"])
    node = answer["data"]["returnableFulfillments"]["edges"][0]["node"]
    item = node["returnableFulfillmentLineItems"]["edges"][0]["node"]
    item["fulfillmentLineItem"]["lineItem"] = {"sku": "SCARF-RED"}  # the field our query adds
    second = copy.deepcopy(node)
    second["returnableFulfillmentLineItems"]["edges"][0]["node"]["fulfillmentLineItem"]["id"] = "gid://x/2"
    answer["data"]["returnableFulfillments"]["edges"].append({"node": second})
    lines = shopify.returnable_lines(answer)
    assert shopify.match_returnable((("SCARF-RED", 2),), lines) == (
        [("gid://shopify/FulfillmentLineItem/1", 1), ("gid://x/2", 1)],
        [],
    )
    assert shopify.match_returnable((("SCARF-RED", 3), ("HAT", 1)), lines)[1] == ["SCARF-RED", "HAT"]


def test_tiktoks_create_return_has_the_documented_fields_and_carries_the_idempotency_key():
    creds = {"BASE_URL": "https://tts.example", "APP_KEY": "k", "WEBHOOK_SECRET": "sec", "ACCESS_TOKEN": "t",
             "SHOP_CIPHER": "ROW_c"}  # fmt: skip
    now = datetime(2026, 11, 30, tzinfo=UTC)
    request = tiktok_shop.build_create_return(creds, decision(), ["577086512123", "577086512124"], "changed_mind", now)
    assert request.url.startswith("https://tts.example" + TIKTOK_DOC["path"] + "?")
    schema = Draft202012Validator(TIKTOK_DOC["body_schema"])
    assert [e.message for e in schema.iter_errors(json.loads(request.content))] == []
    query = dict(pair.split("=", 1) for pair in request.url.split("?", 1)[1].split("&"))
    assert query["shop_cipher"] == "ROW_c" and query["idempotency_key"] == "case_1%3Aopen_return"
    detail = {"data": {"orders": [{"id": ORDER, "line_items": [
        {field: f"{field}-{n}" for field in TIKTOK_DOC["order_detail"]["line_item_fields"]} | {"seller_sku": "SCARF-RED"}
        for n in (1, 2)
    ]}]}}  # fmt: skip
    lines = tiktok_shop.order_line_items(detail)
    assert tiktok_shop.line_items_for((("SCARF-RED", 2),), lines) == (["id-1", "id-2"], [])
    assert tiktok_shop.line_items_for((("SCARF-RED", 3),), lines)[1] == ["SCARF-RED"]


# --- the buyer's withdrawal, told to the marketplace -------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()
    assert fake.failures == [], "a check inside the fake API failed:\n" + "\n".join(fake.failures)


def running(tmp_path: Path, **env: str) -> Iterator[tuple]:
    settings = make_settings(
        RB_DATABASE_URL=f"sqlite:///{tmp_path}/told.db",
        RB_BUYER_LINK_KEYS=LINK_KEY,
        RB_PUBLIC_URL="https://returns.example.com",
        RB_SHOPIFY_WEBHOOK_SECRET=test_shopify.SECRET,
        **env,
    )
    container = Container(settings)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    try:
        yield operator_client(create_app(settings, container)), container
    finally:
        worker.stop()
        container.close()


def case_of(client, case_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return client.get(f"/returns/{case_id}").get_json()


def names(client, case_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["name"] for e in case_of(client, case_id)["timeline"]]


def delivered_order(container: Container, marketplace: str, order_id: str = ORDER) -> str:
    """The marketplace reports the order delivered three days ago (DE buyer): the order's page exists."""
    at = datetime.now(UTC) - timedelta(days=3)
    event = example("return-requested-de", type="order.delivered", marketplace_event_id=f"delivered-{order_id}",
                    occurred_at=at.isoformat())  # fmt: skip
    event["order"].update(id=order_id, delivered_at=at.isoformat())
    [accepted] = container.intake.accept(marketplace, ParsedDelivery(None, [event]))
    return accepted.case_id


def withdraw(client, case_id: str) -> None:  # type: ignore[no-untyped-def]
    """The buyer's two steps on the page: "Vertrag hier widerrufen", then "Widerruf bestätigen"."""
    assert wait_for(lambda: case_of(client, case_id)["timeline"], timeout=20)
    path = case_of(client, case_id)["buyer_url"].removeprefix("https://returns.example.com")
    page = client.get(path)
    assert "Vertrag hier widerrufen" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"csrf": csrf, "name": "Anna Schmidt", "email": "anna@example.com", "line-0": "1"}
    check = client.post(f"{path}/withdraw", data=form)
    confirm = {**form, "csrf": re.search(r'name="csrf" value="([^"]+)"', check.text).group(1)}
    assert client.post(f"{path}/withdraw/confirm", data=confirm).status_code == 303


def shopify_echo(client):  # type: ignore[no-untyped-def]
    """Shopify's `returns/request` webhook for the return it opened (its own sample, our order)."""
    body = json.dumps(SHOPIFY_ECHO).encode()
    digest = base64.b64encode(hmac.new(test_shopify.SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Topic": "returns/request",
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return client.post("/webhooks/shopify", data=body, headers=headers, content_type="application/json")


def shopify_routes(api: FakeApi, release: threading.Event) -> None:
    @api.route("POST", GRAPHQL)
    def answer(call):  # type: ignore[no-untyped-def]
        sent = call.json()
        if "returnableFulfillments" in sent["query"]:
            assert sent["variables"] == {"orderId": f"gid://shopify/Order/{ORDER}"}
            line = {"quantity": 1, "fulfillmentLineItem": {"id": "gid://shopify/FulfillmentLineItem/987654321",
                                                           "lineItem": {"sku": "SCARF-RED"}}}  # fmt: skip
            edge = {"node": {"id": "gid://shopify/ReturnableFulfillment/1",
                             "returnableFulfillmentLineItems": {"edges": [{"node": line}]}}}  # fmt: skip
            return 200, {"data": {"returnableFulfillments": {"edges": [edge]}}}
        if "returnRequest" not in sent["query"]:
            return 200, {"data": {"return": None}}  # the details of a thin webhook: nothing more to add here
        errors = list(Draft202012Validator(SHOPIFY_DOC["variables_schema"]).iter_errors(sent["variables"]))
        assert errors == [], errors
        assert release.wait(20), "the test never let Shopify answer"
        created = {"id": f"gid://shopify/Return/{CREATED}", "status": "REQUESTED"}
        return 200, {"data": {"returnRequest": {"return": created, "userErrors": []}}}


@pytest.mark.parametrize("webhook_first", [False, True], ids=["answer-then-webhook", "webhook-before-answer"])
def test_a_withdrawal_is_told_to_shopify_once_and_its_webhook_joins_the_same_case(tmp_path, api, webhook_first):
    """Issue 18 §2: the withdrawal reaches Shopify as one `returnRequest`; Shopify's `returns/request` for the
    return it opened joins the withdrawal's case (also when it arrives before our call's answer is recorded),
    with no second withdrawal, request or notice; the case then carries Shopify's return id for its decisions."""
    release = threading.Event()
    shopify_routes(api, release)
    service = running(tmp_path, RB_SHOPIFY_BASE_URL=api.url, RB_SHOPIFY_ACCESS_TOKEN="shpat_test")
    client, container = next(service)
    try:
        case_id = delivered_order(container, "shopify")
        withdraw(client, case_id)
        mutations = lambda: [c for c in api.calls_to(GRAPHQL) if "returnRequest" in c.json()["query"]]  # noqa: E731
        assert wait_for(mutations, timeout=20)
        if not webhook_first:
            release.set()
            assert wait_for(lambda: "marketplace_open_return_accepted" in names(client, case_id), timeout=20)
            assert case_of(client, case_id)["return_id"] == CREATED
        echo = shopify_echo(client)
        assert echo.status_code == 202, echo.get_json()
        assert echo.get_json()["case_id"] == case_id, "Shopify's return joins the withdrawal's case"
        release.set()
        assert wait_for(lambda: "marketplace_open_return_accepted" in names(client, case_id), timeout=20)
        assert wait_for(lambda: names(client, case_id).count("return.requested") == 2, timeout=20)
        case = case_of(client, case_id)
        assert case["return_id"] == CREATED and not case["needs_attention"]
        assert "event_not_allowed" not in names(client, case_id)
        assert names(client, case_id).count("marketplace_return_opened") == 1
        kinds = [n["kind"] for n in case["notices"]]
        assert kinds.count("request_received") == 1 and kinds.count("withdrawal_confirmation") == 1
        assert len(mutations()) == 1
        with container.uow() as uow:
            from adapters.storage.models import CaseRow

            assert uow.session.query(CaseRow).filter_by(marketplace="shopify", order_id=ORDER).count() == 1
        assert shopify_echo(client).get_json()["duplicate"] is True
    finally:
        release.set()
        service.close()


def test_a_withdrawal_on_a_marketplace_without_such_an_api_leaves_an_operator_task(tmp_path, api):
    """eBay's Create Return Request is made with the buyer's own token: the case records that eBay was not told,
    why, and puts it before a person (as for other decisions no adapter can tell); nothing is sent."""
    service = running(tmp_path, RB_EBAY_BASE_URL=api.url, RB_EBAY_ACCESS_TOKEN="v^1.1#token")
    client, container = next(service)
    try:
        case_id = delivered_order(container, "ebay", order_id="12-34567-89012")
        withdraw(client, case_id)
        assert wait_for(lambda: "marketplace_not_told" in names(client, case_id), timeout=20)
        case = case_of(client, case_id)
        [task] = [e for e in case["timeline"] if e["name"] == "marketplace_not_told"]
        assert "buyer's own eBay user token" in task["detail"]["message"]
        assert case["needs_attention"] and case["state"] == "requested"
        assert api.calls == []
    finally:
        service.close()


def test_a_redelivered_open_return_reaches_tiktok_shop_once(tmp_path, api):
    from queues.consumer import IncomingMessage
    from service.marketplaces import MarketplaceDecisions

    detail_path, create_path = TIKTOK_DOC["order_detail"]["path"], TIKTOK_DOC["path"]
    lines = [{"id": "577086512123", "sku_id": "1729", "seller_sku": "SCARF-RED"}]
    api.route("GET", detail_path)(
        lambda call: (200, {"code": 0, "data": {"orders": [{"id": "5761", "line_items": lines}]}})
    )
    api.route("POST", create_path)(lambda call: (200, {"code": 0, "message": "Success",
                                                       "data": {"return_id": "4035", "return_status": "RETURN_OR_REFUND_REQUEST_PENDING"}}))  # fmt: skip
    service = running(
        tmp_path,
        RB_TIKTOK_SHOP_BASE_URL=api.url,
        RB_TIKTOK_SHOP_APP_KEY="app",
        RB_TIKTOK_SHOP_WEBHOOK_SECRET="secret",
        RB_TIKTOK_SHOP_ACCESS_TOKEN="TTP_token",
        RB_TIKTOK_SHOP_SHOP_CIPHER="ROW_cipher",
        RB_TIKTOK_SHOP_WITHDRAWAL_REASON="ecom_order_delivered_refund_and_return_reason_no_longer_needed",
    )
    client, container = next(service)
    try:
        case_id = delivered_order(container, "tiktok_shop", order_id="5761")
        handler = MarketplaceDecisions(
            "tiktok_shop", container.uow, container.clock, container.http, settings=container.settings
        )
        payload = {"case_id": case_id, "order_id": "5761", "lines": [{"sku": "SCARF-RED", "quantity": 1}],
                   "reason": "changed_mind"}  # fmt: skip
        body = {"case_id": case_id, "kind": "marketplace", "adapter": "tiktok_shop", "action": "open_return",
                "idempotency_key": f"{case_id}:open_return", "payload": payload}  # fmt: skip
        for redelivered in (False, True):
            handler(IncomingMessage("cmd-1", body, "marketplace.tiktok_shop.open_return", redelivered=redelivered))
        handler(IncomingMessage("cmd-2-same-key", body, "marketplace.tiktok_shop.open_return"))
        [created] = api.calls_to(create_path)
        assert json.loads(created.body)["order_line_item_ids"] == ["577086512123"]
        assert created.query["idempotency_key"] == f"{case_id}:open_return"
        assert names(client, case_id).count("marketplace_open_return_accepted") == 1
        assert case_of(client, case_id)["return_id"] == "4035"
    finally:
        service.close()
