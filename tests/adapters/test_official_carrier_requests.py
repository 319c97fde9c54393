"""Every request DHL Express, FedEx and UPS modules build, validated against the carriers' official OpenAPI documents.

A matrix of lanes (the buyer's country first: the parcel leaves from there),
line shapes and collection modes; every label, pickup, pickup cancellation and
tracking request must validate (tests/official_reference.py). What a schema
cannot say is checked against the documents' words below: per-line weights and
values, units, the origin's local time and offset, E.164 phone numbers, field
lengths and empty optionals.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from jsonschema import Draft202012Validator

from adapters.carriers.base import CARRIERS, CarrierRejected, InterceptOrder, PickupWindow
from core.events import Address
from core.invoice import returns_invoice
from core.shipments import CustomsLine, ReturnShipmentOrder
from tests.adapters.carrier_fixtures import settings
from tests.official_reference import OFFICIAL, problems

PLACES: dict[str, Address] = {
    "DE": Address("DE", "Jana Schmidt", "Hauptstraße 1", None, "Berlin", None, "10115", "030 1234567", "j@example.de"),
    "GB": Address("GB", "Oliver Smith", "10 Downing Street", None, "London", None, "SW1A 2AA", "020 7946 0958"),
    "US": Address("US", "Ann Lee", "350 Fifth Avenue", "Suite 10", "New York", "NY", "10118", "(212) 555-0134"),
    "MX": Address("MX", "Luis García", "Av. Reforma 222", None, "Ciudad de México", "CMX", "06600", "55 1234 5678"),
    "CN": Address("CN", "王芳", "南山区科技园1号", None, "深圳", "广东", "518000", "13812345678"),
    "JP": Address("JP", "佐藤花子", "千代田区丸の内1-1", None, "東京", "東京都", "100-0005", "03-1234-5678"),
    "KR": Address("KR", "김민준", "세종대로 110", None, "서울", "서울특별시", "04524", "02-1234-5678"),
    "FR": Address("FR", "Camille Martin", "5 Rue de Rivoli", None, "Paris", None, "75001", "01 23 45 67 89"),
}
LANES = [("DE", "CN"), ("GB", "DE"), ("US", "MX"), ("CN", "US"), ("JP", "KR"), ("FR", "US")]
CURRENCY = {"DE": "EUR", "GB": "GBP", "US": "USD", "CN": "CNY", "JP": "JPY", "FR": "EUR"}
SHAPES = {
    "one": (CustomsLine(1, "Cotton T-shirt", 1, Decimal("25.00"), "6109.10", "CN", Decimal("0.3")),),
    "quantity": (CustomsLine(1, "Silk scarf", 2, Decimal("12.50"), "6214.10", "IT", Decimal("0.25")),),
    "several": (
        CustomsLine(1, "Cotton T-shirt", 1, Decimal("25.00"), "6109.10", "CN", Decimal("0.3")),
        CustomsLine(2, "Silk scarf", 3, Decimal("12.50"), None, None, Decimal("0.125")),
        CustomsLine(
            3, "Leather belt " + "with a very long description " * 4, 1, Decimal("40"), None, "IN", Decimal("1")
        ),
    ),
}
CREDENTIALS = {
    "dhl_express": {"API_KEY": "k", "API_SECRET": "s", "ACCOUNT": "123456789"},
    "fedex": {"CLIENT_ID": "c", "CLIENT_SECRET": "s", "ACCOUNT": "740561073"},
    "ups": {"CLIENT_ID": "c", "CLIENT_SECRET": "s", "ACCOUNT": "A1B2C3"},
}
TRACKING = {"dhl_express": "1234567890", "fedex": "794633071740", "ups": "1Z12345E0205271688"}
MATRIX = [
    (origin, destination, shape, pickup)
    for origin, destination in LANES
    for shape in SHAPES
    for pickup in (True, False)
]


def make_order(origin: str, destination: str, shape: str, pickup: bool) -> ReturnShipmentOrder:
    return ReturnShipmentOrder(
        case_id="case-7f3a",
        reference=f"RMA-{origin}{destination}-0001",
        shipper=PLACES[origin],
        receiver=PLACES[destination],
        ship_date=date(2026, 7, 2),
        pickup=pickup,
        currency=CURRENCY[origin],
        lines=SHAPES[shape],
        original_order_id="ORD-88",
        reason="defective",
    )


def requests_of(carrier: str, order: ReturnShipmentOrder) -> dict[str, object]:
    adapter, config = CARRIERS.get(carrier), settings(carrier, **CREDENTIALS[carrier])
    window = PickupWindow(order.ship_date)
    return {
        "label": adapter.build_return_shipment(order, config),
        "pickup": adapter.build_pickup(order, window, TRACKING[carrier], config),
        "cancel_pickup": adapter.build_cancel_pickup("PRN123456", order, window, config),
        "tracking": adapter.build_tracking(TRACKING[carrier], config),
    }


@pytest.mark.parametrize("carrier", ["dhl_express", "fedex", "ups"])
@pytest.mark.parametrize(("origin", "destination", "shape", "pickup"), MATRIX)
def test_every_request_validates_against_the_official_schema(
    carrier: str, origin: str, destination: str, shape: str, pickup: bool
) -> None:
    order = make_order(origin, destination, shape, pickup)
    for kind, request in requests_of(carrier, order).items():
        assert problems(carrier, request) == [], f"{carrier} {kind} {origin}->{destination} {shape}"


def _phones(node: object) -> list[str]:
    """Every phone number in a request body, wherever the carrier puts it."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.lower() in {"phone", "phonenumber", "mobilephone"} and isinstance(value, str):
                found.append(value)
            else:
                found += _phones(value)
    elif isinstance(node, list):
        for value in node:
            found += _phones(value)
    return found


