"""A carrier or marketplace is one module: what the system shows about it comes from the module (issue 17, item 5).

A throwaway carrier and a throwaway marketplace, defined here as a new module would define them, are registered
and then found everywhere: their routes (with their own content types), the OpenAPI enums, the buyer's notices and
the README's Settings rows. The README's adapter rows are checked against the modules' declarations, and a module
whose declarations are missing or untrue is refused when it registers.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.carriers import CARRIERS
from adapters.carriers.base import CarrierBase, InboundRequest, Intercepts, SignatureError
from adapters.marketplaces import MARKETPLACES
from adapters.marketplaces.base import Enriches, ParsedDelivery, Polls, Responds, ReturnRequestApi
from adapters.notifiers.render import render_notice
from adapters.registry import AdapterDeclarationError, Registry, Setting, SignatureHeader, settings_rows
from config.settings import AdapterSettings, Settings
from core.tracking import TrackingUpdate
from service.marketplaces import enriching_marketplaces, responding_marketplaces
from service.polling import pollers

README = Path(__file__).resolve().parents[1] / "README.md"
PUSH_TYPE = "application/vnd.parcelwing.scan+xml"
BAZAAR_TYPE = "application/x-www-form-urlencoded"


class Parcelwing(CarrierBase):
    """A carrier as a new module declares it; only its tracking push is implemented, which is all the route needs."""

    name = "parcelwing"
    display_name = "Parcelwing Couriers"
    content_types = (PUSH_TYPE,)
    signature_headers = (SignatureHeader("X-Wing-Token", "the token Parcelwing was given"),)
    capabilities: frozenset[type] = frozenset()
    declared_settings = (
        Setting(("PUSH_TOKEN",), "none: Parcelwing pushes answer 401", "the token Parcelwing sends in `X-Wing-Token`"),
    )

    def verify_tracking_push(self, request: InboundRequest, settings: AdapterSettings, now: Any = None) -> None:
        expected, given = settings.get("PUSH_TOKEN"), request.header("X-Wing-Token")
        if not expected or not given or not hmac.compare_digest(expected, given):
            raise SignatureError("X-Wing-Token is missing or wrong")

    def parse_tracking_push(self, request: InboundRequest, settings: AdapterSettings) -> list[TrackingUpdate]:
        return []


class Bazaar:
    """A marketplace as a new module declares it: form-encoded pushes, a shared secret, a poll."""

    name = "bazaar"
    display_name = "Bazaar.example"
    content_types = (BAZAAR_TYPE,)
    signature_headers = (
        SignatureHeader("X-Bazaar-Secret", "the shop's shared secret"),
        SignatureHeader("Authorization", "Bazaar's own bearer scheme"),
    )
    capabilities: frozenset[type] = frozenset({Polls})
    declared_settings = (Setting(("BASE_URL", "SHOP_KEY"), "none: not polled", "Bazaar's API and the shop's key"),)
    return_request = ReturnRequestApi(False, "Bazaar's API reference", "Bazaar has no call that opens a return")

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        if not secret or request.header("X-Bazaar-Secret") != secret:
            raise SignatureError("X-Bazaar-Secret is missing or wrong")

    def parse(self, request: InboundRequest) -> ParsedDelivery:
        return ParsedDelivery(delivery_id=None, events=[], ignored="a shop notice, not a return")

    def configured(self, settings: AdapterSettings) -> Bazaar:
        return self

    def poll(self, checkpoint: dict[str, Any] | None, http: Any, now: datetime) -> Any:
        return None

    def respond(self, decision: Any, http: Any, now: datetime) -> Any:
        """Has the method, but does not declare `Responds`: decisions must not be sent to it."""
        raise AssertionError("an undeclared capability was used")


@pytest.fixture
def throwaway() -> Iterator[None]:
    CARRIERS.register("parcelwing", Parcelwing())
    MARKETPLACES.register("bazaar", Bazaar())
    yield
    CARRIERS.unregister("parcelwing")
    MARKETPLACES.unregister("bazaar")


def _readme_settings_rows() -> list[str]:
    text = README.read_text()
    table = text[text.index("## Settings") :]
    table = table[: table.index("\n## ", 1)]
    return [line for line in table.splitlines() if line.startswith("| `")]


def _readme_problems(*registries: Registry[Any]) -> tuple[list[str], list[str]]:
    """(declared rows the README lacks, README rows about a registered adapter that no module declares)."""
    rows = _readme_settings_rows()
    declared = settings_rows(*registries)
    prefixes = tuple(f"RB_{name.upper()}_" for registry in registries for name in registry.names())
    about_adapters = [row for row in rows if re.match(r"\| `(RB_[A-Z0-9_]+)`", row) and row[3:].startswith(prefixes)]
    return [row for row in declared if row not in rows], [row for row in about_adapters if row not in declared]


def test_the_readme_settings_rows_for_adapters_are_the_modules_declarations() -> None:
    missing, undeclared = _readme_problems(MARKETPLACES, CARRIERS)
    assert missing == [], "README Settings lacks rows the modules declare:\n" + "\n".join(missing)
    assert undeclared == [], "README Settings has adapter rows no module declares:\n" + "\n".join(undeclared)


_READS = (
    re.compile(r'settings\.get\("([A-Z0-9_]+)"'),
    re.compile(r"settings\.require\(([^)]*)\)"),
    re.compile(r"credentials\(self\.settings, ([^)]*)\)"),
    re.compile(r"^CREDENTIALS = \(([^)]*)\)", re.M),
)


def _keys_read(module_file: str) -> set[str]:
    """The `RB_<NAME>_*` keys a module's source asks its settings for."""
    source = Path(module_file).read_text()
    keys = {key for pattern in _READS for found in pattern.findall(source) for key in re.findall(r"[A-Z]\w+", found)}
    return keys | ({"LOOKBACK_DAYS"} if "self.poll_start(" in source else set())  # read by the shared poll_start


