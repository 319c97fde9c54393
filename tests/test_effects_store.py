"""The SQL repositories of outbound effects and what they make: values in, values out, one effect per key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.storage.ports import DuplicateKey
from adapters.storage.unit_of_work import new_id
from core.cases import open_case
from core.customs import LedgerClaim
from core.effects import EffectKind, EffectState, intended, recorded
from core.money import Money
from core.notices import NoticeDelivery
from core.shipments import Shipment
from core.tracking import TrackingScan
from service.canonical import load_event
from tests.conftest import unique_event

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def a_case(container) -> str:  # type: ignore[no-untyped-def]
    case_id = new_id("case")
    with container.uow() as uow:
        uow.cases.add(open_case(case_id, "generic", load_event(unique_event()), NOW), NOW)
        uow.commit()
    return case_id


def test_an_effect_is_stored_moved_and_read_back_as_the_same_value(container):
    case_id = a_case(container)
    effect = intended("dec_1" + case_id[-6:], case_id, EffectKind.MARKETPLACE_DECISION, "ebay", f"{case_id}:approve",
                      NOW, {"action": "approve"})  # fmt: skip
    with container.uow() as uow:
        uow.effects.add(effect)
        uow.commit()
    done = effect.settled(EffectState.DONE, NOW + timedelta(seconds=2), {"accepted": True})
    with container.uow() as uow:
        assert uow.effects.by_key(f"{case_id}:approve") == effect
        uow.effects.save(done)
        uow.commit()
    with container.uow() as uow:
        assert uow.effects.get(effect.id) == done
        assert uow.effects.for_case(case_id) == [done]
        assert uow.effects.for_case(case_id, [EffectKind.NOTICE]) == []
        assert uow.effects.by_key("nobody:approve") is None


def test_a_second_effect_under_one_idempotency_key_fails_at_commit(container):
    case_id = a_case(container)
    key = f"{case_id}:notice:request_received:email"
    with container.uow() as first, container.uow() as second:
        first.effects.add(intended(new_id("ntc"), case_id, EffectKind.NOTICE, "email", key, NOW))
        second.effects.add(intended(new_id("ntc"), case_id, EffectKind.NOTICE, "email", key, NOW))
        first.commit()
        with pytest.raises(DuplicateKey):
            second.commit()


def test_a_shipment_is_read_with_its_effect_and_found_by_its_tracking_number(container):
    case_id = a_case(container)
    effect = intended(new_id("shp"), case_id, EffectKind.CARRIER_BOOKING, "dhl_express", f"{case_id}:label", NOW,
                      {"url": "https://carrier.example/shipments"})  # fmt: skip
    with container.uow() as uow:
        uow.effects.add(effect)
        uow.shipments.add(Shipment(effect.id, case_id, "dhl_express", "return_label", NOW, effect))
        uow.commit()
    with container.uow() as uow:
        uow.shipments.record_parcel(effect.id, "JD1", "UERG")
        uow.effects.save(effect.settled(EffectState.DONE, NOW, {"shipmentTrackingNumber": "JD1"}))
        uow.commit()
    with container.uow() as uow:
        [shipment] = uow.shipments.for_case(case_id)
        assert (shipment.status, shipment.tracking_number, shipment.label_pdf_base64) == ("booked", "JD1", "UERG")
        assert (shipment.idempotency_key, shipment.request["url"]) == (f"{case_id}:label", effect.request["url"])
        assert shipment.response == {"shipmentTrackingNumber": "JD1"}
        assert uow.scans.shipment_for("dhl_express", "JD1") == shipment
        assert uow.scans.in_flight(NOW - timedelta(days=1), ("delivered_to_warehouse",), 10) == [shipment]
        uow.scans.add(TrackingScan(f"dhl_express:JD1:OK:{case_id}", case_id, "dhl_express", "JD1", "OK",
                                   "delivered_to_warehouse", NOW, "poll", NOW, "Delivered", "Berlin"))  # fmt: skip
        uow.commit()
    with container.uow() as uow:
        [scan] = uow.scans.for_case(case_id)
        assert (scan.status, scan.location, uow.scans.known(scan.scan_key)) == (
            "delivered_to_warehouse",
            "Berlin",
            True,
        )
        assert uow.scans.in_flight(NOW - timedelta(days=1), ("delivered_to_warehouse",), 10) == []


def test_a_notice_delivery_is_found_by_its_effect_key(container):
    case_id = a_case(container)
    key = f"{case_id}:notice:request_received:email"
    effect = recorded(new_id("ntc"), case_id, EffectKind.NOTICE, "email", key, EffectState.NOT_SENT, NOW,
                      error="no RB_* settings for email")  # fmt: skip
    with container.uow() as uow:
        uow.effects.add(effect)
        uow.notice_deliveries.add(NoticeDelivery(effect.id, case_id, "request_received", "email", NOW, effect,
                                                 "a@example.com", "de-DE", {"subject": "Hallo"}))  # fmt: skip
        uow.commit()
    with container.uow() as uow:
        delivery = uow.notice_deliveries.by_key(key)
        assert delivery is not None and uow.notice_deliveries.for_case(case_id) == [delivery]
        assert (delivery.status, delivery.attempts, delivery.recipient, delivery.message) == (
            "not_sent", 0, "a@example.com", {"subject": "Hallo"})  # fmt: skip


def test_a_customs_claim_keeps_its_amount_exact_and_carries_its_filing(container):
    case_id = a_case(container)
    claim = LedgerClaim(new_id("clm"), case_id, "DE", "returned goods relief", Money(Decimal("7.50"), "EUR"),
                        NOW + timedelta(days=90), "planned", "eu_ics2", NOW, NOW)  # fmt: skip
    with container.uow() as uow:
        uow.customs_claims.add(claim)
        uow.commit()
    with container.uow() as uow:
        assert uow.customs_claims.find(case_id, "DE") == claim
        filing = intended(claim.id, case_id, EffectKind.CUSTOMS_CLAIM, "eu_ics2", f"{case_id}:customs_claim:{claim.id}",
                          NOW, {"body": "..."})  # fmt: skip
        uow.effects.add(filing)
        uow.customs_claims.update(replace(claim, status="filed", reference="BRK-9"))
        uow.commit()
    with container.uow() as uow:
        [stored] = uow.customs_claims.for_case(case_id)
        assert (stored.status, stored.reference, stored.amount) == ("filed", "BRK-9", Money(Decimal("7.50"), "EUR"))
        assert stored.filing == filing and uow.customs_claims.get(claim.id) == stored
