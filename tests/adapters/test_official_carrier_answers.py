"""Every documented carrier answer and tracking payload, from tests/fixtures/official/, goes through our parsers.

Success answers give the booking, 4xx answers a refusal naming the carrier's own
message, 5xx answers a retry; tracking events keep their real offsets, and a scan
written without one is read in the zone of the place it names, never failing the
rest of the payload. Each sample is first checked against its document, so these
are the carriers' shapes and not ours.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
import responses

from adapters.carriers.base import CARRIERS, CarrierRejected
from adapters.carriers.gateway import CarrierGateway
from adapters.http import HttpClient, HttpResult, TransientHttpError
from core.tracking import TrackingStatus
from tests.adapters.carrier_fixtures import inbound, order, settings
from tests.official_reference import (
    ERRATA,
    OFFICIAL,
    answer_problems,
    document,
    problems,
    sample,
    samples,
    schema_problems,
)

DHL, FEDEX, UPS = CARRIERS.get("dhl_express"), CARRIERS.get("fedex"), CARRIERS.get("ups")
DHL_URL = "https://express.api.dhl.com/mydhlapi/test"


def _status(path) -> int:  # type: ignore[no-untyped-def]
    return int(path.name.split(".response.")[1].split(".")[0])


# -- the samples are the documents' own -------------------------------------------------------------------


ANSWER_SAMPLES = [
    ("dhl_express", "dhl_express", "post_shipments.response.*", "POST", f"{DHL_URL}/shipments"),
    ("dhl_express", "dhl_express", "post_pickups.response.*", "POST", f"{DHL_URL}/pickups"),
    ("dhl_express", "dhl_express", "delete_pickups_*.response.*", "DELETE", f"{DHL_URL}/pickups/PRG1"),
    ("dhl_express", "dhl_express", "get_shipments_*_tracking.response.*", "GET", f"{DHL_URL}/shipments/1/tracking"),
    ("fedex", "fedex/ship", "*.response.*", "POST", "https://x/ship/v1/shipments"),
    ("fedex", "fedex/pickup", "post_*.response.*", "POST", "https://x/pickup/v1/pickups"),
    ("fedex", "fedex/pickup", "put_*.response.*", "PUT", "https://x/pickup/v1/pickups/cancel"),
    ("fedex", "fedex/track", "*.response.*", "POST", "https://x/track/v1/trackingnumbers"),
    ("ups", "ups/pickup", "*.response.*", "POST", "https://x/api/pickupcreation/v2409/pickup"),
]


# Where a document's own sample departs from its schema, the sample is what the carrier sends; each such
# departure is listed (and tolerated by the parsers), and the test fails if a sample departs in a new way.
SAMPLE_DEPARTURES = {
    "get_shipments_shipmenttrackingnumber_tracking.response.200.sample_tracking_response_for_shipment_tracking_number"
    ".json": ("'remarks' was unexpected", "'length' is a required", "'width' is a required", "'height' is a required"),
    "post_shipments.response.201.sampleresponse5.json": ("were unexpected",),  # a 400 body listed under 201
    "post_shipments.response.500.process_error.json": ("'code' was unexpected",),
}


@pytest.mark.parametrize(("carrier", "folder", "pattern", "method", "url"), ANSWER_SAMPLES)
def test_every_documented_answer_matches_its_schema(carrier, folder, pattern, method, url) -> None:  # type: ignore[no-untyped-def]
    found = samples(folder, pattern)
    assert found, pattern
    for path in found:
        body = json.loads(path.read_text())
        allowed = SAMPLE_DEPARTURES.get(path.name, ())
        departures = answer_problems(carrier, method, url, _status(path), body)
        assert [p for p in departures if not any(a in p for a in allowed)] == [], path.name


def test_official_samples_prove_the_errata() -> None:
    """Each correction of a printed rule is forced by the document's own sample, not by our requests."""
    body = sample("ups/pickup", "post_pickupcreation_version_pickup.request.1.json")
    schema = {"$ref": "#/components/schemas/PICKUPCreationRequestWrapper"}
    fields = {field for (_, _, field) in ERRATA}

    def named(found: list[str]) -> set[str]:
        return {p.split(":")[0].rsplit("/", 1)[-1] for p in found}

    assert fields <= named(schema_problems("ups/pickup", schema, body, "body", as_printed=True))
    assert not fields & named(schema_problems("ups/pickup", schema, body, "body"))


