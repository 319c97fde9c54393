"""Issue 19: the lifecycle obeys the policy's eligibility, and every amount adds up.

Each test drives the running service from outside (a signed webhook, an operator command, a
timer round on the service's clock) and reads what a person would: the case's state, its
money ledger, its notices and the requests it sent out (the outbox).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from sqlalchemy import select

from adapters.storage.models import OutboxRow
from queues.worker import Worker
from service.bootstrap import Container
from tests.carrier_flow import CARRIER_ENV, fake_carriers
from tests.case_helpers import MovableClock, case_of, recent, timeline_names
from tests.conftest import example, make_settings, operator_client, post_event, wait_for
from tests.marketplaces import test_end_to_end as e2e
from tests.marketplaces.fake_api import FakeApi
from wsgi import create_app

TOKEN = "ops-token-for-decisions-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))


@contextmanager
def running(tmp_path, clock: MovableClock, merchant: str | None = "example-eu-shop", **env: str) -> Iterator[tuple]:
    """The service on the test's clock, with a merchant policy; consumers run, timers fire when the test says."""
    extra = {"RB_MERCHANT_POLICY": merchant} if merchant else {}
    settings = make_settings(
        RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb-{merchant}.db", RB_OPS_TOKEN=TOKEN, **extra, **env
    )
    container = Container(settings, clock=clock)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    try:
        yield operator_client(create_app(settings, container)), container
    finally:
        worker.stop()
        container.close()


@pytest.fixture
def eu_shop(tmp_path, clock) -> Iterator[tuple]:
    with running(tmp_path, clock) as service:
        yield service


