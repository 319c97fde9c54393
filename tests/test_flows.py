"""Each after-sales flow of DOMAIN §1 driven through the HTTP API by events, operator commands and timers.

Events are posted as the marketplace would (signed, at the wall's time); the service's clock is then
moved for timers. Every flow checks where the case ends, its deadlines, who pays and the refund.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.settings import Settings
from queues.worker import Worker
from service.bootstrap import Container
from tests.case_helpers import MovableClock, case_of, recent, timeline_names
from tests.conftest import example, make_settings, operator_client, post_event, wait_for
from wsgi import create_app

TOKEN = "ops-token-flows-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Flow:
    def __init__(self, client: Any, container: Container, clock: MovableClock) -> None:
        self.client, self.container, self.clock = client, container, clock
        self.case_id = ""
        self.seen = 0
        self.sticky: dict[str, Any] = {}

    def event(self, kind: str, expect: str, **overrides: Any) -> dict[str, Any]:
        """The marketplace's next event on the same return; what the first one said is said again."""
        self.sticky = {**self.sticky, **{k: v for k, v in overrides.items() if k in ("order", "return")}}
        body = recent(example(**{**self.sticky, **overrides}), self.clock())
        body["type"], body["marketplace_event_id"] = kind, f"evt-{uuid.uuid4().hex[:10]}"
        accepted = post_event(self.client, body)
        assert accepted.status_code == 202, accepted.get_json()
        self.case_id = accepted.json["case_id"]
        self.seen += 1
        return self.wait(expect)

    def wait(self, state: str) -> dict[str, Any]:
        def moved() -> bool:
            case = case_of(self.client, self.case_id)
            return case["state"] == state and timeline_names(case).count("policy_applied") >= 1

        assert wait_for(moved), case_of(self.client, self.case_id)["state"]
        return case_of(self.client, self.case_id)

    def command(self, action: str, expect: str, **detail: Any) -> dict[str, Any]:
        answer = self.client.post(f"/returns/{self.case_id}/commands/{action}", json=detail, headers=AUTH)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["case"]["state"] == expect
        return answer.get_json()["case"]

    def timer(self, name: str, expect: str) -> dict[str, Any]:
        due = datetime.fromisoformat(case_of(self.client, self.case_id)["timers"][name]["due_at"])
        self.clock.set(max(due, self.clock()) + timedelta(minutes=1))
        assert self.container.timers.fire_due() >= 1
        case = case_of(self.client, self.case_id)
        assert case["state"] == expect and timeline_names(case).count(name) == 1
        return case


@pytest.fixture
def flow(tmp_path) -> Iterator[Flow]:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/flows.db", RB_OPS_TOKEN=TOKEN)
    clock = MovableClock(datetime.now(UTC))
    container = Container(settings, clock=clock)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    yield Flow(operator_client(create_app(settings, container)), container, clock)
    worker.stop()
    container.close()


UNSHIPPED = {"delivered_at": None}


def test_refund_only_before_shipment_is_agreed_by_silence_and_refunds_everything_paid(flow):
    """Seed 002 §1 (未发货仅退款, 24 h); DOMAIN §2 默认同意."""
    case = flow.event(
        "return.requested",
        "requested",
        order={**example()["order"], **UNSHIPPED},
        **{"return": {**example()["return"], "resolution": "refund_only", "reason": "changed_mind"}},
    )
    assert case["policy"]["right"] == "before_delivery" and case["refund"]["amount"] == "54.89"
    assert "return_ship_by" not in case["deadlines"], "nothing to send back"
    requested_at = datetime.fromisoformat(case["timeline"][0]["detail"]["occurred_at"])
    due = datetime.fromisoformat(case["deadlines"]["merchant_response_due_by"])
    assert due - requested_at == timedelta(hours=24)
    case = flow.timer("timer.merchant_response_overdue", "refund_processing")
    assert "refund_issued" in timeline_names(case)
    assert flow.command("mark_refunded", "refunded")["refund"]["amount"] == "54.89"


