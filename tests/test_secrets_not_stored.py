"""No credential is ever stored or served: every credential setting holds a marker, real flows run (carrier
bookings, marketplace details and decisions, polls), then every row of every table and every API answer is
searched for each marker, and for the access tokens the carriers' OAuth endpoints handed out."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from sqlalchemy import inspect, text

from adapters.http import OutboundRequest
from queues.worker import Worker
from service.bootstrap import Container
from tests.carrier_flow import CARRIER_ENV, approved_case, fake_carriers, wait_case
from tests.conftest import make_settings, operator_client, wait_for
from tests.marketplaces import test_lazada, test_tiktok_shop
from tests.marketplaces.conftest import NOW
from tests.marketplaces.fake_api import FakeApi
from tests.marketplaces.test_end_to_end import SECRETS as WEBHOOK_SECRETS
from tests.marketplaces.test_end_to_end import post
from tests.marketplaces.test_pollers import amazon_routes
from wsgi import create_app

OPS = "ops-MARKER-0000-token"
# Every carrier credential setting gets a marker of its own (the AES key must stay a valid key: kept, and searched).
CARRIER_MARKERS = {
    "RB_FEDEX_CLIENT_SECRET": "fedex-MARKER-client-secret",
    "RB_FEDEX_WEBHOOK_SECRET": "fedex-MARKER-aiv-token",
    "RB_UPS_CLIENT_SECRET": "ups-MARKER-client-secret",
    "RB_UPS_WEBHOOK_SECRET": "ups-MARKER-credential",
    "RB_DHL_EXPRESS_API_KEY": "dhl-MARKER-api-key",
    "RB_DHL_EXPRESS_API_SECRET": "dhl-MARKER-api-secret",
    "RB_DHL_EXPRESS_WEBHOOK_SECRET": "dhl-MARKER-push-token",
    "RB_SF_EXPRESS_APP_SECRET": "sf-MARKER-app-secret",
    "RB_SF_EXPRESS_WEBHOOK_SECRET": "sf-MARKER-push",
    "RB_CUSTOMS_BROKER_API_KEY": "customs-MARKER-api-key",
    "RB_SMTP_PASSWORD": "smtp-MARKER-password",
    "RB_NOTIFY_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"notify-MARKER-key-0123456789").decode(),
}
ISSUED_TOKENS = ("fx-tok", "ups-tok")  # what the fake OAuth endpoints hand out (tests/carrier_flow.py)


def stored_text(container: Container) -> str:
    """Every row of every table, as text."""
    rows = []
    with container.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            rows += [repr(tuple(row)) for row in connection.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(rows)


def answers_text(client, case_ids: list[str]) -> str:  # type: ignore[no-untyped-def]
    paths = ["/returns", "/ops/overdue", "/ops/dead-letters", "/ops/queues", "/fx/ledger", "/ops"]
    for case_id in case_ids:
        paths += [f"/returns/{case_id}", f"/returns/{case_id}/notices"]
    return "\n".join(client.get(path).get_data(as_text=True) for path in paths)


def assert_nowhere(secrets: dict[str, str], *texts: str) -> None:
    leaks = [name for name, value in secrets.items() for body in texts if value and value in body]
    assert leaks == [], f"secrets found: {sorted(set(leaks))}"


def test_describe_keeps_allowed_headers_and_hides_every_credential() -> None:
    request = OutboundRequest(
        "POST",
        "https://user:pw@api.lazada.test/rest/x?app_key=123&access_token=LZ-secret&sign=ABC&order_id=9",
        headers={
            "X-Shopify-Access-Token": "shpat_1",
            "x-tts-access-token": "TTP_1",
            "Content-Type": "application/json",
            "Authorization": "IAF v^1",
            "X-Custom-Key": "k1",
        },
        form={"grant_type": "refresh_token", "refresh_token": "Atzr|r", "client_secret": "cs", "client_id": "ci"},
    )
    shown = repr(request.describe())
    for secret in ("LZ-secret", "ABC", "shpat_1", "TTP_1", "IAF v^1", "k1", "Atzr|r", "'cs'", "pw@", "'ci'"):
        assert secret not in shown, secret
    described = request.describe()
    assert described["headers"]["Content-Type"] == "application/json"
    assert "order_id=9" in described["url"] and described["body"]["grant_type"] == "refresh_token"


@pytest.fixture
def carriers():  # type: ignore[no-untyped-def]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_carrier_bookings_keep_no_credential_in_any_row_or_answer(tmp_path: Path, carriers) -> None:  # type: ignore[no-untyped-def]
    env = {**CARRIER_ENV, **CARRIER_MARKERS, "RB_OPS_TOKEN": OPS, "RB_SMTP_HOST": "127.0.0.1", "RB_SMTP_PORT": "9",
           "RB_SMTP_USER": "returns", "RB_NOTIFY_WEBHOOK_URL": "https://notify.test/hook"}  # fmt: skip
    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/c.db", **env)
    carriers.post("https://notify.test/hook", json={"ok": True})
    container = Container(settings)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    try:
        assert worker.wait_ready(10)
        client = operator_client(create_app(settings, container))
        fake_carriers(carriers)
        case_ids = [approved_case(client, carrier=name) for name in ("fedex", "ups", "dhl_express", "sf_express")]
        for case_id in case_ids:
            wait_case(client, case_id, lambda c: any(s["status"] == "booked" for s in c["shipments"]))
        secrets = {**{k: v for k, v in env.items() if k in CARRIER_MARKERS}, "RB_OPS_TOKEN": OPS,
                   "RB_SF_EXPRESS_AES_KEY": env["RB_SF_EXPRESS_AES_KEY"], **{t: t for t in ISSUED_TOKENS}}  # fmt: skip
        assert_nowhere(secrets, stored_text(container), answers_text(client, case_ids))
    finally:
        worker.stop()
        container.close()


MARKETPLACE_MARKERS = {
    "RB_SHOPIFY_ACCESS_TOKEN": "shpat_MARKER_shopify",
    "RB_LAZADA_ACCESS_TOKEN": "lazada-MARKER-token",
    "RB_TIKTOK_SHOP_ACCESS_TOKEN": "TTP_MARKER_tiktok",
    "RB_AMAZON_LWA_CLIENT_SECRET": "amzn-MARKER-client-secret",
    "RB_AMAZON_REFRESH_TOKEN": "Atzr|MARKER-refresh",
    "RB_EBAY_ACCESS_TOKEN": "v^1.1#MARKER-ebay",
    "RB_SHOPEE_ACCESS_TOKEN": "shopee-MARKER-token",
    "RB_TMALL_APP_SECRET": "tmall-MARKER-secret",
    "RB_TMALL_SESSION": "tmall-MARKER-session",
    "RB_ALIEXPRESS_APP_SECRET": "aliexpress-MARKER-secret",
    "RB_ALIEXPRESS_ACCESS_TOKEN": "aliexpress-MARKER-token",
}


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()


def test_marketplace_calls_keep_no_credential_in_any_row_or_answer(tmp_path: Path, api: FakeApi) -> None:
    api.route("GET", "/rest/order/reverse/return/detail/list")(lambda call: (200, test_lazada.DETAIL))
    api.route("POST", "/admin/api/2025-07/graphql.json")(
        lambda call: (200, {"data": {"returnApproveRequest": {"return": {"status": "OPEN"}, "userErrors": []}}})
    )
    approve = "/return_refund/202309/returns/4035318504086512345/approve"
    api.route("POST", approve)(lambda call: (200, {"code": 0, "message": "Success"}))
    amazon_routes(api, ["DONE"])
    api.route("GET", "/post-order/v2/return/5000012345")(
        lambda call: (200, {"summary": {"returnId": "5000012345", "orderId": "11-22222-33333", "state": "CLOSED"}})
    )
    for method, path in (("GET", "/api/v2/returns/get_return_list"), ("POST", "/router/rest"), ("POST", "/sync")):
        api.route(method, path)(lambda call: (500, {"error": "down"}))  # errors name the URL they called
    env = {**WEBHOOK_SECRETS, **MARKETPLACE_MARKERS, "RB_OPS_TOKEN": OPS,
           "RB_SHOPIFY_BASE_URL": api.url, "RB_LAZADA_BASE_URL": f"{api.url}/rest",
           "RB_TIKTOK_SHOP_BASE_URL": api.url, "RB_TIKTOK_SHOP_SHOP_CIPHER": "ROW_cipher",
           "RB_AMAZON_BASE_URL": api.url, "RB_AMAZON_LWA_URL": f"{api.url}/auth/o2/token",
           "RB_AMAZON_LWA_CLIENT_ID": "client", "RB_AMAZON_MARKETPLACE_IDS": "A1PA6795UKMFR9",
           "RB_EBAY_BASE_URL": api.url, "RB_SHOPEE_BASE_URL": api.url, "RB_SHOPEE_PARTNER_ID": "2001",
           "RB_SHOPEE_SHOP_ID": "123", "RB_TMALL_BASE_URL": f"{api.url}/router/rest", "RB_TMALL_APP_KEY": "12345678",
           "RB_ALIEXPRESS_BASE_URL": f"{api.url}/sync", "RB_ALIEXPRESS_APP_KEY": "50001"}  # fmt: skip
    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/m.db", **env)
    container = Container(settings, clock=lambda: NOW)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    try:
        assert worker.wait_ready(10)
        client = operator_client(create_app(settings, container))
        case_ids = [post(client, name).get_json()["case_id"] for name in ("shopify", "lazada", "tiktok_shop", "ebay")]
        shopify, lazada, tiktok, ebay = case_ids
        assert wait_for(
            lambda: any(e["name"] == "details_fetched" for e in client.get(f"/returns/{ebay}").json["timeline"])
        )
        assert wait_for(lambda: client.get(f"/returns/{lazada}").json["items"])
        for case_id in (shopify, tiktok):
            assert wait_for(lambda c=case_id: client.get(f"/returns/{c}").json["state"] == "requested")
            assert client.post(f"/returns/{case_id}/commands/approve").status_code == 200
        assert wait_for(lambda: api.calls_to(approve))
        assert wait_for(
            lambda: any(
                e["name"] == "marketplace_approve_accepted" for e in client.get(f"/returns/{shopify}").json["timeline"]
            )
        )
        outcomes = {o.marketplace: o for o in container.marketplace_polls().run_all()}
        assert outcomes["shopee"].error and outcomes["tmall"].error, "the failed polls are recorded"
        listed = client.get("/returns?marketplace=amazon").json["cases"]
        secrets = {**MARKETPLACE_MARKERS, "RB_OPS_TOKEN": OPS, "RB_LAZADA_WEBHOOK_SECRET": test_lazada.APP_SECRET,
                   "RB_TIKTOK_SHOP_WEBHOOK_SECRET": test_tiktok_shop.APP_SECRET,
                   "the access token Amazon's LWA issued": "Atza|token"}  # fmt: skip
        assert_nowhere(secrets, stored_text(container), answers_text(client, case_ids + [c["id"] for c in listed]))
    finally:
        worker.stop()
        container.close()
