"""End to end in one process: an approved cross-border return books one label (and pickup) with each carrier
against `responses` fakes, records tracking pushed by the carrier, moves on it, and shows its customs plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import responses

from config.settings import Settings
from tests.carrier_flow import (
    CARRIER_ENV,
    FEDEX_TRACKING,
    approved_case,
    calls_to,
    fake_carriers,
    fedex_push,
    wait_case,
)
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_RETRY_DELAYS="1,1", **CARRIER_ENV)


@pytest.fixture
def carriers():  # type: ignore[no-untyped-def]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def shipments_settled(c: dict) -> bool:
    return bool(c["shipments"]) and all(s["status"] not in ("sending", "retrying") for s in c["shipments"])


def test_a_fedex_return_books_one_label_then_one_pickup_and_moves_on_signed_pushes(client, running, carriers):
    labels = fake_carriers(carriers)
    case_id = approved_case(client, carrier="fedex", pickup=True)
    found = wait_case(client, case_id, lambda c: len([s for s in c["shipments"] if s["status"] == "booked"]) == 2)
    kinds = {s["kind"]: s for s in found["shipments"]}
    assert kinds["return_label"]["tracking_number"] == FEDEX_TRACKING
    assert kinds["pickup"]["tracking_number"] == "FXPU-1"
    assert len(calls_to(carriers, labels["fedex"])) == 1
    pickups = calls_to(carriers, "https://fx.test/pickup/v1/pickups")
    assert len(pickups) == 1
    assert json.loads(pickups[0].request.body)["trackingNumber"] == FEDEX_TRACKING

    body, headers = fedex_push([("PU", "2026-11-12T10:00:00+01:00")])
    answer = client.post("/carriers/fedex/tracking", data=body, headers=headers)
    assert answer.status_code == 202
    assert answer.json["recorded"] == 1 and answer.json["events"] == ["return.shipped"]
    again = client.post("/carriers/fedex/tracking", data=body, headers=headers)
    assert again.json["recorded"] == 0 and again.json["duplicates"] == 1
    wait_case(client, case_id, lambda c: c["state"] == "return_in_transit")

    body, headers = fedex_push([("DL", "2026-11-14T09:30:00+08:00")])
    assert client.post("/carriers/fedex/tracking", data=body, headers=headers).json["events"] == ["return.received"]
    found = wait_case(client, case_id, lambda c: c["state"] == "inspecting")
    assert [t["code"] for t in found["tracking"]] == ["PU", "DL"]
    assert found["needs_attention"] is False


@pytest.mark.parametrize(
    ("carrier", "pickup_asked_in_label"),
    [
        ("dhl_express", lambda body: body["pickup"]["isRequested"] is True),
        ("ups", lambda body: body["ShipmentRequest"]["Shipment"]["ReturnService"]["Code"] == "5"),
        ("sf_express", lambda body: True),  # encrypted on the wire; the stored request shows pickupType "1"
    ],
)
def test_carriers_that_collect_with_the_label_get_exactly_one_call(client, running, carriers, carrier,
                                                                    pickup_asked_in_label):  # fmt: skip
    labels = fake_carriers(carriers)
    case_id = approved_case(client, carrier=carrier, pickup=True)
    found = wait_case(client, case_id, shipments_settled)
    assert [(s["kind"], s["status"]) for s in found["shipments"]] == [("return_label", "booked")]
    sent = calls_to(carriers, labels[carrier])
    assert len(sent) == 1
    if carrier != "sf_express":
        assert pickup_asked_in_label(json.loads(sent[0].request.body))
    else:
        assert found["shipments"][0]["request"]["body"]["pickupType"] == "1"
    assert found["shipments"][0]["tracking_number"]


def test_a_503_is_retried_through_the_queue_and_books_exactly_one_label(client, running, carriers):
    labels = fake_carriers(carriers)
    carriers.replace(responses.POST, labels["dhl_express"], status=503, json={"title": "busy"})
    carriers.add(responses.POST, labels["dhl_express"], status=201, json={"shipmentTrackingNumber": "1234567890"})
    case_id = approved_case(client, carrier="dhl_express", pickup=False)
    found = wait_case(client, case_id, lambda c: any(s["status"] == "booked" for s in c["shipments"]), timeout=15)
    assert len(found["shipments"]) == 1
    assert len(calls_to(carriers, labels["dhl_express"])) == 2
    assert found["needs_attention"] is False


def test_a_carrier_refusal_puts_the_case_in_needs_attention_with_the_carriers_message(client, running, carriers):
    labels = fake_carriers(carriers)
    carriers.replace(responses.POST, labels["dhl_express"], status=422, json={"detail": "postalCode is invalid"})
    case_id = approved_case(client, carrier="dhl_express", pickup=False)
    found = wait_case(client, case_id, lambda c: c["needs_attention"])
    assert found["shipments"][0]["status"] == "rejected"
    assert "postalCode is invalid" in found["shipments"][0]["error"]
    assert any("postalCode is invalid" in str(t["detail"].get("message")) for t in found["timeline"])


def test_without_a_named_carrier_the_lane_table_chooses_one(client, running, carriers):
    labels = fake_carriers(carriers)
    case_id = approved_case(client, carrier=None, pickup=True)
    found = wait_case(client, case_id, shipments_settled)
    assert found["carrier_route"] == {"carrier": "sf_express", "lane": "DE->CN", "source": "routing_table"}
    assert found["shipments"][0]["carrier"] == "sf_express"
    assert len(calls_to(carriers, labels["sf_express"])) == 1


def test_a_cross_border_return_shows_its_customs_plan_and_its_duty_claim(client, running, carriers):
    fake_carriers(carriers)
    placed = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
    case_id = approved_case(
        client, carrier="dhl_express", pickup=True, order={"duties_paid": "7.50", "placed_at": placed.isoformat()}
    )
    found = wait_case(
        client, case_id, lambda c: c["customs"] and c["customs"].get("declaration", {}).get("status") == "not_sent"
        and all(claim.get("status") == "not_sent" for claim in c["customs"]["claims"])
    )  # fmt: skip
    customs = found["customs"]
    assert customs["lane"] == "DE->CN"
    assert customs["regime"]["code"] == "cn_cbec_export_return"
    assert any("CN23" in d for d in customs["documents"])
    [claim] = customs["claims"]
    assert claim["amount"] == {"amount": "7.50", "currency": "EUR"}
    assert claim["authority"].startswith("EU customs")
    # UCC-DA Art. 148(3) "within ninety days": to the end of the 90th day after the local day of import, in Berlin
    berlin = ZoneInfo("Europe/Berlin")
    last_day = placed.astimezone(berlin).date() + timedelta(days=90)
    ends = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=berlin).astimezone(UTC)
    assert datetime.fromisoformat(claim["due_by"]) == ends and claim["reason"] == "returned_goods"
    assert claim["sent"] is False and claim["request"]["headers"]["Authorization"] == "***"
    assert claim["request"]["url"].endswith("/duty-recovery-claims")
    assert customs["declaration"]["request"]["body"]["regime"]["code"] == "cn_cbec_export_return"
    assert {d["name"] for d in customs["deadlines"]} >= {"duty_vat_recovery_claim"}


def test_a_domestic_return_has_no_customs_plan(client, running, carriers):
    fake_carriers(carriers)
    case_id = approved_case(
        client, carrier="sf_express", pickup=False,
        order={"ship_to": {"country": "CN", "name": "Li Lei", "line1": "2 Road", "city": "Beijing",
                           "phone": "13812345678"}},
    )  # fmt: skip
    found = wait_case(client, case_id, shipments_settled)
    assert found["customs"] is None
