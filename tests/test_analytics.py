"""`GET /ops/analytics`: returns driven in through the webhook and operator commands, then counted.

The service runs on a clock the test moves after the events came in, so that refunds are paid
days after the request and a refund deadline can pass; every figure asserted is one an
operator would read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.storage.models import CustomsClaimRow, ReturnFactsRow
from core.analytics import Period, rank
from queues.worker import Worker
from service.bootstrap import Container
from tests.case_helpers import MovableClock, recent
from tests.conftest import make_settings, post_event, unique_event, wait_for

TOKEN = "analytics-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))  # webhooks are signed by the wall's time; the test moves it on after


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/rb.db"


@contextmanager
def _serving(database_url: str, clock: MovableClock) -> Iterator[tuple[Any, Container]]:
    settings = make_settings(RB_DATABASE_URL=database_url, RB_OPS_TOKEN=TOKEN)
    from wsgi import create_app

    container = Container(settings, clock=clock)
    app = create_app(settings, container)
    worker = Worker(container.relay, container.consumers(), [])
    worker.start()
    assert worker.wait_ready(10)
    try:
        yield app.test_client(), container
    finally:
        worker.stop()
        container.close()


@pytest.fixture
def served(database_url: str, clock: MovableClock) -> Iterator[tuple[Any, Container]]:
    with _serving(database_url, clock) as serving:
        yield serving


def _event(kind: str, n: str, buyer: str, now: datetime, **changes: Any) -> dict[str, Any]:
    """An event of order `ORD-<n>` (return `RMA-<n>`) by the buyer with that e-mail, at `now`."""
    event = recent(unique_event(kind, n=n), now)
    event["order"]["buyer"] = {**event["order"]["buyer"], "email": buyer}
    event["order"]["ship_to"] = {**event["order"]["ship_to"], "email": buyer}
    for key, value in changes.items():
        event[key] = _merged(event[key], value) if isinstance(value, dict) else value
    return event


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {k: _merged(old.get(k) or {}, v) if isinstance(v, dict) else v for k, v in new.items()} | {
        k: v for k, v in old.items() if k not in new
    }


def _send(client, container: Container, event: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    answer = post_event(client, event, ts=int(container.clock().timestamp()))  # signed by the service's time
    assert answer.status_code == 202, answer.get_json()
    case_id = answer.get_json()["case_id"]
    event_id = answer.get_json()["event_id"]

    def handled() -> bool:
        with container.uow() as uow:
            return uow.processed.seen("cases", event_id)

    assert wait_for(handled, timeout=10), f"{event['type']} for {case_id} was not handled"
    return case_id


def _command(client, case_id: str, action: str, body: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    answer = client.post(f"/returns/{case_id}/commands/{action}", json=body or {}, headers=AUTH)
    assert answer.status_code == 200, answer.get_json()


def _refund_paid(client, container: Container, clock: MovableClock, case_id: str, after_days: float) -> None:  # type: ignore[no-untyped-def]
    """Approve, receive, inspect (passed) and pay the refund `after_days` after now."""
    _command(client, case_id, "approve")
    _command(client, case_id, "mark_received")
    _command(client, case_id, "record_inspection", {"inspection_passed": True})
    clock.advance(days=after_days)
    _command(client, case_id, "mark_refunded")


def _report(client, **query: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    answer = client.get("/ops/analytics", query_string=query, headers=AUTH)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_the_report_counts_returns_by_dimension_times_refunds_and_lists_breaches(served, clock) -> None:  # type: ignore[no-untyped-def]
    _report_counts_times_and_breaches(served, clock)


@pytest.mark.postgres
def test_the_report_is_the_same_on_postgresql(postgres_url: str, clock: MovableClock) -> None:
    """PostgreSQL takes other queries (GROUPING SETS, percentile_disc, index-only scans): the same answers."""
    with _serving(postgres_url, clock) as serving:
        _report_counts_times_and_breaches(serving, clock)


def _report_counts_times_and_breaches(served, clock) -> None:  # type: ignore[no-untyped-def]
    client, container = served
    now = clock()
    # Four orders reported delivered (order.delivered) by one buyer; two of them come back, plus one more return.
    for n in range(4):
        _send(client, container, _event("order.delivered", f"o{n}", "ben@example.com", now))
    fast = _send(client, container, _event("return.requested", "o0", "ben@example.com", now))
    slow = _send(client, container, _event("return.requested", "o1", "ben@example.com", now,
                                           **{"return": {"reason": "defective"}}))  # fmt: skip
    unpaid = _send(client, container, _event("return.requested", "x9", "cleo@example.com", now,
                                             order={"ship_to": {"country": "FR", "email": "cleo@example.com"}}))  # fmt: skip
    with container.uow() as uow:
        due = {c: (uow.cases.get(c).policy_deadlines or {}).get("refund_due_by") for c in (fast, slow, unpaid)}
    assert all(due.values()), due  # the policy set a legal refund deadline on each

    _refund_paid(client, container, clock, fast, after_days=2)
    _refund_paid(client, container, clock, slow, after_days=40)  # far past any refund deadline
    period = {"from": (now - timedelta(days=30)).date().isoformat(), "to": clock().date().isoformat()}
    report = _report(client, **period)

    assert report["totals"] == {"orders": 5, "returns": 3, "return_rate": "0.6000"}
    marketplaces = {g["key"]: g for g in report["by"]["marketplace"]}
    assert marketplaces["generic"] == {"key": "generic", "returns": 3, "orders": 5, "return_rate": "0.6000"}
    reasons = {g["key"]: g["returns"] for g in report["by"]["reason"]}
    assert reasons == {"size_or_fit": 2, "defective": 1}
    assert {g["key"] for g in report["by"]["lane"]} == {"DE→CN", "FR→CN"}
    assert {g["key"]: g["returns"] for g in report["by"]["category"]} == {"apparel": 3}
    assert {g["key"]: g["returns"] for g in report["by"]["jurisdiction"]} == {"DE": 2, "FR": 1}

    timing = report["refund_timing"]
    assert timing["refunded"] == 2
    assert Decimal(timing["median_hours"]) == Decimal(48)  # nearest rank of two: the faster one
    assert Decimal(timing["p90_hours"]) == Decimal(42 * 24)  # the slow one: 2 + 40 days after the request
    breached = {b["case_id"]: b for b in timing["breaches"]}
    assert set(breached) == {slow, unpaid}
    assert breached[slow]["refunded_at"] is not None and Decimal(breached[slow]["hours_late"]) > 0
    assert breached[unpaid]["refunded_at"] is None and breached[unpaid]["state"] == "requested"
    assert timing["deadlines"] == {"met": 1, "paid_late": 1, "passed_unpaid": 1, "met_rate": "0.3333"}
    # Each refund is the scarf (49.90) and, under the EU withdrawal right, the outbound delivery (4.99).
    assert report["refunds"] == [{"currency": "EUR", "refunds": 2, "amount": "109.78"}]


def test_refund_duty_and_vat_recovered_sum_by_currency_exactly(served, clock) -> None:  # type: ignore[no-untyped-def]
    client, container = served
    case_id = _send(client, container, _event("return.requested", "c1", "dee@example.com", clock()))
    other = _send(client, container, _event("return.requested", "c2", "dee@example.com", clock()))
    with container.uow() as uow:  # as the customs service records the authorities' answers
        for n, (case, amount, currency, status) in enumerate(
            [(case_id, "0.10", "EUR", "accepted"), (other, "0.20", "EUR", "accepted"),
             (case_id, "7.00", "GBP", "accepted"), (other, "99.00", "EUR", "refused")]
        ):  # fmt: skip
            uow.session.add(CustomsClaimRow(
                id=f"claim_{uuid.uuid4().hex}", case_id=case, authority=f"authority-{n}", basis="returned goods relief",
                amount=amount, currency=currency, due_by=clock() + timedelta(days=90), status=status,
                adapter="eu_ics2", created_at=clock(), updated_at=clock(),
            ))  # fmt: skip
        uow.commit()
    report = _report(client, days=1)
    assert report["duty_vat_recovered"] == [
        {"currency": "EUR", "claims": 2, "amount": "0.30"},  # exact decimal, not 0.30000000000000004
        {"currency": "GBP", "claims": 1, "amount": "7.00"},
    ]


def test_signals_name_serial_returners_worn_goods_and_changed_reasons_and_refuse_nothing(served, clock) -> None:  # type: ignore[no-untyped-def]
    client, container = served
    now = clock()
    serial = [_send(client, container, _event("return.requested", f"s{n}", "Sam@Example.com ", now)) for n in range(3)]
    worn = _send(client, container, _event("return.requested", "w1", "wes@example.com", now, items=[
        {"sku": "COAT", "quantity": 1, "unit_price": "120.00", "category": "apparel",
         "condition": {"opened": True, "used": True, "tags_attached": False}}]))  # fmt: skip
    changed = _send(client, container, _event("return.requested", "r1", "rae@example.com", now,
                                              **{"return": {"reason": "defective"}}))  # fmt: skip
    _command(client, changed, "approve")
    _command(client, changed, "mark_received")
    inspected = _event("return.inspected", "r1", "rae@example.com", now,
                       **{"return": {"reason": "changed_mind", "inspection": {"passed": True, "note": "works fine"}}})  # fmt: skip
    _send(client, container, inspected)
    one_off = _send(client, container, _event("return.requested", "z1", "zoe@example.com", now))

    report = _report(client, days=7, min_returns=3)
    signals = report["signals"]
    assert "never refuse" in signals["note"]
    [buyer] = signals["serial_returners"]
    assert buyer["returns"] == 3 and sorted(buyer["case_ids"]) == sorted(serial)
    assert buyer["buyer_key"].startswith("b_") and "sam" not in buyer["buyer_key"].lower()
    assert "3 returns in 90 days" in buyer["why"]
    assert [c["case_id"] for c in signals["worn_or_tags_removed"]["cases"]] == [worn]
    assert signals["worn_or_tags_removed"]["cases"][0]["evidence"] == "used or worn and tags removed"
    [change] = signals["reason_changed"]["cases"]
    assert (change["case_id"], change["reason_at_request"], change["reason_at_inspection"]) == (
        changed, "defective", "changed_mind")  # fmt: skip
    assert one_off not in {c for b in signals["serial_returners"] for c in b["case_ids"]}
    # A signal is for a person: the flagged cases went on exactly as the others.
    with container.uow() as uow:
        assert {uow.cases.get(c).state for c in [*serial, worn, one_off]} == {"requested"}
        assert uow.cases.get(changed).state == "refund_processing"
    # Under the default of 5 returns, Sam is still named: every one of the 3 orders came back.
    [by_default] = _report(client, days=7)["signals"]["serial_returners"]
    assert by_default["why"] == ["100% of the value of 3 orders returned"]


def test_a_high_returned_share_of_value_flags_a_buyer_with_few_returns(served, clock) -> None:  # type: ignore[no-untyped-def]
    _returned_share_flags(served, clock)


@pytest.mark.postgres
def test_the_returned_share_is_the_same_on_postgresql(postgres_url: str, clock: MovableClock) -> None:
    with _serving(postgres_url, clock) as serving:
        _returned_share_flags(serving, clock)


def _returned_share_flags(served, clock) -> None:  # type: ignore[no-untyped-def]
    client, container = served
    now = clock()
    for n in range(3):
        _send(client, container, _event("order.delivered", f"v{n}", "val@example.com", now))
    returned = [_send(client, container, _event("return.requested", f"v{n}", "val@example.com", now)) for n in range(2)]
    report = _report(client, days=7, returned_share="0.6")
    [buyer] = report["signals"]["serial_returners"]
    assert (buyer["orders"], buyer["returns"], buyer["returned_share"]) == (3, 2, "0.6667")
    assert (buyer["returned_value"], buyer["ordered_value"], buyer["currency"]) == ("99.80", "149.70", "EUR")
    assert sorted(buyer["case_ids"]) == sorted(returned)
    assert _report(client, days=7, returned_share="0.7")["signals"]["serial_returners"] == []


def test_a_purge_of_personal_data_takes_the_buyer_pseudonym_too(served, clock) -> None:  # type: ignore[no-untyped-def]
    client, container = served
    case_id = _send(client, container, _event("return.requested", "p1", "pia@example.com", clock()))
    _command(client, case_id, "cancel")
    clock.advance(days=400)
    container.pii_purge.clock = clock
    assert container.pii_purge.run_once().cases == 1
    with container.uow() as uow:
        row = uow.session.get(ReturnFactsRow, case_id)
        assert row.buyer_key is None and row.reason == "size_or_fit"


@pytest.mark.parametrize(
    ("query", "field"),
    [({"from": "2026-13-01"}, "from"), ({"from": "2026-11-10", "to": "2026-11-01"}, "to"), ({"days": "0"}, "days"),
     ({"returned_share": "1.5"}, "returned_share"), ({"returned_share": "NaN"}, "returned_share"),
     ({"from": "2026-11-01", "days": "3"}, "days"), ({"min_returns": "x"}, "min_returns"),
     ({"from": "2999-01-01"}, "from"), ({"from": "1900-01-01"}, "from"), ({"from": "2026-01-01", "to": "2040-01-01"}, "to"),
     ({"to": "9999-12-31"}, "to"), ({"to": "0001-01-02", "days": "30"}, "to")],
)  # fmt: skip
def test_a_bad_query_is_a_400_naming_the_field(served, query: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    answer = client.get("/ops/analytics", query_string=query, headers=AUTH)
    assert answer.status_code == 400
    assert field in answer.get_json()["error"]["fields"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}])
def test_the_analytics_need_the_operations_token(served, headers: dict) -> None:  # type: ignore[no-untyped-def]
    client, _ = served
    assert client.get("/ops/analytics", headers=headers).status_code == 401


def test_quantile_rank_and_periods() -> None:
    assert [rank(10, Decimal(f)) for f in ("0.5", "0.9", "1")] == [4, 8, 9]
    assert rank(1, Decimal("0.9")) == 0 and rank(2, Decimal("0.5")) == 0
    period = Period.of_days(datetime(2026, 11, 1).date(), datetime(2026, 11, 30).date())
    assert period.days == 30 and period.to_json() == {"from": "2026-11-01", "to": "2026-11-30"}


def test_cases_stored_before_the_analytics_are_backfilled_once(served, clock) -> None:  # type: ignore[no-untyped-def]
    client, container = served
    cases = [
        _send(client, container, _event("return.requested", f"old{n}", "old@example.com", clock())) for n in range(3)
    ]
    with container.uow() as uow:  # as a database migrated from before 0013 holds them
        uow.session.query(ReturnFactsRow).delete()
        uow.commit()
    assert _report(client, days=1)["totals"]["returns"] == 0
    runner = client.application.test_cli_runner()
    result = runner.invoke(args=["analytics-backfill"])
    assert result.exit_code == 0 and "3 cases given their analytics facts" in result.output
    assert _report(client, days=1)["totals"]["returns"] == 3
    assert "0 cases" in runner.invoke(args=["analytics-backfill"]).output
    with container.uow() as uow:
        assert {r.case_id for r in uow.session.query(ReturnFactsRow)} == set(cases)


def _state(container: Container, case_id: str) -> str:
    with container.uow() as uow:
        return uow.cases.get(case_id).state


def test_a_rejected_or_expired_return_owes_no_refund_and_is_no_breach(served, clock) -> None:  # type: ignore[no-untyped-def]
    """Found driving the console (qa2): a perishable return rejected under art 16(d) and a return the buyer never
    sent were listed as refund deadlines 'passed unpaid', beside the one case really owed its refund."""
    client, container = served
    now = clock()
    rejected = _send(client, container, _event("return.requested", "r1", "eve@example.com", now))
    _command(client, rejected, "reject", {"rejection_reason": "excluded_item"})
    owed = _send(client, container, _event("return.requested", "r2", "fay@example.com", now))
    _command(client, owed, "approve")
    _command(client, owed, "mark_received")  # the goods are back: the refund is owed
    # Asked 40 days ago: approved on the merchant's silence, never sent back, so the case expires.
    expired = _send(client, container, _event("return.requested", "r3", "gus@example.com", now - timedelta(days=40)))
    clock.advance(days=40)  # every refund deadline has passed
    container.timers.fire_due()  # merchant silence, then the return not shipped in time
    container.timers.fire_due()
    assert wait_for(lambda: _state(container, expired) == "expired", timeout=10)
    with container.uow() as uow:
        states = {c: uow.cases.get(c).state for c in (rejected, owed, expired)}
    assert states == {rejected: "rejected", owed: "refund_processing", expired: "expired"}, states
    period = {"from": (now - timedelta(days=60)).date().isoformat(), "to": clock().date().isoformat()}
    timing = _report(client, **period)["refund_timing"]

    assert {b["case_id"] for b in timing["breaches"]} == {owed}
    assert timing["deadlines"]["passed_unpaid"] == 1