# -- DHL Express (MyDHL API 3.1.1) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [p for p in samples("dhl_express", "post_shipments.response.201.*") if "shipmentTrackingNumber" in p.read_text()],
    ids=lambda p: p.name,
)
def test_dhl_documented_bookings_parse(path) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(path.read_text())
    booked = DHL.parse_return_shipment(HttpResult(201, body, {}))
    assert booked.tracking_number == body["shipmentTrackingNumber"]
    labels = [d["content"] for d in body.get("documents") or [] if d.get("typeCode") == "label"]
    assert booked.label_pdf_base64 == (labels[-1] if labels else None)
    assert booked.pickup_reference == body.get("dispatchConfirmationNumber")


@pytest.mark.parametrize(
    "path",
    [*samples("dhl_express", "*.response.4*"), *samples("dhl_express", "*.201.sampleresponse5.json")],
    ids=lambda p: p.name,
)  # 400, 404, 422 (and the 400 body the document lists under 201): a refusal carrying DHL's own detail
def test_dhl_documented_refusals_name_dhls_detail(path) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(path.read_text())
    parse = {"post_shipments": DHL.parse_return_shipment, "post_pickups": DHL.parse_pickup,
             "delete_pickups": DHL.parse_cancel_pickup, "get_shipments": DHL.parse_tracking}  # fmt: skip
    kind = next(k for k in parse if path.name.startswith(k))
    with pytest.raises(CarrierRejected) as refused:
        parse[kind](HttpResult(int(body.get("status") or _status(path)), body, {}))
    assert body["detail"][:60] in str(refused.value)
    for detail in body.get("additionalDetails") or []:
        assert detail.split(":")[0] in str(refused.value)  # every one of DHL's numbered problems is kept


@responses.activate
def test_dhl_documented_server_error_is_retried_not_recorded_as_a_refusal() -> None:
    body = sample("dhl_express", "post_shipments.response.500.process_error.json")
    responses.post(f"{DHL_URL}/shipments", json=body, status=500)
    gateway = CarrierGateway(HttpClient(), lambda: datetime(2026, 7, 1, tzinfo=UTC))
    config = settings("dhl_express", API_KEY="k", API_SECRET="s", ACCOUNT="950000000")
    with pytest.raises(TransientHttpError):
        gateway.book_return(DHL, order(), config)


def test_dhl_documented_pickup_parses() -> None:
    body = sample("dhl_express", "post_pickups.response.201.sampleresponse1.json")
    assert DHL.parse_pickup(HttpResult(201, body, {})).reference == "PRG221222000062"


def test_dhl_tracking_asks_for_each_events_offset() -> None:
    request = DHL.build_tracking("1234567890", settings("dhl_express", API_KEY="k", API_SECRET="s", ACCOUNT="1"))
    assert "requestGMTOffsetPerEvent=true" in request.url
    assert problems("dhl_express", request) == []


def test_dhl_documented_tracking_events_without_offset_are_read_where_they_happened() -> None:
    """The 3.1.1 sample's events carry no GMTOffset: "SYDNEY-AU" is read in Australia/Sydney (UTC+10 in August),
    "AUCKLAND-NZ" in Pacific/Auckland (UTC+12), not as UTC."""
    body = sample("dhl_express", "get_shipments_shipmenttrackingnumber_tracking.response.200."
                  "sample_tracking_response_for_shipment_tracking_number.json")  # fmt: skip
    updates = DHL.parse_tracking(HttpResult(200, body, {}))
    events = body["shipments"][0]["events"]
    assert len(updates) == len(events)
    first = updates[0]
    assert first.code == "PU" and first.status == TrackingStatus.SHIPPED_BACK
    assert first.occurred_at == datetime(2023, 8, 9, 3, 56, 21, tzinfo=UTC)  # 13:56:21 in Sydney
    auckland = [u for u, e in zip(updates, events, strict=True) if "AUCKLAND" in e["serviceArea"][0]["description"]]
    assert auckland, "the sample has Auckland events"
    for update, event in zip(updates, events, strict=True):
        if "AUCKLAND" in event["serviceArea"][0]["description"]:
            local = datetime.fromisoformat(f"{event['date']}T{event['time']}+12:00")
            assert update.occurred_at == local.astimezone(UTC)


