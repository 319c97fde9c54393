"""Whatever a signed sender puts in the body, parsing ends in a canonical event or a 400 (PayloadError), never a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.marketplaces import code_tables
from adapters.marketplaces.base import MARKETPLACES, PayloadError, SignatureError
from service.canonical import load_event
from tests.marketplaces import test_lazada, test_shopee, test_shopify, test_tiktok_shop
from tests.marketplaces.conftest import NOW, inbound

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)

SAMPLES = {
    "shopify": (
        {**test_shopify.RETURN_REQUEST, "decline": {"reason": "OTHER", "note": "late"}},
        {"X-Shopify-Topic": "returns/update"},
    ),
    "lazada": (test_lazada.REVERSE_PUSH, {}),
    "tiktok_shop": (test_tiktok_shop.RETURN_CHANGE, {}),
    "shopee": (test_shopee.TO_RETURN, {}),
}


def mutate(sample: dict, data) -> dict:  # type: ignore[no-untyped-def]
    """Replace one field (top level or in `data`/`order`) of a real sample with an arbitrary JSON value."""
    payload = json.loads(json.dumps(sample))
    nested = [k for k, v in payload.items() if isinstance(v, dict)]
    section = data.draw(st.sampled_from([None, *nested]))
    target = payload if section is None else payload[section]
    key = data.draw(st.sampled_from([*sorted(target), "extra"]))
    target[key] = data.draw(values)
    return payload


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(SAMPLES)))
def test_mutated_payloads_parse_to_valid_events_or_a_payload_error(data, name):
    sample, headers = SAMPLES[name]
    request = inbound(json.dumps(mutate(sample, data)).encode(), headers)
    try:
        delivery = MARKETPLACES.get(name).parse(request)
    except PayloadError:
        return
    for event in delivery.events:
        try:
            load_event(event)
        except Exception as exc:  # the intake answers 400 for these; record which field broke
            assert type(exc).__name__ == "ValidationError", exc


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=64), name=st.sampled_from(["shopify", "ebay", "shopee", "lazada", "tiktok_shop"]))
def test_garbage_is_refused_as_unsigned_never_crashes(body, name):
    adapter = MARKETPLACES.get(name)
    try:
        adapter.verify(inbound(body, {"Authorization": "00", "X-Shopify-Hmac-Sha256": "AA=="}), "secret", NOW)
    except SignatureError:
        return
    raise AssertionError("an unsigned body was accepted")


# Free-text reasons as buyers write them, and what each means for the case (written here, not from the table).
BUYER_REASON_TEXTS = {
    "Item arrived damaged": "damaged_in_transit",
    "The screen is broken": "damaged_in_transit",
    "Not as described in the listing": "not_as_described",
    "Colour differs from the description": "not_as_described",
    "This is a fake, not the original brand": "not_as_described",
    "Counterfeit product": "not_as_described",
    "Received the wrong item": "wrong_item",
    "They sent the wrong product": "wrong_item",
    "Charger missing from the box": "missing_parts",
    "Set is incomplete": "missing_parts",
    "Device is not working": "defective",
    "Defective on arrival": "defective",
    "Poor quality stitching": "defective",
    "Wrong size, too small": "size_or_fit",
    "Does not fit": "size_or_fit",
    "Arrived too late for the party": "late_delivery",
    "I changed my mind": "changed_mind",
    "No longer needed": "changed_mind",
    "I don't want it anymore": "changed_mind",
    "Unwanted gift": "changed_mind",
}


@pytest.mark.parametrize(("text", "reason"), sorted(BUYER_REASON_TEXTS.items()))
def test_a_buyers_own_words_map_to_what_they_mean_and_are_kept(text, reason):
    assert code_tables.canonical_reason({}, text) == (reason, text)