@pytest.mark.parametrize(("origin", "destination"), LANES)
def test_phone_numbers_go_out_in_e164(origin: str, destination: str) -> None:
    order = make_order(origin, destination, "one", True)
    for carrier in ("dhl_express", "fedex"):
        body = requests_of(carrier, order)["label"].json_body
        phones = _phones(body)
        assert phones, carrier
        for phone in phones:
            assert phonenumbers.is_valid_number(phonenumbers.parse(phone)), (carrier, phone)
            assert phone == phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.E164)
    ups = requests_of("ups", order)["label"].json_body["ShipmentRequest"]["Shipment"]
    # UPS Phone.Number is digits only (Shipping.yaml: "ShipFrom Phone Number"), the country code included.
    assert ups["ShipFrom"]["Phone"]["Number"] == phonenumbers.format_number(
        phonenumbers.parse(PLACES[origin].phone, origin), phonenumbers.PhoneNumberFormat.E164
    ).lstrip("+")


def test_a_phone_number_that_is_not_one_is_refused_with_the_field_named() -> None:
    order = make_order("DE", "CN", "one", True)
    broken = ReturnShipmentOrder(**{**order.__dict__, "shipper": Address("DE", "Jana", "Hauptstr. 1", None,
                                    "Berlin", None, "10115", "12")})  # fmt: skip
    with pytest.raises(CarrierRejected, match="phone"):
        CARRIERS.get("dhl_express").build_return_shipment(broken, settings("dhl_express", **CREDENTIALS["dhl_express"]))


@pytest.mark.parametrize(("origin", "destination"), LANES)
def test_dhl_line_weights_are_line_totals_and_sum_to_the_package(origin: str, destination: str) -> None:
    """MyDHL 3.1.1 lineItems.weight: "the weight of the line item" (quantity x unit); 2 x 0.25 kg is 0.5 kg."""
    order = make_order(origin, destination, "several", False)
    body = requests_of("dhl_express", order)["label"].json_body
    lines = body["content"]["exportDeclaration"]["lineItems"]
    assert [line["weight"]["netValue"] for line in lines] == [0.3, 0.375, 1]
    assert [line["quantity"]["value"] for line in lines] == [1, 3, 1]
    assert [line["price"] for line in lines] == [25, 12.5, 40]  # unit price (MyDHL: "unit price of the line item")
    total = sum(Decimal(str(line["weight"]["grossValue"])) for line in lines)
    assert Decimal(str(body["content"]["packages"][0]["weight"])) == total == Decimal("1.675")


