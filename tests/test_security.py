"""Security: constant-time checks, replay window, body limits, content types, redacted logs, PII purge."""

from __future__ import annotations

import hmac
import io
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.storage.purge_store import PurgeStore
from config.settings import Settings
from core.cases import open_case
from core.effects import recorded
from core.notices import NoticeDelivery
from service.canonical import load_event
from service.privacy import REDACTED, PiiPurge, RedactingFilter, redact, secrets_of
from tests.conftest import make_settings, post_event, sign_generic, unique_event

TOKEN = "security-ops-token-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN=TOKEN, RB_MAX_BODY_BYTES="4096")


def test_ops_token_is_compared_in_constant_time(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple] = []
    real = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert client.get("/ops/overdue", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/ops/overdue", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert (b"wrong-token", TOKEN.encode()) in calls


def test_a_stale_signature_is_refused_and_a_replayed_delivery_changes_nothing(client) -> None:  # type: ignore[no-untyped-def]
    event = unique_event()
    stale = post_event(client, event, ts=int(time.time()) - 301)
    assert stale.status_code == 401
    first = post_event(client, event, msg_id="msg_replayed")
    again = post_event(client, event, msg_id="msg_replayed")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json["event_id"] == first.json["event_id"] and again.json["duplicate"] is True


def test_bodies_over_the_limit_get_413_on_every_route(client) -> None:  # type: ignore[no-untyped-def]
    big = json.dumps({**unique_event(), "padding": "x" * 5000}).encode()
    assert client.post("/webhooks/generic", data=big, headers=sign_generic(big)).status_code == 413
    response = client.post(
        "/ops/dead-letters/cases/replay", data=big, headers={"Authorization": f"Bearer {TOKEN}",
                                                             "Content-Type": "application/json"}
    )  # fmt: skip
    assert response.status_code == 413
    assert response.json["error"]["code"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""])
def test_webhooks_take_json_only(client, content_type: str) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(unique_event()).encode()
    headers = {**sign_generic(body), "Content-Type": content_type}
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 415


def test_log_lines_lose_names_addresses_phones_emails_and_secrets() -> None:
    secret = "whsec_c2VjcmV0LWtleS0wMTIzNDU2Nzg5"
    line = (
        '{"name": "Anna Schmidt", "line1": "Invalidenstr. 10", "phone": "+49 30 1234567", '
        '"email": "anna@example.com", "city": "Berlin", "country": "DE"} '
        f"secret={secret} Authorization: Bearer tok-abcdef123 amqp://guest:hunter22@127.0.0.1:5672// "
        "case case_0123abcd at 2026-11-10T09:30:00+01:00 order ORD-DE-1001 amount 49.90"
    )
    clean = redact(line)
    for leaked in ("Anna", "Invalidenstr", "1234567", "anna@example.com", secret, "tok-abcdef123", "hunter22"):
        assert leaked not in clean
    for kept in ("Berlin", "DE", "case_0123abcd", "2026-11-10T09:30:00+01:00", "ORD-DE-1001", "49.90"):
        assert kept in clean


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(secrets_of({"RB_OPS_TOKEN": TOKEN, "RB_DHL_EXPRESS_API_SECRET": "dhl-s3cret"})))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("buyer %s wrote from %s with token %s", "anna@example.com", "+86 138 0013 8000", TOKEN)
        try:
            raise ValueError("DHL said no for dhl-s3cret and li.wei@example.cn")
        except ValueError:
            logger.exception("booking failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "anna@example.com" not in text and "138 0013" not in text and TOKEN not in text
    assert "dhl-s3cret" not in text and "li.wei@example.cn" not in text
    assert text.count(REDACTED) >= 5 and "ValueError" in text


def _closed_case(container, case_id: str, state: str, updated: datetime) -> None:  # type: ignore[no-untyped-def]
    event = load_event(unique_event(n=case_id))
    case = open_case(case_id, "generic", event, updated)
    case.state = state
    with container.uow() as uow:
        uow.cases.add(case, updated)
        uow.commit()


def test_personal_data_of_cases_closed_past_retention_is_purged_and_cases_still_load(client, container) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    _closed_case(container, "case_old_closed", "cancelled", now - timedelta(days=100))
    _closed_case(container, "case_new_closed", "cancelled", now - timedelta(days=10))
    _closed_case(container, "case_old_open", "requested", now - timedelta(days=100))
    accepted = post_event(client, unique_event(n="webhook"))
    assert accepted.status_code == 202
    with container.uow() as uow:  # a notice e-mailed to the buyer of the old closed case
        then = now - timedelta(days=100)
        sent = recorded("ntc_old", "case_old_closed", "notice", "email",
                        "case_old_closed:notice:request_received:email", "done", then)  # fmt: skip
        uow.effects.add(sent)
        uow.notice_deliveries.add(
            NoticeDelivery("ntc_old", "case_old_closed", "request_received", "email", then, sent, "anna@example.com",
                           "de-DE", {"headers": {"To": "anna@example.com"}})
        )  # fmt: skip
        uow.commit()
    purge = PiiPurge(PurgeStore(container.session_factory), 90, lambda: now)
    result = purge.run_once()
    assert (result.cases, result.payloads) == (1, 0)
    with container.uow() as uow:
        old = uow.cases.get("case_old_closed")
        assert old.order.ship_to.name is None and old.order.ship_to.email is None and old.order.ship_to.phone is None
        assert old.order.ship_to.country == "DE" and old.order.buyer.email is None
        assert old.facts["pii_purged_at"]
        delivery = uow.notice_deliveries.by_key("case_old_closed:notice:request_received:email")
        assert delivery.recipient is None and "anna@example.com" not in str(delivery.message)
        assert uow.cases.get("case_new_closed").order.ship_to.name == "Anna Schmidt"
        assert uow.cases.get("case_old_open").order.ship_to.name == "Anna Schmidt"
    assert purge.run_once() == type(result)(0, 0, 0), "a second round finds nothing left to purge"
    later = PiiPurge(PurgeStore(container.session_factory), 90, lambda: now + timedelta(days=91)).run_once()
    assert (later.cases, later.payloads) == (1, 1)  # the newer closed case and the webhook's payload


@pytest.mark.parametrize(
    "line",
    [
        '203.0.113.7 - - [29/Nov/2026:23:19:42 +0000] "GET /healthz HTTP/1.1" 200 16 "-" "curl/8"',
        '10.1.22.133 - - [29/Nov/2026 23:52:32] "GET /returns HTTP/1.1" 401 -',
        # gunicorn's status and size: "401 5543" looked like a phone number and both were erased
        '127.0.0.1 - - [30/Nov/2026:01:03:06 +0000] "GET /ops HTTP/1.1" 401 5543 "-" "curl/7.88.1"',
        '127.0.0.1 - - [30/Nov/2026:01:03:06 +0000] "POST /webhooks/generic HTTP/1.0" 202 12345 "-" "x"',
    ],
)
def test_access_log_lines_keep_the_client_address_and_time(line: str) -> None:
    assert redact(line) == line


def test_credentials_in_a_query_string_are_redacted_in_logs() -> None:
    line = '127.0.0.1 "GET /ops?token=s3cr3t-value&x=1 HTTP/1.1" /rest/x?app_key=1&access_token=lz-tok&sign=AB12'
    clean = redact(line)
    assert "s3cr3t-value" not in clean and "lz-tok" not in clean and "AB12" not in clean
    assert clean.startswith("127.0.0.1 ") and "x=1" in clean
