"""Our own messages: an event we dumped is decoded without a second validation; an unknown version is validated."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from adapters.messages import SCHEMA_VERSION
from service.canonical import decode_event, dump_event, load_event
from tests.conftest import example


def every_field() -> dict:
    """The contract example with every optional field of every part set, so the decoder meets them all."""
    data = example(
        as_of="2026-11-10T10:00:00+01:00",
        raw_status="RETURN_REQUESTED",
        tracking={"carrier": "dhl_express", "number": "JD0123"},
    )
    data["order"].update(
        paid=True, payment_due_by="2026-10-26T12:00:00+01:00", warehouse_checked_at="2026-10-27T08:00:00Z",
        withdrawal_information_given=False, return_policy_displayed=True, points_used=120,
        coupons=[{"code": "WINTER", "amount": "5.00", "skus": ["SCARF-RED"]}],
        buyer={"locale": "de-DE", "timezone": "Europe/Berlin", "email": "a@example.com", "phone": "+4930",
               "display_currency": "USD"},
    )  # fmt: skip
    data["return"].update(
        raw_reason="ZU_KLEIN", evidence=["https://example.com/photo.jpg"], refund_amount="49.90",
        inspection={"passed": False, "note": "worn"}, defect_discovered_at="2026-11-05T10:00:00+09:00",
        rejection_reason="item_used", appeal_due_by="2026-11-20T00:00:00Z", dispute_type="quality",
        evidence_due_by="2026-11-22T00:00:00Z",
    )  # fmt: skip
    data["items"][0].update(delivered_at="2026-11-02T14:05:00+01:00", digital=True, supply_started_with_consent=True)
    return data


@pytest.mark.parametrize("data", [example(), every_field()], ids=["contract example", "every field"])
def test_our_dump_decodes_to_the_event_the_full_load_builds(data):
    event = load_event(data)
    decoded = decode_event(dump_event(event), SCHEMA_VERSION)
    assert decoded == event
    assert decoded.occurred_at.tzinfo is not None and decoded.occurred_at.utcoffset().total_seconds() == 0
    assert isinstance(decoded.items, tuple) and isinstance(decoded.order.coupons, tuple)


@pytest.mark.parametrize("data", [example(), every_field(), example("order-delivered-fr")], ids=repr)
def test_the_dump_is_exactly_what_the_schema_dumps(data):
    from service.canonical import EVENT_SCHEMA

    event = load_event(data)
    assert dump_event(event) == EVENT_SCHEMA.dump(event)
    assert list(dump_event(event)) == list(EVENT_SCHEMA.dump(event))


def test_our_version_is_not_validated_again():
    """A value the full load refuses is taken as written: the version says we wrote and validated it."""
    dumped = dump_event(load_event(example()))
    dumped["return"]["reason"] = "a reason of a later version"
    assert decode_event(dumped, SCHEMA_VERSION).return_.reason == "a reason of a later version"


@pytest.mark.parametrize("version", [None, "0", "2"])
def test_an_unknown_or_missing_version_gets_the_full_load(version):
    dumped = dump_event(load_event(example()))
    assert decode_event(dumped, version) == load_event(dumped)
    dumped["return"]["reason"] = "teleported"
    with pytest.raises(ValidationError):
        decode_event(dumped, version)


@pytest.mark.parametrize(
    "broken", [None, [], {"type": "return.requested"}, {**example(), "occurred_at": "yesterday"}], ids=repr
)
def test_our_version_that_is_not_our_dump_is_a_validation_error(broken):
    with pytest.raises(ValidationError):
        decode_event(broken, SCHEMA_VERSION)