@pytest.mark.parametrize(
    ("origin", "expected"),
    [("DE", "2026-07-02T10:00:00 GMT+02:00"), ("GB", "2026-07-02T10:00:00 GMT+01:00"),
     ("US", "2026-07-02T10:00:00 GMT-04:00"), ("CN", "2026-07-02T10:00:00 GMT+08:00"),
     ("JP", "2026-07-02T10:00:00 GMT+09:00"), ("FR", "2026-07-02T10:00:00 GMT+02:00")],
)  # fmt: skip
def test_dhl_planned_times_are_local_to_the_origin_with_its_offset(origin: str, expected: str) -> None:
    destination = next(d for o, d in LANES if o == origin)
    requests = requests_of("dhl_express", make_order(origin, destination, "one", True))
    assert requests["label"].json_body["plannedShippingDateAndTime"] == expected
    assert requests["pickup"].json_body["plannedPickupDateAndTime"] == expected.replace("10:00", "09:00")


def test_dhl_planned_time_follows_the_us_state_of_the_buyer() -> None:
    order = make_order("US", "MX", "one", True)
    west = ReturnShipmentOrder(**{**order.__dict__, "shipper": Address("US", "Ann", "1 Market St", None,
                                  "San Francisco", "CA", "94105", "+14155550134")})  # fmt: skip
    body = requests_of("dhl_express", west)["label"].json_body
    assert body["plannedShippingDateAndTime"] == "2026-07-02T10:00:00 GMT-07:00"


@pytest.mark.parametrize(("origin", "destination", "shape", "pickup"), MATRIX)
def test_fedex_total_weight_is_the_sum_of_the_lines(origin: str, destination: str, shape: str, pickup: bool) -> None:
    order = make_order(origin, destination, shape, pickup)
    shipment = requests_of("fedex", order)["label"].json_body["requestedShipment"]
    expected = sum(line.weight_kg * line.quantity for line in order.lines)
    assert shipment["totalWeight"] == float(expected)
    assert shipment["requestedPackageLineItems"][0]["weight"] == {"units": "KG", "value": float(expected)}
    if order.cross_border:
        commodities = shipment["customsClearanceDetail"]["commodities"]
        assert [c["weight"]["value"] for c in commodities] == [float(x.weight_kg * x.quantity) for x in order.lines]
        invoice = returns_invoice(order)  # values in the currency's minor units (JPY has none)
        assert [c["customsValue"]["amount"] for c in commodities] == [float(x.total.amount) for x in invoice.lines]
        assert [c["quantity"] for c in commodities] == [x.quantity for x in order.lines]


def test_ups_omits_empty_optional_fields() -> None:
    """Shipping.yaml: StateProvinceCode has minLength 1; an empty string is refused, so it is left out."""
    body = requests_of("ups", make_order("GB", "DE", "one", False))["label"].json_body
    shipment = body["ShipmentRequest"]["Shipment"]
    assert "StateProvinceCode" not in shipment["ShipFrom"]["Address"]
    assert "StateProvinceCode" not in shipment["ShipTo"]["Address"]
    # Indicators are the one documented use of "" ("LabelLinksIndicator": "" means yes); no other value is empty.
    assert re.search(r'(?<!Indicator)": ""', json.dumps(body)) is None
    us_body = requests_of("ups", make_order("US", "MX", "one", False))["label"].json_body
    assert us_body["ShipmentRequest"]["Shipment"]["ShipFrom"]["Address"]["StateProvinceCode"] == "NY"


