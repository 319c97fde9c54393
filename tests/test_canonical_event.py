"""The canonical event codec: what the generic webhook accepts and how errors name their fields."""

from __future__ import annotations

from decimal import Decimal

import pytest
from marshmallow import ValidationError

from service.canonical import dump_event, flatten_errors, load_event
from tests.conftest import example


def errors_of(data: dict) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        load_event(data)
    return flatten_errors(caught.value.messages)


def test_contract_example_loads_with_times_in_utc_and_amounts_as_decimals():
    event = load_event(example())
    assert event.occurred_at.isoformat() == "2026-11-10T08:30:00+00:00"
    assert event.order.delivered_at.isoformat() == "2026-11-02T13:05:00+00:00"
    assert event.items[0].unit_price == Decimal("49.90")
    assert event.order.ship_to.country == "DE"


def test_dumped_event_loads_back_unchanged():
    event = load_event(example())
    assert load_event(dump_event(event)) == event


def test_errors_name_nested_fields_with_dotted_paths():
    data = example(order={"currency": "EURO"})
    data["items"][0]["quantity"] = 0
    fields = errors_of(data)
    assert "order.currency" in fields
    assert "items[0].quantity" in fields


def test_unknown_event_type_is_rejected():
    assert "type" in errors_of(example(type="return.teleported"))


def test_time_without_offset_is_rejected():
    assert "occurred_at" in errors_of(example(occurred_at="2026-11-10T09:30:00"))


def test_amount_must_be_a_decimal_string_not_a_number():
    data = example()
    data["items"][0]["unit_price"] = 49.9
    assert "items[0].unit_price" in errors_of(data)


def test_amount_with_more_decimals_than_the_currency_allows_is_rejected():
    data = example(order={"currency": "JPY", "shipping_paid": "5.50"})
    data["items"][0]["unit_price"] = "4990"
    assert errors_of(data) == {"order.shipping_paid": ["is not a whole number of JPY minor units (0 decimals)"]}


def test_trailing_zeros_beyond_the_minor_unit_are_accepted():
    data = example(order={"currency": "JPY", "shipping_paid": "500.00", "duties_paid": "0.00"})
    data["items"][0]["unit_price"] = "4990"
    assert load_event(data).order.shipping_paid == Decimal("500")


def test_a_body_that_is_not_an_object_is_rejected():
    with pytest.raises(ValidationError):
        load_event(["not", "an", "object"])