@pytest.mark.parametrize("registry", [CARRIERS, MARKETPLACES], ids=["carriers", "marketplaces"])
def test_every_setting_a_module_reads_is_one_it_declares(registry: Registry[Any]) -> None:
    import sys

    for name, adapter in registry:
        declared = {key for setting in adapter.declared_settings for key in setting.keys}
        # RB_<MARKETPLACE>_WEBHOOK_SECRET has one shared README row: every marketplace is signed with its secret.
        shared = {"WEBHOOK_SECRET"} if registry is MARKETPLACES else set()
        module = sys.modules[type(adapter).__module__].__file__ or ""
        undeclared = _keys_read(module) - declared - shared - {"CREDENTIALS"}
        assert not undeclared, f"{name} reads settings it does not declare: {sorted(undeclared)}"


def test_a_new_carrier_module_is_routed_with_its_own_content_type_and_settings(throwaway, app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    settings = app.extensions["returnbridge"].settings
    assert settings.for_adapter("parcelwing").get("PUSH_TOKEN") is None
    body = b"<scan/>"
    unsigned = client.post("/carriers/parcelwing/tracking", data=body, headers={"Content-Type": PUSH_TYPE})
    assert unsigned.status_code == 401 and unsigned.json["error"]["code"] == "invalid_signature"
    as_json = client.post("/carriers/parcelwing/tracking", data=b"{}", headers={"Content-Type": "application/json"})
    assert as_json.status_code == 415


def test_a_new_carrier_module_is_accepted_once_its_declared_setting_is_set(throwaway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings
    from wsgi import create_app

    app = create_app(make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_PARCELWING_PUSH_TOKEN="wing"))
    try:
        answer = app.test_client().post(
            "/carriers/parcelwing/tracking",
            data=b"<scan/>",
            headers={"Content-Type": PUSH_TYPE, "X-Wing-Token": "wing"},
        )
        assert answer.status_code == 202, answer.get_data(as_text=True)
        assert answer.json["carrier"] == "parcelwing"
    finally:
        app.extensions["returnbridge"].close()


def test_a_new_marketplace_module_is_routed_with_its_own_content_type(throwaway, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings
    from wsgi import create_app

    app = create_app(make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_BAZAAR_WEBHOOK_SECRET="s3cret"))
    try:
        client = app.test_client()
        form = {"Content-Type": BAZAAR_TYPE, "X-Bazaar-Secret": "s3cret"}
        answer = client.post("/webhooks/bazaar", data=b"notice=shop", headers=form)
        assert answer.status_code == 200 and answer.json == {"ignored": True, "reason": "a shop notice, not a return"}
        as_json = client.post("/webhooks/bazaar", data=b"{}", headers={**form, "Content-Type": "application/json"})
        assert as_json.status_code == 415
    finally:
        app.extensions["returnbridge"].close()


def test_the_openapi_document_names_a_new_module_in_its_route(throwaway, app) -> None:  # type: ignore[no-untyped-def]
    paths = app.test_client().get("/openapi.json").json["paths"]
    carrier = paths["/carriers/{carrier}/tracking"]["post"]["parameters"][0]
    marketplace = next(p for p in paths["/webhooks/{marketplace}"]["post"]["parameters"] if p["in"] == "path")
    assert carrier["schema"]["enum"] == ["dhl_express", "fedex", "parcelwing", "sf_express", "ups"]
    assert "`parcelwing`: Parcelwing Couriers" in carrier["description"]
    assert "bazaar" in marketplace["schema"]["enum"] and "generic" in marketplace["schema"]["enum"]


def test_the_openapi_document_takes_the_media_types_a_new_module_declares(throwaway, app) -> None:  # type: ignore[no-untyped-def]
    paths = app.test_client().get("/openapi.json").json["paths"]
    pushed = paths["/carriers/{carrier}/tracking"]["post"]["requestBody"]["content"]
    posted = paths["/webhooks/{marketplace}"]["post"]["requestBody"]["content"]
    assert pushed[PUSH_TYPE]["schema"] == {"type": "string", "description": "the raw body of `parcelwing`"}
    assert posted[BAZAAR_TYPE]["schema"] == {"type": "string", "description": "the raw body of `bazaar`"}
    assert posted["application/json"]["schema"] == {"$ref": "#/components/schemas/ReturnEvent"}  # the view's own
    assert {"text/xml", "application/soap+xml"} <= posted.keys() and "text/plain" in pushed  # eBay's, SF Express's


def _headers(operation: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["description"] for p in operation["parameters"] if p["in"] == "header"}


def test_the_openapi_document_takes_the_headers_a_new_module_declares(throwaway, app) -> None:  # type: ignore[no-untyped-def]
    paths = app.test_client().get("/openapi.json").json["paths"]
    pushed = _headers(paths["/carriers/{carrier}/tracking"]["post"])
    posted = _headers(paths["/webhooks/{marketplace}"]["post"])
    assert pushed["X-Wing-Token"] == "parcelwing: the token Parcelwing was given"
    assert posted["X-Bazaar-Secret"] == "bazaar: the shop's shared secret"
    shared = posted["Authorization"].split("; ")  # one parameter, naming every module that sends it
    assert "bazaar: Bazaar's own bearer scheme" in shared
    assert [use.split(":")[0] for use in shared] == ["bazaar", "lazada", "shopee", "tiktok_shop"]
    assert [p["name"] for p in paths["/webhooks/{marketplace}"]["post"]["parameters"]].count("Authorization") == 1


def test_without_the_throwaway_modules_their_media_types_are_not_in_the_document(app) -> None:  # type: ignore[no-untyped-def]
    paths = app.test_client().get("/openapi.json").json["paths"]
    assert PUSH_TYPE not in paths["/carriers/{carrier}/tracking"]["post"]["requestBody"]["content"]
    assert BAZAAR_TYPE not in paths["/webhooks/{marketplace}"]["post"]["requestBody"]["content"]
    assert "X-Wing-Token" not in _headers(paths["/carriers/{carrier}/tracking"]["post"])
    assert "X-Bazaar-Secret" not in _headers(paths["/webhooks/{marketplace}"]["post"])


def test_a_buyer_notice_names_a_new_carrier_by_the_name_its_module_declares(throwaway) -> None:
    context = {"order_id": "O-1", "return_id": "R-1", "method": "pickup", "carrier": "parcelwing",
               "pickup_at": "2026-12-02T09:00:00+00:00", "ship_by": "2026-12-04T22:59:00+00:00"}  # fmt: skip
    notice = render_notice("return_approved", context, "en", "Europe/Berlin", datetime(2026, 11, 30, tzinfo=UTC))
    assert "Parcelwing Couriers" in notice["body"] and "parcelwing" not in notice["body"]


def test_the_readme_must_show_a_new_modules_settings(throwaway) -> None:
    missing, _ = _readme_problems(MARKETPLACES, CARRIERS)
    assert missing == [
        "| `RB_BAZAAR_BASE_URL`, `RB_BAZAAR_SHOP_KEY` | none: not polled | Bazaar's API and the shop's key |",
        "| `RB_PARCELWING_PUSH_TOKEN` | none: Parcelwing pushes answer 401 | the token Parcelwing sends in "
        "`X-Wing-Token` |",
    ]


def test_declared_capabilities_decide_what_the_worker_does_with_a_module(throwaway) -> None:
    assert "bazaar" in [poller.name for poller in pollers(Settings())]
    assert "bazaar" not in responding_marketplaces()  # it has `respond`, but did not declare it
    assert "bazaar" not in enriching_marketplaces()
    assert set(responding_marketplaces()) >= {"shopify", "ebay", "lazada", "shopee", "tiktok_shop"}


class _Claims(Parcelwing):
    name = "claims_too_much"
    capabilities: frozenset[type] = frozenset({Intercepts})


class _Nameless(Parcelwing):
    name = "nameless"
    display_name = ""


class _Unresponsive(Bazaar):
    name = "unresponsive"
    capabilities: frozenset[type] = frozenset({Polls, Responds, Enriches})


class _UnlistedHeaders(Parcelwing):
    name = "unlisted_headers"
    signature_headers = ("X-Wing-Token",)  # type: ignore[assignment]


class _OpensReturnsSilently(Bazaar):
    name = "opens_silently"
    return_request = ReturnRequestApi(True, "Bazaar's API reference")


@pytest.mark.parametrize(
    ("registry", "name", "adapter", "problem"),
    [
        (CARRIERS, "claims_too_much", _Claims(), "declares Intercepts but does not implement it"),
        (CARRIERS, "nameless", _Nameless(), "declares no display_name"),
        (MARKETPLACES, "unresponsive", _Unresponsive(), "declares Enriches but does not implement it"),
        (CARRIERS, "parcelwing", Parcelwing(), "its name is 'parcelwing'"),
        (MARKETPLACES, "opens_silently", _OpensReturnsSilently(), "it opens returns but does not declare Responds"),
        (CARRIERS, "unlisted_headers", _UnlistedHeaders(), "signature_headers must be a tuple of SignatureHeader"),
    ],
    ids=[
        "capability-unmet",
        "no-display-name",
        "marketplace-capability-unmet",
        "name-mismatch",
        "opens-returns",
        "headers-not-declared-as-such",
    ],
)
def test_a_module_whose_declarations_are_missing_or_untrue_is_refused_when_it_registers(
    registry: Registry[Any], name: str, adapter: Any, problem: str
) -> None:
    wrong_name = "misnamed" if problem.startswith("its name") else name
    with pytest.raises(AdapterDeclarationError, match=re.escape(problem)):
        registry.register(wrong_name, adapter)
    assert wrong_name not in registry
