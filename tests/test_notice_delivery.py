"""Delivering notices: email over SMTP and a signed provider webhook, each notice once per channel.

Against a local SMTP server and a local HTTP server (tests/local_servers.py); the handlers
are called as the queue consumer calls them, so a raised error stands for a retry.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage

import pytest
from standardwebhooks.webhooks import Webhook

from adapters.notifiers.base import Outgoing, TransientNotifyError
from adapters.notifiers.local_formats import buyer_zone
from adapters.notifiers.negotiation import negotiate
from adapters.notifiers.render import render
from adapters.notifiers.smtp import build_email, message_id
from adapters.notifiers.webhook import build_request
from core.cases import Command, ReturnCase, open_case
from core.events import Buyer, Item, Order, ReturnEvent, ReturnRequest
from core.notices import NoticeDelivery, delivery_key
from queues.consumer import IncomingMessage
from service.bootstrap import Container
from service.intake import command_body, command_message_id
from tests.conftest import make_settings, operator_client
from tests.local_servers import ProviderServer, SmtpServer
from tests.notice_contexts import FULL_CONTEXTS

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"provider-key-0123456789abcdef012").decode()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    server = ProviderServer()
    yield server
    server.close()


def delivering(tmp_path, smtp: SmtpServer | None = None, provider: ProviderServer | None = None) -> Container:
    env = {"RB_DATABASE_URL": f"sqlite:///{tmp_path}/rb.db"}
    if smtp:
        env |= {
            "RB_SMTP_HOST": "127.0.0.1",
            "RB_SMTP_PORT": str(smtp.port),
            "RB_SMTP_FROM": "Returnbridge <returns@shop.example>",
            "RB_SMTP_STARTTLS": "false",
        }
    if provider:
        env |= {"RB_NOTIFY_WEBHOOK_URL": provider.url, "RB_NOTIFY_WEBHOOK_SECRET": SECRET}
    return Container(make_settings(**env))


def requested(buyer: Buyer) -> ReturnEvent:
    return ReturnEvent(
        type="return.requested",
        marketplace_event_id="evt-1",
        occurred_at=NOW,
        order=Order(id="ORD-1001", currency="EUR", buyer=buyer),
        return_=ReturnRequest(id="RET-77", carrier="dhl_express", resolution="refund", reason="size_or_fit"),
        items=(Item(sku="SKU-1", quantity=1, unit_price=Decimal("49.90")),),
    )


TAIPEI_BUYER = Buyer(locale="zh-TW", timezone="Asia/Taipei", email="buyer@example.tw", phone="+886912345678")


def stored_case(container: Container, buyer: Buyer = TAIPEI_BUYER) -> tuple[ReturnCase, list[Command]]:
    event = requested(buyer)
    case = open_case("case_1", "generic", event, NOW)
    commands = case.apply(event, "evt_1", NOW)
    with container.uow() as uow:
        uow.cases.add(case, NOW)
        uow.commit()
    return case, commands


def notice_command(commands: list[Command]) -> Command:
    """The one command a notice emits: `notify.buyer.send`, with its channels."""
    [command] = [c for c in commands if c.kind == "notify"]
    return command


def command_for(commands: list[Command], channel: str) -> Command:
    """The notice's command as the previous version sent it, one per channel (`notify.<channel>.send`, keyed
    per channel): such messages still in the queues are delivered by the same consumer under the same keys."""
    kind = notice_command(commands).payload["notice"]
    return Command("notify", channel, "send", delivery_key("case_1", kind, channel), {"notice": kind})


def deliver(container: Container, command: Command, copy: int = 0) -> None:
    """Hand the command to its consumer as the broker would; `copy` > 0 is a redelivered duplicate."""
    message = IncomingMessage(
        message_id=command_message_id(command.idempotency_key) + ("" if not copy else f"-dup{copy}"),
        body=command_body(command, "case_1"),
        routing_key=command.routing_key,
    )
    container.handlers[f"notify.{command.adapter}"](message)


def delivery(container: Container, key: str) -> NoticeDelivery:
    with container.uow() as uow:
        return uow.notice_deliveries.by_key(key)


def timeline_names(container: Container) -> list[str]:
    with container.uow() as uow:
        return [t.name for t in uow.cases.get("case_1").timeline]


def test_a_request_asks_for_one_delivery_of_the_notice_on_every_channel(tmp_path):
    container = delivering(tmp_path)
    _, commands = stored_case(container)
    assert [(c.routing_key, c.idempotency_key, c.payload) for c in commands] == [
        ("notify.buyer.send", "case_1:notice:request_received",
         {"notice": "request_received", "channels": ["email", "webhook"]}),
    ]  # fmt: skip
    container.close()


def test_one_command_delivers_the_notice_on_both_channels_once(tmp_path, smtp, provider):
    container = delivering(tmp_path, smtp=smtp, provider=provider)
    _, commands = stored_case(container)
    command = notice_command(commands)
    deliver(container, command)
    deliver(container, command, copy=1)  # a duplicate sends nothing more
    assert len(smtp.mailbox.messages) == 1 and len(provider.requests) == 1
    email = delivery(container, "case_1:notice:request_received:email")
    webhook = delivery(container, "case_1:notice:request_received:webhook")
    assert (email.status, email.recipient, webhook.status, webhook.recipient) == (
        "sent", "buyer@example.tw", "sent", "+886912345678")  # fmt: skip
    assert provider.requests[0].headers["webhook-id"] == "case_1:notice:request_received:webhook"
    assert email.message["headers"]["Subject"] == smtp.mailbox.messages[0][2]["Subject"]
    with container.uow() as uow:
        assert uow.processed.seen("notify.buyer", command_message_id(command.idempotency_key))
    container.close()


def test_a_channel_failing_for_now_is_retried_without_resending_the_other(tmp_path, smtp, provider):
    container = delivering(tmp_path, smtp=smtp, provider=provider)
    _, commands = stored_case(container)
    command = notice_command(commands)
    provider.answers = [503]

    with pytest.raises(TransientNotifyError):
        deliver(container, command)
    assert delivery(container, "case_1:notice:request_received:email").status == "sent"
    assert delivery(container, "case_1:notice:request_received:webhook").status == "retrying"

    deliver(container, command)  # the retry from the delay queue
    deliver(container, command, copy=1)
    assert len(smtp.mailbox.messages) == 1  # the email went out once
    assert len(provider.requests) == 2 and len(provider.accepted()) == 1
    webhook = delivery(container, "case_1:notice:request_received:webhook")
    assert (webhook.status, webhook.attempts) == ("sent", 2)
    container.close()


def test_a_command_of_the_previous_version_still_delivers_its_channel_once(tmp_path, smtp, provider):
    container = delivering(tmp_path, smtp=smtp, provider=provider)
    _, commands = stored_case(container)
    old_email = command_for(commands, "email")
    deliver(container, old_email)  # still in the notify.email queue when the new version started
    deliver(container, notice_command(commands))  # the same notice's new command: the email is not sent again
    deliver(container, command_for(commands, "webhook"))  # and an old webhook command finds it sent
    assert len(smtp.mailbox.messages) == 1 and len(provider.requests) == 1
    assert delivery(container, old_email.idempotency_key).status == "sent"
    assert delivery(container, "case_1:notice:request_received:webhook").status == "sent"
    container.close()


def test_an_email_refused_for_now_is_retried_and_sent_exactly_once(tmp_path, smtp):
    container = delivering(tmp_path, smtp=smtp)
    _, commands = stored_case(container)
    email = command_for(commands, "email")
    smtp.mailbox.refuse_next_data = 1

    with pytest.raises(TransientNotifyError):
        deliver(container, email)
    assert smtp.mailbox.messages == []
    assert delivery(container, email.idempotency_key).status == "retrying"

    deliver(container, email)  # the retry, back from the schedule
    deliver(container, email, copy=1)  # and a duplicate of the command, later
    assert len(smtp.mailbox.messages) == 1
    row = delivery(container, email.idempotency_key)
    assert (row.status, row.attempts, row.recipient) == ("sent", 2, "buyer@example.tw")
    assert row.response["smtp_code"] == 250
    container.close()


def test_the_email_is_in_the_buyers_language_with_text_and_html_parts(tmp_path, smtp):
    container = delivering(tmp_path, smtp=smtp)
    _, commands = stored_case(container)
    deliver(container, command_for(commands, "email"))
    [(sender, recipients, mail)] = smtp.mailbox.messages
    assert (sender, recipients) == ("returns@shop.example", ["buyer@example.tw"])
    assert mail["Subject"] == "我們已收到您對訂單ORD-1001的退貨申請"
    assert mail["Content-Language"] == "zh-Hant-TW"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"] == message_id("case_1:notice:request_received:email", "returns@shop.example")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "2026年11月20日" in text and "€49.90" in text
    assert '<html lang="zh-Hant-TW" dir="ltr">' in html
    container.close()


def test_a_provider_outage_is_retried_and_the_buyer_gets_one_message(tmp_path, provider):
    container = delivering(tmp_path, provider=provider)
    _, commands = stored_case(container)
    webhook = command_for(commands, "webhook")
    provider.answers = [503]

    with pytest.raises(TransientNotifyError):
        deliver(container, webhook)
    deliver(container, webhook)
    deliver(container, webhook, copy=1)

    assert [r.status for r in provider.requests] == [503, 200]
    [accepted] = provider.accepted()
    assert {r.headers["webhook-id"] for r in provider.requests} == {webhook.idempotency_key}
    payload = Webhook(SECRET).verify(accepted.body, accepted.headers)
    assert payload["type"] == "notice.request_received"
    assert payload["data"]["to"] == "+886912345678"
    assert payload["data"]["locale"] == "zh-Hant-TW"
    assert payload["data"]["subject"] == "我們已收到您對訂單ORD-1001的退貨申請"
    assert delivery(container, webhook.idempotency_key).status == "sent"
    container.close()


def test_a_provider_refusal_fails_the_delivery_and_flags_the_case(tmp_path, provider):
    container = delivering(tmp_path, provider=provider)
    _, commands = stored_case(container)
    webhook = command_for(commands, "webhook")
    provider.answers = [422]
    deliver(container, webhook)
    deliver(container, webhook, copy=1)
    assert len(provider.requests) == 1
    assert delivery(container, webhook.idempotency_key).status == "failed"
    with container.uow() as uow:
        assert uow.cases.get("case_1").needs_attention
    container.close()


def test_a_connection_lost_after_the_data_is_not_resent_but_flagged(tmp_path, smtp):
    """The message may exist: a second one would be worse than asking a person to check."""
    container = delivering(tmp_path, smtp=smtp)
    _, commands = stored_case(container)
    email = command_for(commands, "email")
    smtp.mailbox.drop_after_data = 1
    deliver(container, email)
    deliver(container, email, copy=1)
    row = delivery(container, email.idempotency_key)
    assert row.status == "unknown" and row.attempts == 1
    assert "notice_unknown" in timeline_names(container)
    container.close()


def test_without_settings_the_notice_is_recorded_and_shown_not_sent(tmp_path, smtp, provider):
    container = delivering(tmp_path)
    _, commands = stored_case(container)
    for channel in ("email", "webhook"):
        deliver(container, command_for(commands, channel))
    email = delivery(container, "case_1:notice:request_received:email")
    assert email.status == "not_sent"
    assert email.message["headers"]["Subject"] == "我們已收到您對訂單ORD-1001的退貨申請"
    assert delivery(container, "case_1:notice:request_received:webhook").status == "not_sent"
    assert smtp.mailbox.messages == [] and provider.requests == []
    assert "not sent" in email.error

    from wsgi import create_app

    shown = operator_client(create_app(container.settings, container)).get("/returns/case_1").get_json()
    assert {(d["channel"], d["status"], d["sent"]) for d in shown["notice_deliveries"]} == {
        ("email", "not_sent", False),
        ("webhook", "not_sent", False),
    }
    container.close()


def test_a_buyer_without_an_address_is_recorded_not_sent(tmp_path, smtp):
    container = delivering(tmp_path, smtp=smtp)
    _, commands = stored_case(container, Buyer(locale="ja-JP"))
    deliver(container, command_for(commands, "email"))
    assert delivery(container, "case_1:notice:request_received:email").status == "no_recipient"
    assert smtp.mailbox.messages == []
    container.close()


def outgoing(kind: str, tag: str, zone: str, recipient: str = "buyer@example.com") -> Outgoing:
    notice = render(kind, FULL_CONTEXTS[kind], negotiate([tag]), buyer_zone(zone), NOW)
    return Outgoing("case_9", kind, "email", f"case_9:notice:{kind}:email", recipient, notice)


def test_an_arabic_email_is_right_to_left_and_says_so():
    mail: EmailMessage = build_email(outgoing("refund_paid", "ar-SA", "Asia/Riyadh"), "returns@shop.example")
    html = mail.get_body(("html",)).get_content()
    assert mail["Content-Language"] == "ar-SA"
    assert '<html lang="ar-SA" dir="rtl">' in html
    assert "تم إصدار استرداد بقيمة" in mail["Subject"]


def test_the_same_notice_always_gets_the_same_message_id_and_another_notice_another():
    first = build_email(outgoing("refund_paid", "de", "Europe/Berlin"), "returns@shop.example")
    again = build_email(outgoing("refund_paid", "de", "Europe/Berlin"), "returns@shop.example")
    other = build_email(outgoing("return_received", "de", "Europe/Berlin"), "returns@shop.example")
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@shop.example>")


def test_the_provider_request_is_signed_over_the_exact_body_it_carries():
    notice = outgoing("exchange_shipped", "ja-JP", "Asia/Tokyo", recipient="+81901234567")
    request = build_request(notice, "http://127.0.0.1:1/notify", SECRET, datetime.now(UTC))
    payload = Webhook(SECRET).verify(request.content, request.headers)
    assert payload["data"]["text"].startswith("ご注文ORD-1001の交換品を")
    assert request.headers["webhook-id"] == "case_9:notice:exchange_shipped:email"
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(request.content.replace("ORD-1001", "ORD-9999"), request.headers)


LIFECYCLE_NOTICES = [
    "request_received",
    "return_approved",
    "return_shipped",
    "return_received",
    "inspection_result",
    "refund_paid",
]


def lifecycle_events() -> list[dict]:
    """One return driven from request to refund, as the marketplace reports it."""
    from tests.conftest import example

    steps = [
        ("return.requested", {}),
        ("return.approved", {}),
        ("return.shipped", {}),
        ("return.received", {}),
        ("return.inspected", {"inspection": {"passed": True}}),
        ("refund.completed", {}),
    ]
    events = []
    for n, (kind, extra) in enumerate(steps):
        event = example()
        event["type"] = kind
        event["marketplace_event_id"] = f"evt-lifecycle-{n}"
        event["occurred_at"] = f"2026-11-{20 + n}T09:00:00Z"
        event["return"] = {**event["return"], **extra}
        if kind == "return.shipped":
            event["tracking"] = {"carrier": "dhl_express", "number": "JD014600003456789012"}
        events.append(event)
    return events


def test_a_case_driven_through_its_lifecycle_sends_one_email_and_one_provider_call_per_notice(tmp_path, smtp, provider):
    from queues.worker import Worker
    from tests.conftest import post_event, wait_for
    from wsgi import create_app

    container = delivering(tmp_path, smtp=smtp, provider=provider)
    client = operator_client(create_app(container.settings, container))
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    provider.answers = [503]  # the provider's first answer is an outage: retried, not doubled
    try:
        events = lifecycle_events()
        case_id = post_event(client, events[0]).json["case_id"]
        for event in events[1:]:
            assert post_event(client, event).status_code == 202
        post_event(client, events[1])  # a marketplace resending the approval changes nothing

        def all_sent():
            case = client.get(f"/returns/{case_id}").get_json()
            done = [d for d in case["notice_deliveries"] if d["status"] == "sent"]
            return case if len(done) == 2 * len(LIFECYCLE_NOTICES) else None

        case = wait_for(all_sent, timeout=30)
        assert case, client.get(f"/returns/{case_id}").get_json()["notice_deliveries"]
    finally:
        worker.stop()
        container.close()

    assert [n["kind"] for n in case["notices"]] == LIFECYCLE_NOTICES
    subjects = [mail["Subject"] for _, _, mail in smtp.mailbox.messages]
    assert len(subjects) == len(set(subjects)) == len(LIFECYCLE_NOTICES)
    assert {mail["Content-Language"] for _, _, mail in smtp.mailbox.messages} == {"de-DE"}
    accepted = [Webhook(SECRET).verify(r.body, r.headers)["type"] for r in provider.accepted()]
    assert sorted(accepted) == sorted(f"notice.{kind}" for kind in LIFECYCLE_NOTICES)
    assert len(provider.requests) == len(LIFECYCLE_NOTICES) + 1  # the one outage, then one call each
    assert "Ihre Erstattung über 49,90\xa0€ wurde veranlasst" in subjects
    on_its_way = next(m for _, _, m in smtp.mailbox.messages if "auf dem Weg" in m["Subject"])
    assert "Sendungsnummer: JD014600003456789012" in on_its_way.get_body(("plain",)).get_content()