def test_return_and_refund_runs_from_request_to_refund_paid(flow):
    """Directive 2011/83/EU art. 9, 13, 14; seed 000 §status; seed 001 §4.2.3."""
    case = flow.event("return.requested", "requested")
    assert case["fees"]["return_shipping_payer"] == "buyer" and case["refund"]["original_delivery"] == "4.99"
    flow.event("return.approved", "approved")
    flow.event("return.shipped", "return_in_transit")
    case = flow.event("return.received", "inspecting")
    assert "inspection_due_by" in case["deadlines"] and "timer.inspection_overdue" in case["timers"]
    case = flow.event(
        "return.inspected", "refund_processing", **{"return": {**example()["return"], "inspection": {"passed": True}}}
    )
    assert case["refund"]["amount"] == "54.89" and case["refund"]["lines"] == [{"sku": "SCARF-RED", "amount": "54.89"}]
    assert "refund_due_by" in case["deadlines"]
    case = flow.event("refund.completed", "refunded")
    assert all(t["fired_at"] or t["cancelled"] for t in case["timers"].values())


def test_an_inspection_left_undone_pays_the_refund_out_and_an_unpaid_refund_is_not_paid_twice(flow):
    """DOMAIN §2: unprocessed refunds are paid out automatically (seeds 003, 004), once (issue 19)."""
    flow.event("return.requested", "requested")
    flow.command("approve", "approved")
    flow.command("mark_received", "inspecting")
    case = flow.timer("timer.inspection_overdue", "refund_processing")
    assert timeline_names(case).count("refund_issued") == 1
    case = flow.timer("timer.refund_overdue", "refund_processing")
    assert timeline_names(case).count("refund_issued") == 1 and case["needs_attention"]
    assert "refund_outstanding" in timeline_names(case)


def test_a_return_never_shipped_expires(flow):
    """Seed 001 §5.2.2 (late requests void); EU art. 14(1) 14 days to send the goods back."""
    flow.event("return.requested", "requested")
    flow.command("approve", "approved")
    case = flow.timer("timer.return_not_shipped", "expired")
    assert not any(t["fired_at"] is None and not t["cancelled"] for t in case["timers"].values())


def test_exchange_ends_with_the_new_item_shipped_and_no_refund(flow):
    """Seed 001 §2.3 (exchange for a personal reason: the buyer pays shipping); seed 000 (exchange shipped)."""
    exchange = {**example()["return"], "resolution": "exchange"}
    case = flow.event("exchange.requested", "requested", **{"return": exchange})
    assert case["refund"]["amount"] == "0.00"
    flow.event("return.approved", "approved")
    flow.event("return.received", "inspecting")
    flow.command("record_inspection", "exchange_processing", inspection_passed=True)
    case = flow.command("ship_exchange", "exchanged", tracking_number="JD0001", carrier="dhl_express")
    assert "exchange_shipped" in timeline_names(case)
    [notice] = [n for n in case["notices"] if n["kind"] == "exchange_shipped"]
    assert "JD0001" in notice["body"], "the new parcel, not the buyer's return parcel"


def test_refund_in_transit_asks_the_carrier_to_intercept_and_a_failure_is_negotiated(flow):
    """Seed 002 §2 货在途退款 (拦截快递); FAQ 1 (拦截失败: negotiate a return)."""
    case = flow.event(
        "return.requested",
        "intercepting",
        order={**example()["order"], **UNSHIPPED},
        tracking={"carrier": "dhl_express", "number": "1234567890"},
        **{"return": {**example()["return"], "resolution": "refund", "reason": "changed_mind"}},
    )
    assert "carrier.dhl_express.intercept" in [e["detail"].get("command") for e in case["timeline"]]
    assert case["refund"]["amount"] == "54.89", "before delivery: everything paid comes back"
    case = flow.command("cancel", "cancelled")
    assert "return.cancelled" in timeline_names(case)


def test_an_interception_done_by_a_person_is_recorded_and_the_refund_follows(flow):
    """Seed 002 §2: refund once the interception succeeded; the buyer is told the parcel was stopped."""
    flow.event(
        "return.requested",
        "intercepting",
        order={**example()["order"], **UNSHIPPED},
        tracking={"carrier": "dhl_express", "number": "1234567890"},
        **{"return": {**example()["return"], "resolution": "refund", "reason": "changed_mind"}},
    )
    case = flow.command("record_interception_stopped", "refund_processing")
    assert "refund_issued" in timeline_names(case)
    assert "interception_succeeded" in [n["kind"] for n in case["notices"]]


