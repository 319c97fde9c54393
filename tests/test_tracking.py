"""Tracking pushes and polls: verified per carrier, each scan recorded once, the case moved or flagged."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from sqlalchemy import select

from adapters.storage.models import OutboxRow
from adapters.storage.unit_of_work import new_id
from config.settings import Settings
from core.cases import open_case
from core.effects import recorded
from core.shipments import Shipment
from core.tracking import TrackingStatus, TrackingUpdate
from queues.scheduler import PeriodicTask
from service.canonical import load_event
from tests.carrier_flow import CARRIER_ENV, FEDEX_TRACKING, fedex_push
from tests.conftest import make_settings, unique_event


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_MAX_BODY_BYTES="4096", **CARRIER_ENV)


def seeded(container, carrier: str = "fedex", number: str = FEDEX_TRACKING, state: str = "approved") -> str:  # type: ignore[no-untyped-def]
    """A case in `state` with a booked return label for `number`."""
    now = datetime.now(UTC)
    case = open_case(new_id("case"), "generic", load_event(unique_event()), now)
    case.state = state
    with container.uow() as uow:
        uow.cases.add(case, now)
        booked = recorded(new_id("shp"), case.id, "carrier_booking", carrier, f"{case.id}:earlier_label", "done", now)
        uow.effects.add(booked)
        uow.shipments.add(Shipment(booked.id, case.id, carrier, "return_label", now, booked, tracking_number=number))
        uow.commit()
    return case.id


def scan(code: str, status: str, at: str, number: str = FEDEX_TRACKING) -> TrackingUpdate:
    return TrackingUpdate("fedex", number, code, status, datetime.fromisoformat(at))


def events_sent(container, case_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with container.uow() as uow:
        rows = uow.session.scalars(select(OutboxRow).where(OutboxRow.correlation_id == case_id)).all()
        return [row.body["event"]["type"] for row in rows if "event" in row.body]


def test_an_exception_scan_flags_the_case_for_attention_and_moves_nothing(container):
    case_id = seeded(container)
    receipt = container.tracking.record(
        "fedex", [scan("DE", TrackingStatus.EXCEPTION, "2026-11-12T10:00:00+00:00")], "push"
    )
    assert receipt.recorded == 1 and receipt.events == ()
    with container.uow() as uow:
        case = uow.cases.get(case_id)
    assert case.needs_attention is True
    assert case.timeline[-1].name == "tracking_exception"
    assert "problem" in case.timeline[-1].detail["message"]
    assert events_sent(container, case_id) == []


def test_several_movement_scans_send_return_shipped_once(container):
    case_id = seeded(container)
    first = [
        scan("IT", TrackingStatus.IN_TRANSIT, "2026-11-12T18:00:00+00:00"),
        scan("PU", TrackingStatus.SHIPPED_BACK, "2026-11-12T10:00:00+00:00"),
    ]
    assert container.tracking.record("fedex", first, "push").events == ("return.shipped",)
    later = [scan("AR", TrackingStatus.IN_TRANSIT, "2026-11-13T08:00:00+00:00")]
    assert container.tracking.record("fedex", later, "poll").events == ()
    delivered = [scan("DL", TrackingStatus.DELIVERED_TO_WAREHOUSE, "2026-11-15T08:00:00+00:00")]
    assert container.tracking.record("fedex", delivered, "poll").events == ("return.received",)
    assert events_sent(container, case_id) == ["return.shipped", "return.received"]


def test_a_delivery_scan_for_a_cancelled_case_is_recorded_without_moving_it(container):
    case_id = seeded(container, state="cancelled")
    delivered = [scan("DL", TrackingStatus.DELIVERED_TO_WAREHOUSE, "2026-11-15T08:00:00+00:00")]
    assert container.tracking.record("fedex", delivered, "push").recorded == 1
    assert events_sent(container, case_id) == []


def test_scans_of_parcels_we_did_not_book_are_counted_as_unmatched(container):
    receipt = container.tracking.record(
        "fedex", [scan("PU", "shipped_back", "2026-11-12T10:00:00+00:00", "999")], "push"
    )
    assert (receipt.recorded, receipt.unmatched) == (0, 1)


@responses.activate
def test_polling_twice_records_each_scan_once(container):
    case_id = seeded(container)
    responses.post("https://fx.test/oauth/token", json={"access_token": "tok", "expires_in": 3600})
    body, _ = fedex_push([("PU", "2026-11-12T10:00:00+01:00"), ("IT", "2026-11-12T20:00:00+01:00")])
    responses.post("https://fx.test/track/v1/trackingnumbers", json=json.loads(body))
    assert container.tracking_poller.poll_once().recorded == 2
    again = container.tracking_poller.poll_once()
    assert (again.recorded, again.duplicates) == (0, 2)
    assert events_sent(container, case_id) == ["return.shipped"]
    sent = json.loads(responses.calls[-1].request.body)
    assert sent["trackingInfo"][0]["trackingNumberInfo"]["trackingNumber"] == FEDEX_TRACKING


@responses.activate
def test_delivered_parcels_are_no_longer_polled(container):
    seeded(container)
    container.tracking.record("fedex", [scan("DL", "delivered_to_warehouse", "2026-11-15T08:00:00+00:00")], "push")
    assert container.tracking_poller.in_flight() == []


def test_a_pushed_scan_already_polled_is_a_duplicate(client, container):
    seeded(container)
    container.tracking.record("fedex", [scan("PU", "shipped_back", "2026-11-12T09:00:00+00:00")], "poll")
    body, headers = fedex_push([("PU", "2026-11-12T10:00:00+01:00")])
    answer = client.post("/carriers/fedex/tracking", data=body, headers=headers)
    assert answer.status_code == 202 and answer.json["duplicates"] == 1 and answer.json["recorded"] == 0


def test_ups_track_alert_with_our_credential_is_recorded(client, container):
    case_id = seeded(container, carrier="ups", number="1Z0000000000000001")
    body = json.dumps(
        {"trackingNumber": "1Z0000000000000001", "gmtActivityDate": "20261112", "gmtActivityTime": "101500",
         "activityStatus": {"type": "P", "code": "PU", "description": "Pickup Scan"}}
    ).encode()  # fmt: skip
    answer = client.post(
        "/carriers/ups/tracking",
        data=body,
        headers={"Content-Type": "application/json", "credential": "ups-credential"},
    )
    assert answer.status_code == 202 and answer.json["events"] == ["return.shipped"]
    assert events_sent(container, case_id) == ["return.shipped"]


@pytest.mark.parametrize(
    ("carrier", "headers"),
    [
        ("fedex", {"fdx-signature": "Zm9yZ2Vk"}),
        ("fedex", {}),
        ("ups", {"credential": "guessed"}),
        ("ups", {}),
        ("dhl_express", {"DHL-Push-Token": "guessed"}),
        ("sf_express", {"timestamp": "1", "nonce": "n", "signature": "forged"}),
    ],
)
def test_forged_or_unsigned_pushes_are_refused(client, carrier, headers):
    body, _ = fedex_push([("DL", "2026-11-15T08:00:00+00:00")])
    answer = client.post(f"/carriers/{carrier}/tracking", data=body, headers={"Content-Type": "application/json",
                                                                              **headers})  # fmt: skip
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "invalid_signature"


def test_a_push_signed_with_another_secret_is_refused(client):
    body, headers = fedex_push([("DL", "2026-11-15T08:00:00+00:00")], secret="someone-else")
    assert client.post("/carriers/fedex/tracking", data=body, headers=headers).status_code == 401


def test_unknown_carrier_not_json_and_too_large_are_answered_like_the_webhooks(client):
    body, headers = fedex_push([("DL", "2026-11-15T08:00:00+00:00")])
    assert client.post("/carriers/pigeon/tracking", data=body, headers=headers).status_code == 404
    plain = {**headers, "Content-Type": "text/plain"}
    assert client.post("/carriers/fedex/tracking", data=body, headers=plain).json["error"]["code"] == (
        "unsupported_media_type"
    )
    big = b"{" + b" " * 5000 + b"}"
    assert client.post("/carriers/fedex/tracking", data=big, headers=headers).status_code == 413


def test_a_signed_push_that_is_not_a_track_result_is_a_400(client):
    import base64
    import hashlib
    import hmac

    body = b'{"hello": "world"}'
    signed = base64.b64encode(hmac.new(b"aiv-token", body, hashlib.sha256).digest()).decode()
    answer = client.post("/carriers/fedex/tracking", data=body,
                         headers={"Content-Type": "application/json", "fdx-signature": signed})  # fmt: skip
    assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_payload"


def test_the_tracking_push_route_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json["paths"]
    assert "post" in paths["/carriers/{carrier}/tracking"]


def test_a_periodic_task_keeps_running_after_a_failure():
    calls: list[int] = []
    done = threading.Event()

    def poll() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("carrier down")
        done.set()

    task = PeriodicTask("tracking-poll", 0.02, poll)
    task.start()
    assert done.wait(5)
    task.stop()
    assert len(calls) >= 2


def test_polling_is_scheduled_unless_turned_off(container):
    names = [t.name for t in container.periodic_tasks()]  # RB_TRACKING_POLL_SECONDS=0 here
    assert names == ["case-timers", "dead-letter-sweep"]
    on = type(container.settings)(**{**container.settings.__dict__,
                                     "env": {**container.settings.env, "RB_TRACKING_POLL_SECONDS": "60"}})  # fmt: skip
    container.settings = on
    [_, task, _] = container.periodic_tasks()
    assert task.name == "tracking-poll" and task.interval == 60.0


@pytest.mark.parametrize(("age", "status"), [(timedelta(seconds=5), 202), (timedelta(days=2), 401)])
def test_an_sf_push_replayed_later_is_refused_at_the_webhook(client, container, age, status):
    """A correctly signed SF push captured and posted again two days later is a 401, a fresh one a 202."""
    from adapters.carriers.sf_express import encrypt, signature

    seeded(container, carrier="sf_express", number="SF1400000000001")
    routes = {"data": [{"sfWaybillNo": "SF1400000000001", "trackDetailItems": [
        {"opCode": "50", "localTm": "2026-11-12 10:00:00"}]}]}  # fmt: skip
    body = encrypt(json.dumps(routes), CARRIER_ENV["RB_SF_EXPRESS_AES_KEY"], CARRIER_ENV["RB_SF_EXPRESS_APP_KEY"])
    stamp = str(int((container.clock() - age).timestamp() * 1000))
    headers = {"Content-Type": "application/json", "timestamp": stamp, "nonce": "n1",
               "signature": signature(CARRIER_ENV["RB_SF_EXPRESS_WEBHOOK_SECRET"], stamp, "n1", body)}  # fmt: skip
    answer = client.post("/carriers/sf_express/tracking", data=body.encode(), headers=headers)
    assert answer.status_code == status, answer.json
    if status == 401:
        assert "replay" in answer.json["error"]["message"]


def _authentic(carrier: str, body: bytes) -> dict[str, str]:
    import base64
    import hashlib
    import hmac

    headers = {"Content-Type": "application/json"}
    if carrier == "fedex":
        return {
            **headers,
            "fdx-signature": base64.b64encode(hmac.new(b"aiv-token", body, hashlib.sha256).digest()).decode(),
        }
    if carrier == "ups":
        return {**headers, "credential": "ups-credential"}
    return {**headers, "DHL-Push-Token": CARRIER_ENV["RB_DHL_EXPRESS_WEBHOOK_SECRET"]}


_FEDEX_SCAN = {"output": {"completeTrackResults": [{"trackingNumber": "1", "trackResults": [{"scanEvents": []}]}]}}


@pytest.mark.parametrize(
    ("carrier", "push"),
    [
        # Issue 16 item 8, seen against `make web`: authentic pushes of another shape were answered 500.
        ("dhl_express", {"shipments": [1]}),
        ("dhl_express", {"shipments": [{"id": "1", "events": "x"}]}),
        (
            "dhl_express",
            {"shipments": [{"id": "1", "events": [{"timestamp": "2026-11-30T01:00:00", "location": "x"}]}]},
        ),
        ("fedex", {"output": {"completeTrackResults": [1]}}),
        ("fedex", {"output": {"completeTrackResults": [{"trackingNumber": "1", "trackResults": [1]}]}}),
        ("ups", {"trackingNumber": "1", "activityStatus": 1, "gmtActivityDate": "20261130"}),
        ("ups", {"trackingNumber": "1", "gmtActivityDate": "20261130", "activityLocation": [1]}),
    ],
)
def test_an_authentic_push_of_another_shape_is_a_400_naming_it(client, carrier, push):
    body = json.dumps(push).encode()
    answer = client.post(f"/carriers/{carrier}/tracking", data=body, headers=_authentic(carrier, body))
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.json["error"]["code"] == "invalid_payload"
    assert "shape" in answer.json["error"]["message"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_scan_time_beyond_the_calendar_is_left_out_and_the_other_scans_are_kept(client, container, moment):
    """An offset that pushes a time out of datetime's range raised OverflowError: a 500 for the whole push."""
    seeded(container, "dhl_express", "1234567890")
    good = {"timestamp": "2026-11-15T08:00:00+00:00", "statusCode": "transit"}
    for push in (
        {"shipments": [{"id": "1234567890", "events": [{"timestamp": moment}, good]}]},
        {"output": {"completeTrackResults": [{"trackingNumber": "1", "trackResults": [
            {"scanEvents": [{"date": moment, "eventType": "PU"}]}]}]}},
    ):  # fmt: skip
        carrier = "dhl_express" if "shipments" in push else "fedex"
        body = json.dumps(push).encode()
        answer = client.post(f"/carriers/{carrier}/tracking", data=body, headers=_authentic(carrier, body))
        assert answer.status_code == 202, answer.get_data(as_text=True)
        if carrier == "dhl_express":
            assert answer.json["recorded"] == 1, answer.json  # the good scan beside the impossible one


@pytest.mark.parametrize("day", ["99991231", "19000101"])
def test_a_scan_dated_outside_the_contracts_years_moves_nothing_and_is_not_recorded(client, container, running, day):
    """Issue 16 item 9 for carriers: a UPS scan of year 9999 was recorded and sent `return.shipped`, which the
    canonical schema (1990-2199) then refused in the worker: the case stayed `approved` with a dead letter."""
    case_id = seeded(container, "ups", "1Z12345E0205271688")
    body = json.dumps({"trackingNumber": "1Z12345E0205271688", "gmtActivityDate": day, "gmtActivityTime": "120000",
                       "activityStatus": {"type": "I", "code": "DP", "description": "Departed"}}).encode()  # fmt: skip
    answer = client.post("/carriers/ups/tracking", data=body, headers=_authentic("ups", body))
    assert answer.status_code == 202 and answer.json["recorded"] == 0 and answer.json["events"] == []
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        assert (case.state, case.needs_attention) == ("approved", False)