def test_dhl_events_with_gmt_offset_keep_it() -> None:
    body = sample("dhl_express", "get_shipments_shipmenttrackingnumber_tracking.response.200."
                  "sample_tracking_response_for_shipment_tracking_number.json")  # fmt: skip
    for event in body["shipments"][0]["events"]:
        event["GMTOffset"] = "+05:30"  # as answered with requestGMTOffsetPerEvent=true
    found = answer_problems("dhl_express", "GET", f"{DHL_URL}/shipments/1/tracking", 200, body)
    assert not [p for p in found if "GMTOffset" in p]  # the field is the schema's own
    first = DHL.parse_tracking(HttpResult(200, body, {}))[0]
    assert first.occurred_at == datetime(2023, 8, 9, 13, 56, 21, tzinfo=timezone(timedelta(hours=5, minutes=30)))


# -- FedEx ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [p for f in ("fedex/ship", "fedex/pickup", "fedex/track") for p in samples(f, "*.response.4*")],
    ids=lambda p: f"{p.parent.parent.name}-{p.name}",
)  # fmt: skip
def test_fedex_documented_refusals_name_fedexs_message(path) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(path.read_text())
    parse = {"ship": FEDEX.parse_return_shipment, "pickup": FEDEX.parse_pickup, "track": FEDEX.parse_tracking}
    with pytest.raises(CarrierRejected) as refused:
        parse[path.parent.parent.name](HttpResult(_status(path), body, {}))
    assert body["errors"][0]["message"] in str(refused.value)


@responses.activate
@pytest.mark.parametrize("status", [500, 503])
def test_fedex_documented_server_errors_are_retried(status: int) -> None:
    responses.post("https://fx.test/oauth/token", json={"access_token": "t", "expires_in": 3600})
    body = sample("fedex/ship", f"post_ship_v1_shipments.response.{status}.json")
    responses.post("https://fx.test/ship/v1/shipments", json=body, status=status)
    gateway = CarrierGateway(HttpClient(), lambda: datetime(2026, 7, 1, tzinfo=UTC))
    config = settings("fedex", CLIENT_ID="c", CLIENT_SECRET="s", ACCOUNT="740561073", BASE_URL="https://fx.test")
    with pytest.raises(TransientHttpError):
        gateway.book_return(FEDEX, order(), config)


def test_fedex_documented_answers_parse() -> None:
    """FedEx's documented full-schema answers (developer.fedex.com, as vendored by karrio: SOURCES.md)."""
    ship = json.loads((OFFICIAL / "fedex/documented/shipping_responses.json").read_text())
    body = ship[0] if isinstance(ship, list) else ship
    booked = FEDEX.parse_return_shipment(HttpResult(200, body, {}))
    assert booked.tracking_number == body["output"]["transactionShipments"][0]["masterTrackingNumber"]
    pickup = json.loads((OFFICIAL / "fedex/documented/pickup_response.json").read_text())
    assert FEDEX.parse_pickup(HttpResult(200, pickup, {})).reference == "3001"
    track = json.loads((OFFICIAL / "fedex/documented/tracking_response.json").read_text())
    [update] = FEDEX.parse_tracking(HttpResult(200, track, {}))
    assert update.code == "PU" and update.occurred_at == datetime(2018, 2, 2, 19, 1, tzinfo=UTC)