def request(client, clock: MovableClock, days_after_delivery: float = 8, state: str = "requested", **parts: Any) -> str:  # type: ignore[no-untyped-def]
    """The contract's German example (49.90 + 4.99 delivery = 54.89), `days_after_delivery` days after delivery."""
    event = recent(example(**parts), clock())
    if event["order"].get("delivered_at"):
        event["order"]["delivered_at"] = (clock() - timedelta(days=days_after_delivery)).isoformat()
    answer = post_event(client, event)
    assert answer.status_code == 202, answer.get_json()
    case_id = answer.get_json()["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == state), case_of(client, case_id)["state"]
    return case_id


def silence(client, container: Container, clock: MovableClock, case_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The merchant says nothing until its response deadline has passed."""
    due = case_of(client, case_id)["timers"]["timer.merchant_response_overdue"]["due_at"]
    clock.set(datetime.fromisoformat(due) + timedelta(minutes=1))
    assert container.timers.fire_due() >= 1
    return case_of(client, case_id)


def fire(client, container: Container, clock: MovableClock, case_id: str, timer: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    due = case_of(client, case_id)["timers"][timer]["due_at"]
    clock.set(max(datetime.fromisoformat(due), clock()) + timedelta(minutes=1))
    assert container.timers.fire_due() >= 1
    return case_of(client, case_id)


def sent(container: Container, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    """What the case asked adapters to do: routing key and payload of each outbox message."""
    with container.uow() as uow:
        rows = uow.session.scalars(
            select(OutboxRow).where(OutboxRow.correlation_id == case_id).order_by(OutboxRow.id)
        ).all()
        return [(row.routing_key, dict(row.body.get("payload") or {})) for row in rows]


def command(client, case_id: str, action: str, **body: Any):  # type: ignore[no-untyped-def]
    return client.post(f"/returns/{case_id}/commands/{action}", json=body, headers=AUTH)


def payouts(case: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["kind"], e["amount"], e["status"]) for e in case["ledger"]["entries"] if e["kind"] != "deduction"]


def notice(case: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = [n for n in case["notices"] if n["kind"] == kind]
    return found


CHINA = {
    "order": {
        "currency": "CNY",
        "ship_to": {"country": "CN", "name": "王芳", "line1": "南京路 1 号", "city": "上海", "postal_code": "200001"},
        "buyer": {"locale": "zh-CN", "timezone": "Asia/Shanghai"},
        "shipping_paid": "10.00",
    },
    "return": {"resolution": "refund", "reason": "changed_mind", "carrier": "sf_express", "pickup": False},
}
PERISHABLE = {
    "items": [
        {"sku": "CHEESE-1", "title": "Fresh cheese", "quantity": 1, "unit_price": "19.90", "category": "perishable"}
    ],
    "return": {"resolution": "refund", "reason": "changed_mind", "carrier": "dhl_express"},
}


# --- 1. eligibility decides -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "days", "reason"),
    [({}, 20, "outside_return_window"), (CHINA, 20, "outside_return_window"), (PERISHABLE, 3, "excluded_item")],
    ids=["german-day-20", "chinese-change-of-mind-day-20", "german-perishable-food"],
)
def test_merchant_silence_rejects_an_ineligible_request_with_its_reason_and_books_nothing(
    eu_shop, clock, parts, days, reason
):
    client, container = eu_shop
    case_id = request(client, clock, days_after_delivery=days, **parts)
    assert case_of(client, case_id)["policy"]["eligible"] is False
    case = silence(client, container, clock, case_id)
    assert case["state"] == "rejected"
    assert not [key for key, _ in sent(container, case_id) if key.startswith(("carrier.", "marketplace."))]
    assert case["shipments"] == [] and case["ledger"]["entries"] == []
    rejected = notice(case, "return_rejected")
    assert rejected["incomplete"] == [], "the notice names its reason and the appeal deadline"
    assert case["decisions"]["rejection"]["reason"] == reason
    appeal_by = datetime.fromisoformat(case["decisions"]["rejection"]["appeal_by"])
    assert appeal_by == clock() + timedelta(hours=336), "example-eu-shop gives 14 days to appeal"


MIXED = {
    "items": [
        {**example()["items"][0]},
        {"sku": "CHEESE-1", "title": "Fresh cheese", "quantity": 1, "unit_price": "19.90", "category": "perishable"},
    ]
}


def test_merchant_silence_rejects_a_mixed_request_whose_perishable_line_no_right_grants(eu_shop, clock):
    """Contract `eligible` judges "every line of the request"; issue 19: silence approves only eligible requests.
    A scarf within 14 days plus fresh cheese (Directive 2011/83/EU art. 16(d)) is not granted as asked: silence
    rejects it, naming the excluded item, and nothing is booked or refunded."""
    client, container = eu_shop
    case_id = request(client, clock, days_after_delivery=3, **MIXED)
    policy = case_of(client, case_id)["policy"]
    assert policy["eligible"] is False
    assert "line_not_granted" in {r["code"] for r in policy["reasons"]}
    case = silence(client, container, clock, case_id)
    assert case["state"] == "rejected"
    assert case["decisions"]["rejection"]["reason"] == "excluded_item"
    assert "line_not_granted" in case["decisions"]["rejection"]["policy_reasons"]
    assert not [key for key, _ in sent(container, case_id) if key.startswith(("carrier.", "marketplace."))]
    assert notice(case, "return_rejected")["incomplete"] == []


def test_a_mixed_request_waits_for_a_person_where_the_merchant_policy_holds_ineligible_ones(tmp_path, clock):
    with running(tmp_path, clock, "example-own-label-shop") as (client, container):
        case_id = request(client, clock, days_after_delivery=3, **MIXED)
        case = silence(client, container, clock, case_id)
        assert case["state"] == "requested" and case["needs_attention"]
        assert not [key for key, _ in sent(container, case_id) if key.startswith("carrier.")]


def test_merchant_silence_still_approves_an_eligible_request_and_books_its_label(eu_shop, clock):
    client, container = eu_shop
    case_id = request(client, clock, days_after_delivery=3)
    assert silence(client, container, clock, case_id)["state"] == "approved"
    assert "carrier.dhl_express.book_return" in [key for key, _ in sent(container, case_id)]


def test_an_ineligible_request_waits_for_a_person_where_the_merchant_policy_says_so(tmp_path, clock):
    with running(tmp_path, clock, "example-own-label-shop") as (client, container):
        case_id = request(client, clock, days_after_delivery=20)
        case = silence(client, container, clock, case_id)
        assert case["state"] == "requested" and case["needs_attention"]
        assert not [key for key, _ in sent(container, case_id) if key.startswith("carrier.")]


def test_a_simple_eligible_request_under_the_merchants_limit_is_approved_at_once(eu_shop, clock):
    client, container = eu_shop
    cheap = [{**example()["items"][0], "unit_price": "25.00"}]
    case_id = request(client, clock, days_after_delivery=3, state="approved", items=cheap)
    assert "requested" not in [t["name"].split("->")[-1] for t in case_of(client, case_id)["timeline"]]
    assert "carrier.dhl_express.book_return" in [key for key, _ in sent(container, case_id)]
    # Over the limit (49.90 >= 30.00), or another reason: the merchant decides.
    other = {"marketplace_event_id": "evt-2", "order": {"id": "ORD-2"}, "return": {"id": "RMA-2"}}
    request(client, clock, days_after_delivery=3, state="requested", **other)


def test_a_late_request_is_accepted_by_an_operator_only_with_a_recorded_reason(eu_shop, clock):
    """Seed 002 FAQ 2: the buyer could not collect the parcel in time (signed for by someone else)."""
    client, container = eu_shop
    case_id = request(client, clock, days_after_delivery=20)
    assert silence(client, container, clock, case_id)["state"] == "rejected"
    refused = command(client, case_id, "accept_late")
    assert refused.status_code == 400 and "note" in refused.get_json()["error"]["fields"]
    answer = command(client, case_id, "accept_late", note="parcel signed for by a neighbour while abroad")
    assert answer.status_code == 200, answer.get_json()
    case = answer.get_json()["case"]
    assert case["state"] == "approved"
    assert case["decisions"]["late_accepted"]["reason"] == "parcel signed for by a neighbour while abroad"
    assert "carrier.dhl_express.book_return" in [key for key, _ in sent(container, case_id)]


def test_a_zero_second_refund_before_shipment_stops_the_warehouse_and_a_timer_calls_a_person(eu_shop, clock):
    """Seed 002 §1 (0秒退 under the merchant's amount); seed 004 §2 (WMS interception)."""
    client, container = eu_shop
    unshipped = {"delivered_at": None}
    case_id = request(
        client, clock, state="refund_processing", order=unshipped, **{"return": {"resolution": "refund_only"}}
    )
    case = case_of(client, case_id)
    assert payouts(case) == [("refund", "54.89", "requested")]
    keys = [t["detail"].get("command") for t in case["timeline"] if t["name"] in ("command_sent", "no_adapter")]
    assert "marketplace.generic.cancel_order" in keys, "the warehouse is asked to stop the order"
    case = fire(client, container, clock, case_id, "timer.warehouse_answer_overdue")
    assert case["needs_attention"] and "warehouse_answer_overdue" in timeline_names(case)
    answer = command(client, case_id, "confirm_cancellation")
    assert answer.status_code == 200, answer.get_json()
    assert "order:cancel_requested->cancelled" in timeline_names(answer.get_json()["case"])


# --- 2. one ledger, one cap ----------------------------------------------------------------------------------


def test_an_operator_refund_above_what_was_paid_is_refused_with_422_naming_the_cap(eu_shop, clock):
    client, _ = eu_shop
    case_id = request(client, clock)
    before = case_of(client, case_id)
    answer = command(client, case_id, "refund", refund_amount="5000.00")
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "amount_over_cap" and "54.89 EUR" in error["message"]
    assert "54.89" in error["fields"]["refund_amount"][0]
    assert case_of(client, case_id)["timeline"] == before["timeline"], "nothing recorded"
    assert command(client, case_id, "refund", refund_amount="20.00").status_code == 200
    case = case_of(client, case_id)
    assert payouts(case) == [("partial_refund", "20.00", "requested")]
    assert case["ledger"]["cap"] == {"amount": "54.89", "currency": "EUR"}


def test_a_dispute_award_after_a_refund_pays_only_the_difference_once(eu_shop, clock):
    """Seed 004: the platform's award and the merchant's refund are one payout; seed 001 §3.3.3 objection."""
    client, _ = eu_shop
    case_id = request(client, clock)
    assert command(client, case_id, "refund", refund_amount="20.00").status_code == 200
    assert command(client, case_id, "mark_refunded").status_code == 200
    objection = command(client, case_id, "open_dispute", dispute_type="quality")
    assert objection.status_code == 200 and objection.get_json()["case"]["state"] == "platform_intervention"
    assert objection.get_json()["case"]["decisions"]["dispute"]["objection_after_completion"] is True
    assert command(client, case_id, "resolve_dispute", refund_amount="5000.00").status_code == 422
    answer = command(client, case_id, "resolve_dispute", refund_amount="54.89")
    assert answer.status_code == 200
    case = answer.get_json()["case"]
    assert payouts(case) == [("partial_refund", "20.00", "paid"), ("dispute_award", "34.89", "requested")]
    assert timeline_names(case).count("refund_issued") == 2


def test_an_award_already_covered_by_the_refund_adds_no_second_payout(eu_shop, clock):
    client, _ = eu_shop
    case_id = request(client, clock)
    assert command(client, case_id, "refund", refund_amount="54.89").status_code == 200
    assert command(client, case_id, "mark_refunded").status_code == 200
    assert command(client, case_id, "open_dispute").status_code == 200
    case = command(client, case_id, "resolve_dispute", refund_amount="30.00").get_json()["case"]
    assert case["state"] == "refunded"
    assert payouts(case) == [("partial_refund", "54.89", "paid")]


def test_a_marketplace_amount_above_the_cap_is_paid_only_up_to_the_cap_and_flagged(eu_shop, clock):
    client, _ = eu_shop
    case_id = request(client, clock)
    event = recent(example("return-requested-de", type="refund.requested", marketplace_event_id="evt-over"), clock())
    event["return"] = {**event["return"], "resolution": "partial_refund", "refund_amount": "5000.00"}
    assert post_event(client, event).status_code == 202
    assert wait_for(lambda: case_of(client, case_id)["state"] == "refund_processing")
    case = case_of(client, case_id)
    cap = case["ledger"]["cap"]["amount"]
    assert Decimal(cap) <= Decimal("54.89"), "the lines plus the delivery the policy refunds"
    assert payouts(case) == [("partial_refund", cap, "requested")]
    assert case["needs_attention"] and "amount_over_cap" in timeline_names(case)


# --- 3. who pays, charged --------------------------------------------------------------------------------------


def _dhl_with_charge(mock: responses.RequestsMock, price: str) -> None:
    fake_carriers(mock)
    mock.replace(
        responses.POST,
        "https://dhl.test/shipments",
        json={
            "shipmentTrackingNumber": "1234567890",
            "documents": [{"typeCode": "label", "content": "JVBERi0="}],
            "shipmentCharges": [{"currencyType": "BILLC", "priceCurrency": "EUR", "price": float(price)}],
        },
    )


@pytest.mark.parametrize(("insured", "refund"), [(False, "47.69"), (True, "54.89")], ids=["deducted", "insured"])
def test_a_buyer_paid_label_is_deducted_from_the_refund_unless_insurance_pays_it(tmp_path, clock, insured, refund):
    """DOMAIN §4: the buyer pays a change-of-mind return (seed 001 §2.3); 运费险 pays it (seed 004).

    54.89 less the label's real cost (7.20, from DHL's answer), less 10.00 diminished value found at inspection.
    """
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _dhl_with_charge(mock, "7.20")
        with running(tmp_path, clock, **CARRIER_ENV) as (client, _):
            case_id = request(client, clock, **{"return": {"shipping_insurance": insured}})
            assert command(client, case_id, "approve").status_code == 200
            kinds = "insurance" if insured else "deduction"
            assert wait_for(lambda: any(e["kind"] == kinds for e in case_of(client, case_id)["ledger"]["entries"]))
            assert command(client, case_id, "mark_received").status_code == 200
            answer = command(client, case_id, "record_inspection", inspection_passed=True, diminished_value="10.00")
            case = answer.get_json()["case"]
    expected = Decimal(refund) - Decimal("10.00")
    assert payouts(case)[-1] == ("refund", str(expected), "requested")
    reasons = {e.get("reason"): e["amount"] for e in case["ledger"]["entries"] if e["kind"] == "deduction"}
    assert reasons == (
        {"diminished_value": "10.00"} if insured else {"return_label": "7.20", "diminished_value": "10.00"}
    )


def test_a_buyer_who_ships_with_their_own_label_gets_the_drop_off_address_and_no_label_is_booked(tmp_path, clock):
    with running(tmp_path, clock, "example-own-label-shop", RB_RETURNS_ADDRESS_COUNTRY="DE",
                 RB_RETURNS_ADDRESS_LINE1="Lagerstr. 5", RB_RETURNS_ADDRESS_CITY="Hamburg",
                 RB_RETURNS_ADDRESS_POSTAL_CODE="20095") as (client, container):  # fmt: skip
        case_id = request(client, clock, days_after_delivery=3)
        case = command(client, case_id, "approve").get_json()["case"]
        assert not [key for key, _ in sent(container, case_id) if key.startswith("carrier.")]
        approved = notice(case, "return_approved")
        assert approved["incomplete"] == []
        assert "Lagerstr. 5, 20095 Hamburg, DE" in approved["body"]


def test_damage_in_transit_opens_a_carrier_claim_that_is_tracked_to_its_outcome(eu_shop, clock):
    """DOMAIN §6, seed 003: damage or loss in transit is claimed from the carrier."""
    client, container = eu_shop
    case_id = request(client, clock, days_after_delivery=3, **{"return": {"reason": "damaged_in_transit",
                                                                           "evidence": ["https://x.test/p.jpg"]}})  # fmt: skip
    assert command(client, case_id, "approve").status_code == 200
    assert ("carrier.dhl_express.open_claim", {"case_id": case_id, "order_id": "ORD-DE-1001", "tracking": None,
            "reason": "damaged_in_transit"}) in sent(container, case_id)  # fmt: skip
    assert wait_for(lambda: any(s["kind"] == "claim" for s in case_of(client, case_id)["shipments"]))
    claim = next(s for s in case_of(client, case_id)["shipments"] if s["kind"] == "claim")
    assert claim["status"] == "operator_task"
    answer = command(client, case_id, "record_claim_outcome", note="DHL paid the claim", refund_amount="49.90")
    case = answer.get_json()["case"]
    assert case["decisions"]["carrier_claim"]["status"] == "settled"
    assert ("carrier_claim", "49.90", "recovered") in [(e["kind"], e["amount"], e["status"])
                                                      for e in case["ledger"]["entries"]]  # fmt: skip


# --- 4. outbound legs ------------------------------------------------------------------------------------------


def test_an_exchange_ships_a_new_parcel_through_the_carrier_and_the_notice_shows_its_number(tmp_path, clock):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake_carriers(mock)
        with running(tmp_path, clock, **CARRIER_ENV) as (client, container):
            exchange = {**example()["return"], "resolution": "exchange"}
            event = recent(example(type="exchange.requested", **{"return": exchange}), clock())
            case_id = post_event(client, event).get_json()["case_id"]
            assert wait_for(lambda: case_of(client, case_id)["state"] == "requested")
            assert command(client, case_id, "approve").status_code == 200
            assert command(client, case_id, "mark_received").status_code == 200
            assert command(client, case_id, "record_inspection", inspection_passed=True).status_code == 200
            assert ("carrier.dhl_express.book_outbound", {"case_id": case_id, "purpose": "return.inspected"}) in sent(
                container, case_id
            )
            booked = wait_for(lambda: case_of(client, case_id)["decisions"].get("outbound_leg"))
            assert booked["tracking_number"] == "1234567890"
            case = command(client, case_id, "ship_exchange").get_json()["case"]
            bodies = [c.request.body for c in mock.calls if c.request.url == "https://dhl.test/shipments"]
    assert case["state"] == "exchanged"
    assert "1234567890" in notice(case, "exchange_shipped")["body"]
    assert len(bodies) == 2, "the return label and the outbound label"
    assert b"Merchant Returns" in bodies[1] and bodies[1].index(b"Merchant Returns") < bodies[1].index(b"Anna")


# --- 5. refunds that fail -------------------------------------------------------------------------------------


def test_a_failed_refund_tells_the_buyer_and_is_retried_by_timer_and_by_operator(eu_shop, clock):
    client, container = eu_shop
    case_id = request(client, clock)
    assert command(client, case_id, "refund", refund_amount="30.00").status_code == 200
    case = command(client, case_id, "record_refund_failed", note="card expired").get_json()["case"]
    assert case["state"] == "refund_processing" and case["needs_attention"]
    assert payouts(case) == [("partial_refund", "30.00", "failed")]
    failed = notice(case, "refund_failed")
    assert failed["incomplete"] == [] and "30,00" in failed["body"]
    case = fire(client, container, clock, case_id, "timer.refund_retry")
    assert payouts(case) == [("partial_refund", "30.00", "failed"), ("partial_refund", "30.00", "requested")]
    assert command(client, case_id, "retry_refund").status_code == 200
    assert timeline_names(case_of(client, case_id)).count("refund_issued") == 2, "nothing outstanding twice"
    assert command(client, case_id, "record_refund_failed").status_code == 200
    case = command(client, case_id, "retry_refund").get_json()["case"]
    assert [p[2] for p in payouts(case)] == ["failed", "failed", "requested"]
    assert case["ledger"]["pending"] == {"amount": "30.00", "currency": "EUR"}


def test_a_cancellation_the_merchant_leaves_unprocessed_is_refunded_automatically(eu_shop, clock):
    """Seed 003 automatic payout, for a cancellation (seed 004) as for a return."""
    client, container = eu_shop
    event = recent(example(type="order.cancel_requested"), clock())
    event["order"] = {**event["order"], "delivered_at": None}
    case_id = post_event(client, event).get_json()["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "cancelling")
    case = silence(client, container, clock, case_id)
    assert case["state"] == "refund_processing"
    assert payouts(case) == [("refund", "54.89", "requested")]


# --- 6. disputes ---------------------------------------------------------------------------------------------


def dispute(client, clock, dispute_type: str) -> str:  # type: ignore[no-untyped-def]
    case_id = request(client, clock)
    event = recent(example(type="dispute.opened", marketplace_event_id="evt-d"), clock())
    event["return"] = {**event["return"], "dispute_type": dispute_type}
    assert post_event(client, event).status_code == 202
    assert wait_for(lambda: case_of(client, case_id)["state"] == "platform_intervention")
    return case_id


def test_a_swap_is_proven_only_by_a_first_unboxing_video_meeting_the_four_tests(eu_shop, clock):
    """Seed 002 FAQ 3 (six sides, first opening, 一致性、完整性、有效性、时效性)."""
    client, _ = eu_shop
    case_id = dispute(client, clock, "swapped_item")
    photos = command(client, case_id, "submit_evidence", evidence_kind="photos", evidence_url="https://x.test/1.jpg")
    assert photos.status_code == 200
    partial = command(client, case_id, "submit_evidence", evidence_kind="unboxing_video", six_sides_shown=True,
                      first_opening=False, passes=["consistency", "completeness"])  # fmt: skip
    full = command(client, case_id, "submit_evidence", evidence_kind="unboxing_video", six_sides_shown=True,
                   first_opening=True, passes=["consistency", "completeness", "validity", "timeliness"])  # fmt: skip
    evidence = full.get_json()["case"]["decisions"]["dispute"]["evidence"]
    assert [e["valid"] for e in evidence] == [False, False, True]
    assert "not recorded at the first opening of the return" in evidence[1]["problems"]
    assert "fails the timeliness test" in evidence[1]["problems"]
    assert partial.status_code == 200


def test_evidence_after_the_deadline_does_not_count_and_the_deadline_is_on_the_buyers_notice(eu_shop, clock):
    """Seed 002 FAQ 5: 举证期; evidence late or invalid does not support the merchant."""
    client, container = eu_shop
    case_id = dispute(client, clock, "not_as_described")
    case = case_of(client, case_id)
    due = datetime.fromisoformat(case["decisions"]["dispute"]["evidence_due_by"])
    assert due == clock() + timedelta(hours=72) and case["decisions"]["dispute"]["type"] == "not_as_described"
    assert "Bitte senden Sie weitere Nachweise bis zum" in notice(case, "dispute_opened")["body"]
    case = fire(client, container, clock, case_id, "timer.evidence_overdue")
    assert case["decisions"]["dispute"]["evidence_outcome"] == "no_valid_evidence" and case["needs_attention"]
    late = command(client, case_id, "submit_evidence", evidence_kind="photos").get_json()["case"]
    assert late["decisions"]["dispute"]["evidence"][-1]["problems"] == ["after the evidence deadline (举证期)"]


def test_escalation_beyond_the_platform_is_recorded(eu_shop, clock):
    """Seed 004; PRC Consumer Rights Protection Law art. 39: association, authorities, arbitration, court."""
    client, _ = eu_shop
    other = {"marketplace_event_id": "evt-2", "order": {"id": "ORD-2"}, "return": {"id": "RMA-2"}}
    case_id = request(client, clock, **other)
    assert command(client, case_id, "escalate_dispute", escalate_to="court").status_code == 409, "no dispute yet"
    case_id = dispute(client, clock, "service")
    assert command(client, case_id, "escalate_dispute", escalate_to="moon").status_code == 400
    answer = command(client, case_id, "escalate_dispute", escalate_to="consumer_association", note="12315")
    assert [e["to"] for e in answer.get_json()["case"]["decisions"]["dispute"]["escalations"]] == [
        "consumer_association"
    ]


# --- 7. cancellation ---------------------------------------------------------------------------------------------


def test_an_unpaid_order_is_closed_after_its_payment_timeout_and_its_coupon_and_stock_go_back(eu_shop, clock):
    """Seed 004 §3.1.1 (超时未支付,系统自动取消订单), §3.3-3.4."""
    client, container = eu_shop
    event = recent(example(type="order.placed"), clock())
    event["order"] = {**event["order"], "delivered_at": None, "paid": False, "placed_at": clock().isoformat(),
                      "coupons": [{"code": "WELCOME5", "amount": "5.00", "skus": ["SCARF-RED"]}],
                      "points_used": 120}  # fmt: skip
    case_id = post_event(client, event).get_json()["case_id"]
    assert wait_for(lambda: "timer.payment_overdue" in case_of(client, case_id)["timers"])
    due = datetime.fromisoformat(case_of(client, case_id)["timers"]["timer.payment_overdue"]["due_at"])
    assert due == datetime.fromisoformat(event["order"]["placed_at"]) + timedelta(hours=24)
    case = fire(client, container, clock, case_id, "timer.payment_overdue")
    assert case["state"] == "cancelled" and case["ledger"]["entries"] == []
    released = case["decisions"]["released"]
    assert released["coupons"] == [{"code": "WELCOME5", "amount": "5.00"}] and released["points"] == 120
    assert released["stock"] == [{"sku": "SCARF-RED", "quantity": 1}]


def test_a_partial_cancellation_refunds_its_lines_and_keeps_a_coupon_shared_with_the_rest(eu_shop, clock):
    """Seed 004 §3.2 (子订单取消), §3.3.3 (a shared coupon comes back only when all its lines are cancelled)."""
    client, _ = eu_shop
    event = recent(example(type="order.cancel_requested"), clock())
    event["order"] = {**event["order"], "delivered_at": None,
                      "coupons": [{"code": "BUNDLE", "skus": ["SCARF-RED", "HAT-BLUE"]}]}  # fmt: skip
    case_id = post_event(client, event).get_json()["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "cancelling")
    case = command(client, case_id, "confirm_cancellation").get_json()["case"]
    assert case["state"] == "refund_processing"
    assert payouts(case) == [("refund", "54.89", "requested")]
    assert case["decisions"]["released"]["coupons"] == [] and case["decisions"]["released"]["coupons_kept"] == [
        "BUNDLE"
    ]


def test_a_cancellation_after_the_warehouses_final_check_is_refused(eu_shop, clock):
    """Seed 004 §3.1: after the final check (仓库复核) the order can no longer be cancelled."""
    client, container = eu_shop
    event = recent(example(type="order.cancel_requested"), clock())
    event["order"] = {**event["order"], "delivered_at": None, "warehouse_checked_at": clock().isoformat()}
    case_id = post_event(client, event).get_json()["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "closed")
    case = case_of(client, case_id)
    assert notice(case, "cancellation_refused")["incomplete"] == []
    assert not [key for key, _ in sent(container, case_id) if key.startswith("marketplace.")]
    assert case["ledger"]["entries"] == []


# --- 8. the rejection notice -------------------------------------------------------------------------------------


def test_a_marketplaces_rejection_reason_and_appeal_deadline_reach_the_buyers_notice(eu_shop, clock):
    client, _ = eu_shop
    case_id = request(client, clock)
    appeal_by = (clock() + timedelta(days=5)).replace(microsecond=0)
    event = recent(example(type="return.rejected", marketplace_event_id="evt-rej"), clock())
    event["return"] = {**event["return"], "rejection_reason": "item_used", "appeal_due_by": appeal_by.isoformat()}
    assert post_event(client, event).status_code == 202
    assert wait_for(lambda: case_of(client, case_id)["state"] == "rejected")
    rejected = notice(case_of(client, case_id), "return_rejected")
    assert rejected["incomplete"] == []
    assert "benutzt" in rejected["body"].lower() or "used" in rejected["body"].lower()
    assert case_of(client, case_id)["decisions"]["rejection"]["appeal_by"] == appeal_by.isoformat()


def test_an_unknown_rejection_reason_in_an_event_is_a_400_naming_the_field(eu_shop, clock):
    client, _ = eu_shop
    event = recent(example(type="return.rejected"), clock())
    event["return"] = {**event["return"], "rejection_reason": "because"}
    answer = post_event(client, event)
    assert answer.status_code == 400 and "return.rejection_reason" in answer.get_json()["error"]["fields"]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()


@pytest.fixture
def shopify(tmp_path, api: FakeApi) -> Iterator[tuple]:
    """The marketplace end-to-end service with Shopify's API pointing at the fake."""
    env = {**e2e.SECRETS, "RB_SHOPIFY_BASE_URL": api.url, "RB_SHOPIFY_ACCESS_TOKEN": "shpat_test"}
    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/shopify.db", **env)
    container = Container(settings, clock=lambda: e2e.NOW)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    try:
        yield operator_client(create_app(settings, container)), container
    finally:
        worker.stop()
        container.close()


def test_a_refund_the_marketplace_refuses_becomes_refund_failed_and_the_buyer_is_told(shopify, api):
    """Issue 19 §5: `refund.failed` from the marketplace's own answer (Shopify refundCreate userErrors)."""
    graphql = "/admin/api/2025-07/graphql.json"

    @api.route("POST", graphql)
    def answer(call):  # type: ignore[no-untyped-def]
        query = call.json()["query"]
        if "Transactions" in query:
            txn = {"id": "gid://shopify/OrderTransaction/1", "kind": "SALE", "status": "SUCCESS", "gateway": "x",
                   "amountSet": {"shopMoney": {"amount": "100.00", "currencyCode": "EUR"}}}  # fmt: skip
            return 200, {"data": {"order": {"id": "gid://shopify/Order/1", "transactions": [txn]}}}
        if "refundCreate" in query:
            return 200, {"data": {"refundCreate": {"refund": None, "userErrors": [{"message": "card expired"}]}}}
        line = {
            "quantity": 1,
            "returnReason": "DEFECTIVE",
            "fulfillmentLineItem": {
                "lineItem": {
                    "sku": "SCARF-RED",
                    "originalUnitPriceSet": {"shopMoney": {"amount": "49.90", "currencyCode": "EUR"}},
                }
            },
        }
        detail = {
            "id": "gid://shopify/Return/246",
            "status": "REQUESTED",
            "returnLineItems": {"nodes": [line]},
            "order": {"id": "gid://shopify/Order/123", "legacyResourceId": "123", "currencyCode": "EUR"},
        }
        return 200, {"data": {"return": detail}}  # fmt: skip

    client, _ = shopify
    case_id = shopify_post_case(client)
    assert wait_for(lambda: case_of(client, case_id)["order"].get("currency") == "EUR")
    headers = {"Authorization": f"Bearer {e2e.OPS}"}
    refund = client.post(f"/returns/{case_id}/commands/refund", json={"refund_amount": "10.00"}, headers=headers)
    assert refund.status_code == 200, refund.get_json()
    case = wait_for(lambda: (lambda c: c if c["ledger"]["entries"][-1]["status"] == "failed" else None)(
        case_of(client, case_id)))  # fmt: skip
    assert case, case_of(client, case_id)["timeline"][-3:]
    assert "refund_failed" in [n["kind"] for n in case["notices"]]
    assert "timer.refund_retry" in case["timers"] and case["needs_attention"]


def shopify_post_case(client) -> str:  # type: ignore[no-untyped-def]
    case_id = e2e.post(client, "shopify").get_json()["case_id"]
    assert wait_for(lambda: client.get(f"/returns/{case_id}").get_json()["state"] == "requested")
    return case_id


def test_a_filed_duty_and_vat_recovery_claim_is_an_entry_of_the_case_ledger(tmp_path, clock):
    """Issue 19 §2: duty/VAT recovery joins refunds and deductions in the one ledger of the case."""
    env = {**CARRIER_ENV, "RB_CUSTOMS_BROKER_BASE_URL": "https://broker.test", "RB_CUSTOMS_BROKER_API_KEY": "k"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake_carriers(mock)
        mock.post("https://broker.test/returned-goods-declarations", json={"reference": "DECL-1"})
        mock.post("https://broker.test/duty-recovery-claims", json={"reference": "CLAIM-1", "status": "filed"})
        with running(tmp_path, clock, **env) as (client, _):
            placed = (clock() - timedelta(days=20)).isoformat()
            case_id = request(client, clock, order={"duties_paid": "7.50", "placed_at": placed})
            assert command(client, case_id, "approve").status_code == 200
            entries = wait_for(lambda: [e for e in case_of(client, case_id)["ledger"]["entries"]
                                        if e["kind"] == "duty_vat_recovery"])  # fmt: skip
            case = case_of(client, case_id)
    assert [(e["amount"], e["currency"], e["status"], e["reference"]) for e in entries] == [
        ("7.50", "EUR", "claimed", "CLAIM-1")
    ]
    assert case["ledger"]["recovered"]["amount"] != "0.00"


def test_a_refund_reported_paid_after_it_failed_counts_once_against_the_cap(eu_shop, clock):
    """Whoever pays: the platform reports the failed refund paid after all (refund.completed); no second payout."""
    client, _ = eu_shop
    case_id = request(client, clock)
    assert command(client, case_id, "refund", refund_amount="30.00").status_code == 200
    assert command(client, case_id, "record_refund_failed").status_code == 200
    event = recent(example(type="refund.completed", marketplace_event_id="evt-paid"), clock())
    event["return"] = {**event["return"], "refund_amount": "30.00"}
    assert post_event(client, event).status_code == 202
    assert wait_for(lambda: case_of(client, case_id)["state"] == "refunded")
    case = case_of(client, case_id)
    assert payouts(case) == [("partial_refund", "30.00", "paid")]
    assert case["ledger"]["paid_out"] == {"amount": "30.00", "currency": "EUR"}
    assert command(client, case_id, "open_dispute").status_code == 200
    award = command(client, case_id, "resolve_dispute", refund_amount="30.00").get_json()["case"]
    assert award["state"] == "refunded" and len(payouts(award)) == 1


@pytest.mark.parametrize("parts", [CHINA, PERISHABLE], ids=["chinese-day-20", "german-perishable"])
def test_without_a_merchant_policy_the_law_alone_decides_what_silence_approves(tmp_path, clock, parts):
    """The issue's own report: no merchant policy, so only the buyer's statute (CN art. 25; EU art. 16(d))."""
    with running(tmp_path, clock, merchant=None) as (client, container):
        case_id = request(client, clock, days_after_delivery=20 if parts is CHINA else 3, **parts)
        case = silence(client, container, clock, case_id)
        assert case["state"] == "rejected" and case["shipments"] == []
        assert not [key for key, _ in sent(container, case_id) if key.startswith("carrier.")]
        assert notice(case, "return_rejected")["incomplete"] == []


def settled_timeline(client: Any, case_id: str) -> list[dict[str, Any]]:
    """The timeline once the worker has stopped adding to it (two reads a little apart agree)."""
    last: list[dict[str, Any]] | None = None

    def unchanged() -> bool:
        nonlocal last
        now = case_of(client, case_id)["timeline"]
        same, last = now == last, now
        return same

    assert wait_for(unchanged, step=0.3)
    assert last is not None
    return last


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("refund", {"refund_amount": "10.001"}),
        ("record_inspection", {"inspection_passed": True, "diminished_value": "1.234"}),
    ],
)
def test_an_amount_finer_than_the_currency_allows_is_a_400_naming_the_field(eu_shop, clock, action, body):
    client, _ = eu_shop
    case_id = request(client, clock)
    if action == "record_inspection":
        assert command(client, case_id, "approve").status_code == 200
        assert command(client, case_id, "mark_received").status_code == 200
    before = settled_timeline(client, case_id)  # the label booked after approval lands first
    answer = command(client, case_id, action, **body)
    assert answer.status_code == 400, answer.get_json()
    assert set(answer.get_json()["error"]["fields"]) == {next(k for k in body if k != "inspection_passed")}
    assert case_of(client, case_id)["timeline"] == before


def test_a_refund_only_request_over_the_automatic_limit_waits_and_its_approval_stops_the_warehouse(eu_shop, clock):
    """Seed 002 §1: outside 0秒退 the merchant agrees within 24 h; seed 004 §2 the warehouse is stopped then."""
    client, _ = eu_shop
    dear = [{**example()["items"][0], "unit_price": "149.90"}]
    unshipped = {"delivered_at": None}
    case_id = request(client, clock, items=dear, order=unshipped, **{"return": {"resolution": "refund_only"}})
    assert case_of(client, case_id)["ledger"]["entries"] == [], "over the 100.00 EUR limit: nothing paid yet"
    case = command(client, case_id, "approve").get_json()["case"]
    assert case["state"] == "refund_processing"
    keys = [t["detail"].get("command") for t in case["timeline"] if t["name"] in ("command_sent", "no_adapter")]
    assert "marketplace.generic.cancel_order" in keys
    assert "timer.warehouse_answer_overdue" in case["timers"]