def test_a_failed_interception_recorded_by_a_person_opens_the_negotiation(flow):
    """Seed 002 FAQ 1 (拦截失败: the buyer keeps the goods or the case becomes a return)."""
    flow.event(
        "return.requested",
        "intercepting",
        order={**example()["order"], **UNSHIPPED},
        tracking={"carrier": "dhl_express", "number": "1234567890"},
        **{"return": {**example()["return"], "resolution": "refund", "reason": "changed_mind"}},
    )
    flow.command("record_interception_failed", "interception_failed")
    assert flow.command("approve", "approved")["state"] == "approved"


def test_the_warehouse_outcome_of_a_cancellation_is_recorded_by_a_person(flow):
    """Seed 004 §3.3: a confirmed cancellation refunds everything through the original route."""
    flow.event("order.cancel_requested", "cancelling", order={**example()["order"], **UNSHIPPED})
    case = flow.command("confirm_cancellation", "refund_processing")
    assert "refund_issued" in timeline_names(case)


def test_returnless_refund_goes_straight_to_the_refund(flow):
    """Seed 002 §3(4) 直接退款 (returnless)."""
    returnless = {**example()["return"], "resolution": "returnless", "reason": "defective"}
    case = flow.event("return.requested", "requested", **{"return": returnless})
    assert case["fees"]["return_shipping_payer"] == "merchant"
    case = flow.event("return.approved", "refund_processing")
    assert case["refund"]["amount"] == "54.89" and "refund_issued" in timeline_names(case)


def test_cancellation_before_shipment_intercepts_in_the_warehouse_and_refunds_everything(flow):
    """Seed 004 §2-3 (cancel before shipment: WMS interception, 原路退还)."""
    case = flow.event("order.cancel_requested", "cancelling", order={**example()["order"], **UNSHIPPED})
    assert case["policy"]["right"] == "before_delivery" and case["refund"]["amount"] == "54.89"
    assert "no_adapter" in timeline_names(case), "no marketplace adapter to call back: flagged for a person"
    assert flow.command("cancel", "cancelled")["state"] == "cancelled"


def test_dispute_resolved_with_a_refund_award_pays_the_award(flow):
    """Seed 002 (平台介入); seed 004 (platform refunds from the deposit); DOMAIN §7."""
    flow.event("return.requested", "requested")
    flow.event("return.rejected", "rejected")
    flow.event("dispute.opened", "platform_intervention")
    case = flow.command("resolve_dispute", "refund_processing", refund_amount="30.00")
    [no_adapter] = [e for e in case["timeline"] if e["name"] == "no_adapter"]
    assert no_adapter["detail"]["message"].startswith("no marketplace adapter")
    assert "dispute_resolved_for_buyer" in [n["kind"] for n in case["notices"]]
    with flow.container.uow() as uow:
        assert uow.cases.get(flow.case_id).facts["agreed_refund"] == {"amount": "30.00", "currency": "EUR"}
    case = flow.command("mark_refunded", "refunded")
    assert case["deadlines"]["window_ends_at"] and case["refund"]["currency"] == "EUR"


def _notice_kinds(flow: Flow) -> list[str]:
    answer = flow.client.get(f"/returns/{flow.case_id}/notices?locale=de-DE", headers=AUTH)
    return [notice["kind"] for notice in answer.get_json()["notices"]]


def test_a_ship_by_reminder_fires_before_the_deadline_and_names_it(flow: Flow) -> None:
    flow.event("return.requested", "requested")
    case = flow.command("approve", "approved")
    flow.timer("timer.ship_by_reminder", "approved")
    assert "ship_by_reminder" in _notice_kinds(flow), case["timers"]


def test_a_reminder_whose_deadline_has_passed_is_not_sent(flow: Flow) -> None:
    """Found from outside (qa2): a service that came back after the ship-by day sent 'you have 0 days left,
    send it by 24 November' on 30 November, then closed the return; the late reminder must lapse."""
    flow.event("return.requested", "requested")
    case = flow.command("approve", "approved")
    ship_by = datetime.fromisoformat(case["timers"]["timer.return_not_shipped"]["due_at"])
    flow.clock.set(ship_by + timedelta(days=6))  # both the reminder and the deadline are long due
    while flow.container.timers.fire_due():
        pass
    assert case_of(flow.client, flow.case_id)["state"] == "expired"
    assert "ship_by_reminder" not in _notice_kinds(flow)