def test_long_names_are_cut_to_the_documented_length_not_refused_by_the_carrier() -> None:
    long_name = "Maximilian Alexander Friedrich von Hohenzollern-Sigmaringen"
    order = make_order("DE", "CN", "one", True)
    named = ReturnShipmentOrder(**{**order.__dict__, "shipper": Address(**{**PLACES["DE"].__dict__,
                                   "name": long_name})})  # fmt: skip
    for carrier in ("dhl_express", "fedex", "ups"):
        for kind, request in requests_of(carrier, named).items():
            assert problems(carrier, request) == [], (carrier, kind)
    dhl = requests_of("dhl_express", named)["label"].json_body["customerDetails"]["shipperDetails"]
    assert dhl["contactInformation"]["fullName"] == long_name[:255]
    ups = requests_of("ups", named)["pickup"].json_body["PickupCreationRequest"]["PickupAddress"]
    assert ups["ContactName"] == long_name[:22]


def test_the_local_offset_is_the_one_in_force_that_day() -> None:
    winter = make_order("DE", "CN", "one", True)
    winter = ReturnShipmentOrder(**{**winter.__dict__, "ship_date": date(2026, 1, 15)})
    body = requests_of("dhl_express", winter)["label"].json_body
    assert body["plannedShippingDateAndTime"] == "2026-01-15T10:00:00 GMT+01:00"
    assert datetime(2026, 1, 15, 10, tzinfo=ZoneInfo("Europe/Berlin")).utcoffset().total_seconds() == 3600


SF_CREDENTIALS = {"APP_KEY": "a", "APP_SECRET": "s", "AES_KEY": "k" * 43, "CUSTOMER_CODE": "C1", "MONTHLY_CARD": "7550000000",
                  "PHONE_SUFFIX": "1234"}  # fmt: skip


def _sf_schema(name: str) -> dict:
    return json.loads((OFFICIAL / "sf_express" / name).read_text())


@pytest.mark.parametrize(("origin", "destination", "shape", "pickup"), MATRIX)
def test_every_sf_express_request_validates_against_the_sdk_payload_facts(
    origin: str, destination: str, shape: str, pickup: bool
) -> None:
    """SF publishes no schema; the payload classes of the SDK we follow are kept as JSON Schema (SOURCES.md)."""
    adapter, config = CARRIERS.get("sf_express"), settings("sf_express", **SF_CREDENTIALS)
    order = make_order(origin, destination, shape, pickup)
    create = Draft202012Validator(_sf_schema("iuop_create_order.schema.json"))
    for request in (adapter.build_return_shipment(order, config),
                    adapter.build_pickup(order, PickupWindow(order.ship_date), "SF1400000000001", config)):  # fmt: skip
        assert request.headers["msgType"] == "IUOP_CREATE_ORDER"
        assert [e.message for e in create.iter_errors(request.json_body)] == []
        body = request.json_body
        assert [p["quantity"] for p in body["parcelInfoList"]] == [line.quantity for line in order.lines]
        assert Decimal(str(body["parcelTotalWeight"])) == order.total_weight_kg and body["parcelWeightUnit"] == "KG"
        assert body["senderInfo"]["phoneNo"].startswith("+")
    tracking = adapter.build_tracking("SF1400000000001", config)
    assert list(Draft202012Validator(_sf_schema("gts_query_track.schema.json")).iter_errors(tracking.json_body)) == []


def test_sf_interception_and_cancellation_as_the_documents_allow() -> None:
    adapter = CARRIERS.get("sf_express")
    config = settings("sf_express", **SF_CREDENTIALS, PARTNER_ID="P", CHECKWORD="c")
    order = make_order("CN", "US", "one", True)
    intercept = adapter.build_intercept(InterceptOrder("case-1", "SF1400000000001", PLACES["US"]), config)
    message = json.loads(intercept.form["msgData"])
    assert message["serviceCode"] == "2" and message["newDestAddress"]["phone"] == "+12125550134"
    with pytest.raises(CarrierRejected, match="no pickup cancellation"):
        adapter.build_cancel_pickup("SF1400000000001", order, PickupWindow(order.ship_date), config)