def test_a_real_fedex_track_result_with_a_scan_without_offset_parses_whole() -> None:
    """A real result: one pickup scan "2024-08-15T00:00:00" at MANKATO, MN (no offset) among sixteen with one.
    It is read in Minnesota's zone (CDT, UTC-5), and the other scans keep their own offsets."""
    body = json.loads((OFFICIAL / "fedex/documented/real_track_result_scan_without_offset.json").read_text())
    scans = body["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"]
    updates = FEDEX.parse_tracking(HttpResult(200, body, {}))
    assert len(updates) == len(scans) == 17
    pickup = updates[-1]
    assert pickup.code == "PU" and pickup.occurred_at == datetime(2024, 8, 15, 5, 0, tzinfo=UTC)
    delivered = updates[0]
    assert delivered.code == "DL" and delivered.occurred_at == datetime(2024, 8, 20, 16, 41, 57, tzinfo=UTC)


def test_a_scan_with_no_date_at_all_is_left_out_and_the_rest_is_kept() -> None:
    body = json.loads((OFFICIAL / "fedex/documented/real_track_result_scan_without_offset.json").read_text())
    body["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"][3]["date"] = "unknown"
    assert len(FEDEX.parse_tracking(HttpResult(200, body, {}))) == 16


@pytest.fixture
def push_settings(tmp_path):  # type: ignore[no-untyped-def]
    from tests.carrier_flow import CARRIER_ENV
    from tests.conftest import make_settings

    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", **CARRIER_ENV)


def test_a_real_fedex_push_with_a_scan_without_offset_is_accepted(push_settings) -> None:  # type: ignore[no-untyped-def]
    """Through the webhook, signed as AIV signs: 202, every scan recorded; before, the whole push was a 400."""
    from service.bootstrap import Container
    from tests.test_tracking import seeded
    from wsgi import create_app

    container = Container(push_settings)
    try:
        case_id = seeded(container, number="738488882438")
        client = create_app(container=container).test_client()
        body = (OFFICIAL / "fedex/documented/real_track_result_scan_without_offset.json").read_bytes()
        secret = push_settings.for_adapter("fedex").get("WEBHOOK_SECRET") or ""
        signed = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        answer = client.post("/carriers/fedex/tracking", data=body,
                             headers={"Content-Type": "application/json", "fdx-signature": signed})  # fmt: skip
        assert answer.status_code == 202, answer.json
        assert answer.json["recorded"] == 17
        assert case_id
    finally:
        container.close()


# -- UPS -----------------------------------------------------------------------------------------------------


def test_ups_documented_pickup_answers_parse() -> None:
    for path in samples("ups/pickup", "*.response.200.*"):
        body = json.loads(path.read_text())
        if "PickupCreationResponse" in body:
            assert UPS.parse_pickup(HttpResult(200, body, {})).reference == body["PickupCreationResponse"]["PRN"]


