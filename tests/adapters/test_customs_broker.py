"""The customs broker adapter: filings built as documented in its module, refusals, credentials, idempotency."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import responses

from adapters.customs.base import CustomsRejected
from adapters.customs.broker import CustomsBroker
from adapters.http import HttpResult, TransientHttpError
from config.settings import Settings
from core.cases import Command
from core.customs import CustomsFacts, DutyClaim, customs_plan
from core.money import Money
from queues.consumer import IncomingMessage
from service.intake import command_body
from tests.adapters.carrier_fixtures import settings as adapter_settings
from tests.conftest import make_settings

BROKER = CustomsBroker()
CONFIGURED = adapter_settings("customs_broker", BASE_URL="https://broker.test/api/", API_KEY="key-1")
ORDERED = datetime(2026, 10, 1, tzinfo=UTC)
PLAN = customs_plan(CustomsFacts("DE", "CN", ORDERED, "EUR", duties_paid=Decimal("7.50"), origin_countries=("CN",)))
CLAIM = DutyClaim("EU customs", Money(Decimal("7.50"), "EUR"), ORDERED + timedelta(days=90), "UCC Art. 174")


def test_credentials_need_both_the_url_and_the_key():
    assert BROKER.credentials(adapter_settings("customs_broker", BASE_URL="https://broker.test")) is None
    assert BROKER.credentials(CONFIGURED) == {"BASE_URL": "https://broker.test/api/", "API_KEY": "key-1"}


def test_the_declaration_carries_the_plan_the_case_and_an_idempotency_key():
    request = BROKER.build_declaration("case_1", PLAN, CONFIGURED)
    assert request.method == "POST" and request.url == "https://broker.test/api/returned-goods-declarations"
    assert request.headers["Idempotency-Key"] == "case_1:declaration"
    assert request.headers["Authorization"] == "Bearer key-1"
    assert request.json_body["case_id"] == "case_1"
    assert request.json_body["regime"]["code"] == "cn_cbec_export_return"
    assert request.json_body["lane"] == "DE->CN"
    assert request.describe()["headers"]["Authorization"] == "***"


def test_a_claim_carries_amount_authority_and_time_limit():
    request = BROKER.build_claim("case_1", CLAIM, CONFIGURED)
    assert request.url == "https://broker.test/api/duty-recovery-claims"
    assert request.headers["Idempotency-Key"] == "case_1:claim:EU customs"
    assert request.json_body["amount"] == {"amount": "7.50", "currency": "EUR"}
    assert request.json_body["due_by"] == "2026-12-30T00:00:00+00:00"
    assert request.json_body["status"] == "planned"


def test_an_answer_with_a_reference_is_a_filing():
    filing = BROKER.parse_filing(HttpResult(201, {"reference": "BRK-1", "status": "accepted"}, {}))
    assert (filing.reference, filing.status) == ("BRK-1", "accepted")
    assert BROKER.parse_filing(HttpResult(200, {"reference": "BRK-2"}, {})).status == "filed"


def test_a_refusal_keeps_the_brokers_message():
    with pytest.raises(CustomsRejected, match="HS code missing"):
        BROKER.parse_filing(HttpResult(422, {"error": {"message": "HS code missing"}}, {}))
    with pytest.raises(CustomsRejected, match="without a reference"):
        BROKER.parse_filing(HttpResult(200, {"status": "filed"}, {}))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db",
        RB_CUSTOMS_BROKER_BASE_URL="https://broker.test/api",
        RB_CUSTOMS_BROKER_API_KEY="key-1",
        RB_TRACKING_POLL_SECONDS="0",
    )


def claim_command(container, duties: str = "7.50", placed_days_ago: int = 20, reason: str | None = None):  # type: ignore[no-untyped-def]
    """A cross-border case approved with duty paid: the planning writes the ledger row and the commands."""
    from core.cases import open_case
    from service.canonical import load_event
    from tests.conftest import unique_event

    now = datetime.now(UTC)
    placed = (now - timedelta(days=placed_days_ago)).isoformat()
    extra = {"return": {"reason": reason}} if reason else {}
    event = load_event(unique_event(order={"duties_paid": duties, "placed_at": placed}, **extra))
    case = open_case(f"case_{uuid.uuid4().hex}", "generic", event, now)
    case.state = "approved"
    with container.uow() as uow:
        uow.cases.add(case, now)
        commands = container.handlers["cases"].customs.plan(uow, case, now, file=True)
        uow.cases.save(case, now)
        uow.commit()
    return case.id, commands


def incoming(case_id: str, command: Command) -> IncomingMessage:
    return IncomingMessage(uuid.uuid4().hex, command_body(command, case_id), command.routing_key)


def test_a_claim_is_filed_once_and_its_reference_kept_in_the_ledger(container):
    case_id, commands = claim_command(container)
    assert [c.routing_key for c in commands] == ["customs.customs_broker.declare", "customs.customs_broker.file_claim"]
    handler = container.handlers["customs.customs_broker"]
    with responses.RequestsMock() as mock:
        mock.post("https://broker.test/api/duty-recovery-claims", json={"reference": "BRK-9", "status": "filed"})
        handler(incoming(case_id, commands[1]))
        handler(incoming(case_id, commands[1]))
        assert len(mock.calls) == 1
    with container.uow() as uow:
        [row] = uow.customs_claims.for_case(case_id)
        assert (row.status, row.reference, str(row.amount.amount), row.amount.currency) == (
            "filed",
            "BRK-9",
            "7.50",
            "EUR",
        )
        assert uow.cases.get(case_id).timeline[-1].name == "duty_claim_filed"


def test_a_broker_outage_is_retried_and_a_refusal_needs_attention(container):
    case_id, commands = claim_command(container)
    handler = container.handlers["customs.customs_broker"]
    with responses.RequestsMock() as mock:
        mock.post("https://broker.test/api/returned-goods-declarations", status=503)
        with pytest.raises(TransientHttpError):
            handler(incoming(case_id, commands[0]))
        mock.replace(responses.POST, "https://broker.test/api/returned-goods-declarations", status=422,
                     json={"error": {"message": "proof of export missing"}})  # fmt: skip
        handler(incoming(case_id, commands[0]))
    with container.uow() as uow:
        case = uow.cases.get(case_id)
    assert case.customs_declaration is not None and case.customs_declaration.status == "refused"
    assert case.needs_attention and "proof of export missing" in case.timeline[-1].detail["message"]


def test_a_claim_past_the_authoritys_time_limit_is_expired_not_filed(container):
    case_id, commands = claim_command(container, placed_days_ago=200)
    assert [c.action for c in commands] == ["declare"]
    with container.uow() as uow:
        [row] = uow.customs_claims.for_case(case_id)
        assert row.status == "expired"
        assert uow.cases.get(case_id).needs_attention


def test_no_claim_when_no_duty_was_paid(container):
    case_id, commands = claim_command(container, duties="0.00")
    assert [c.action for c in commands] == ["declare"]
    with container.uow() as uow:
        assert uow.customs_claims.for_case(case_id) == []


def test_a_defective_return_files_a_rejected_goods_claim_with_its_one_year_limit(container):
    """The reason travels from the return to the ledger and the filing: rejected goods (UCC Art. 118), one year."""
    case_id, commands = claim_command(container, placed_days_ago=200, reason="defective")
    handler = container.handlers["customs.customs_broker"]
    with responses.RequestsMock() as mock:
        mock.post("https://broker.test/api/duty-recovery-claims", json={"reference": "BRK-10", "status": "filed"})
        handler(incoming(case_id, commands[1]))
        sent = json.loads(mock.calls[0].request.body)
    assert sent["reason"] == "rejected_goods" and "Art. 118" in sent["basis"]
    with container.uow() as uow:
        [row] = uow.customs_claims.for_case(case_id)
        assert row.reason == "rejected_goods" and row.status == "filed"  # 200 days: past 90, within one year