def test_fedex_lengths_stated_only_in_prose_are_kept() -> None:
    """Ship API prose: streetLines and city "Max Length is 35", postalCode 10, personName 70;
    Pickup API: readyDateTimestamp "local to the pickup postal code ... Do not include a TZD"."""
    order = make_order("DE", "CN", "one", True)
    long = Address("DE", "N" * 80, "Lange Straße " + "1" * 20, "Hinterhaus " + "2" * 30, "C" * 50, None, "1" * 12,
                   "030 1234567")  # fmt: skip
    shipper = requests_of("fedex", ReturnShipmentOrder(**{**order.__dict__, "shipper": long}))
    party = shipper["label"].json_body["requestedShipment"]["shipper"]
    assert all(len(line) <= 35 for line in party["address"]["streetLines"]) and len(party["address"]["city"]) == 35
    assert "".join(party["address"]["streetLines"]).replace(" ", "") == (long.line1 + long.line2).replace(" ", "")
    assert len(party["address"]["postalCode"]) == 10 and len(party["contact"]["personName"]) == 70
    ready = shipper["pickup"].json_body["originDetail"]["readyDateTimestamp"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", ready)


def test_ups_weights_carry_one_decimal_rounded_up() -> None:
    """Pickup.yaml "One decimal digit is allowed"; Shipping.yaml Weight maxLength 5: 1.675 kg goes out as 1.7."""
    requests = requests_of("ups", make_order("US", "MX", "several", True))
    package = requests["label"].json_body["ShipmentRequest"]["Shipment"]["Package"][0]["PackageWeight"]
    assert package == {"UnitOfMeasurement": {"Code": "KGS"}, "Weight": "1.7"}
    assert requests["pickup"].json_body["PickupCreationRequest"]["TotalWeight"]["Weight"] == "1.7"


def test_a_street_address_is_wrapped_not_cut_and_refused_when_it_cannot_fit() -> None:
    order = make_order("GB", "DE", "one", False)
    flat = Address("GB", "Oliver Smith", "Flat 12, Riverside Apartments, 221 Long Riverside Embankment Road",
                   "Little Whinging Industrial Estate", "London", None, "SW1A 2AA", "020 7946 0958")  # fmt: skip
    wrapped = ReturnShipmentOrder(**{**order.__dict__, "shipper": flat})
    for carrier in ("dhl_express", "fedex", "ups"):
        for kind, request in requests_of(carrier, wrapped).items():
            assert problems(carrier, request) == [], (carrier, kind)
    dhl = requests_of("dhl_express", wrapped)["label"].json_body["customerDetails"]["shipperDetails"]["postalAddress"]
    sent = " ".join(dhl[f"addressLine{n}"] for n in (1, 2, 3) if f"addressLine{n}" in dhl)
    assert sent == f"{flat.line1} {flat.line2}"
    huge = ReturnShipmentOrder(**{**order.__dict__, "shipper": Address(**{**flat.__dict__, "line2": "x " * 90})})
    with pytest.raises(CarrierRejected, match=r"shipper\.address\.streetLines"):
        CARRIERS.get("fedex").build_return_shipment(huge, settings("fedex", **CREDENTIALS["fedex"]))


def test_without_credentials_a_draft_is_built_where_the_carrier_would_refuse_a_value() -> None:
    """Contract: with no credentials the request is built, stored and shown; nothing is refused because nothing
    is sent. With credentials the same order is refused with the field named."""
    from adapters.carriers.base import drafting
    from adapters.carriers.gateway import CarrierGateway
    from adapters.http import HttpClient

    order = make_order("DE", "CN", "one", True)
    no_phone = ReturnShipmentOrder(**{**order.__dict__, "receiver": Address(**{**PLACES["CN"].__dict__,
                                                                                 "phone": None})})  # fmt: skip
    gateway = CarrierGateway(HttpClient(), lambda: datetime(2026, 7, 1))
    shown = gateway.book_return(CARRIERS.get("dhl_express"), no_phone, settings("dhl_express"))
    assert (
        shown.sent is False
        and shown.request["body"]["customerDetails"]["receiverDetails"]["contactInformation"]["phone"] == ""
    )
    with drafting(False), pytest.raises(CarrierRejected, match=r"receiver\.phone"):
        CARRIERS.get("dhl_express").build_return_shipment(
            no_phone, settings("dhl_express", **CREDENTIALS["dhl_express"])
        )