@pytest.mark.parametrize("path", samples("ups/track_alert", "*.request.*"), ids=lambda p: p.name)
def test_ups_documented_track_alert_events_parse_at_their_gmt_time(path) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(path.read_text())
    assert schema_problems("ups/track_alert", {"$ref": "#/components/schemas/TrackingEventRequest"}, body, "") == []
    config = settings("ups", WEBHOOK_SECRET="opaque")
    raw = json.dumps(body).encode()
    UPS.verify_tracking_push(inbound(raw, credential="opaque"), config)
    [update] = UPS.parse_tracking_push(inbound(raw), config)
    gmt = datetime.strptime(body["gmtActivityDate"] + body["gmtActivityTime"], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    assert update.occurred_at == gmt
    local = datetime.strptime(body["localActivityDate"] + body["localActivityTime"], "%Y%m%d%H%M%S")
    assert gmt - local.replace(tzinfo=UTC) == timedelta(hours=4)  # Charlotte, NC in April: the sample agrees
    expected = {"D": TrackingStatus.DELIVERED_TO_WAREHOUSE, "I": TrackingStatus.IN_TRANSIT}
    assert update.status == expected[body["activityStatus"]["type"]]


def test_ups_tracking_answer_built_to_the_schema_parses_in_local_time() -> None:
    """Tracking.yaml publishes no sample answer; this one is checked against its schema first. Track API
    activity date/time are local to the activity's location (with `gmtOffset` where UPS gives it)."""
    body = {
        "trackResponse": {
            "shipment": [
                {
                    "package": [
                        {
                            "trackingNumber": "1Z023E2X0214323462",
                            "activity": [
                                {
                                    "location": {"address": {"city": "Charlotte", "stateProvince": "NC",
                                                             "countryCode": "US", "country": "US"}},
                                    "status": {"type": "D", "description": "DELIVERED", "code": "FS",
                                               "statusCode": "011"},
                                    "date": "20240423",
                                    "time": "095004",
                                    "gmtDate": "20240423",
                                    "gmtOffset": "-04:00",
                                    "gmtTime": "135004",
                                }
                            ],
                        }
                    ]
                }
            ]
        }
    }  # fmt: skip
    assert answer_problems("ups", "GET", "https://x/api/track/v1/details/1Z023E2X0214323462", 200, body) == []
    [update] = UPS.parse_tracking(HttpResult(200, body, {}))
    assert update.occurred_at == datetime(2024, 4, 23, 13, 50, 4, tzinfo=UTC)
    assert update.status == TrackingStatus.DELIVERED_TO_WAREHOUSE
    del body["trackResponse"]["shipment"][0]["package"][0]["activity"][0]["gmtOffset"]
    [update] = UPS.parse_tracking(HttpResult(200, body, {}))
    assert update.occurred_at == datetime(2024, 4, 23, 13, 50, 4, tzinfo=UTC)  # read in Charlotte's zone


def test_documents_are_present_for_every_carrier() -> None:
    for folder in ("dhl_express", "fedex/ship", "fedex/pickup", "fedex/track", "ups/shipping", "ups/pickup",
                   "ups/tracking", "ups/track_alert"):  # fmt: skip
        assert document(folder)["paths"], folder


@pytest.mark.parametrize("status", [400, 401, 403])
def test_ups_error_shape_of_the_document_is_a_refusal_naming_upss_message(status: int) -> None:
    """Shipping.yaml publishes the error shape (ErrorResponse), not a sample: one built to it is checked first."""
    body = {"response": {"errors": [{"code": "120100", "message": "Missing or invalid shipper number"}]}}
    url = "https://x/api/shipments/v2409/ship"
    assert answer_problems("ups", "POST", url, status, body) == []
    with pytest.raises(CarrierRejected, match="Missing or invalid shipper number"):
        UPS.parse_return_shipment(HttpResult(status, body, {}))


@responses.activate
def test_ups_rate_limit_is_retried() -> None:
    """Shipping.yaml documents 429 with the same ErrorResponse: retried later, not a refusal."""
    responses.post("https://ups.test/security/v1/oauth/token", json={"access_token": "t", "expires_in": "14399"})
    body = {"response": {"errors": [{"code": "429", "message": "Rate limit exceeded"}]}}
    responses.post("https://ups.test/api/shipments/v2409/ship", json=body, status=429)
    gateway = CarrierGateway(HttpClient(), lambda: datetime(2026, 7, 1, tzinfo=UTC))
    config = settings("ups", CLIENT_ID="c", CLIENT_SECRET="s", ACCOUNT="A1B2C3", BASE_URL="https://ups.test")
    with pytest.raises(TransientHttpError):
        gateway.book_return(UPS, order(), config)


def test_dhl_push_times_without_offset_are_read_where_they_happened_and_bad_ones_left_out() -> None:
    config = settings("dhl_express", WEBHOOK_SECRET="t")
    body = json.dumps({"shipments": [{"id": "1234567890", "events": [
        {"timestamp": "2026-07-05T10:15:00", "statusCode": "transit",
         "location": {"address": {"addressLocality": "Leipzig", "countryCode": "DE"}}},
        {"timestamp": "soon", "statusCode": "delivered"},
        {"timestamp": "2026-07-06T09:00:00+02:00", "statusCode": "delivered"}]}]}).encode()  # fmt: skip
    updates = DHL.parse_tracking_push(inbound(body), config)
    assert [u.occurred_at for u in updates] == [datetime(2026, 7, 5, 8, 15, tzinfo=UTC),
                                                datetime(2026, 7, 6, 7, 0, tzinfo=UTC)]  # fmt: skip
