"""The buyer's page in headless Chromium (Debian's `chromium`, driven by Playwright, as the dashboard test).

Each buyer's browser asks for their own language (Accept-Language from the browser context); the page
is served for real over HTTP on 127.0.0.1 with the embedded broker, cases moved by canonical events
through the intake. Screenshots at a phone's width go to test-artifacts/.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from werkzeug.serving import make_server

from adapters.marketplaces.base import ParsedDelivery
from adapters.notifiers import page_texts as T
from adapters.notifiers.catalogs import translations_for
from adapters.notifiers.negotiation import negotiate
from adapters.storage.models import NoticeDeliveryRow, ReceivedEventRow, TrackingScanRow
from core.effects import recorded
from core.shipments import Shipment
from queues.worker import Worker
from service.bootstrap import Container
from tests.browser import ARTIFACTS, CHROMIUM, FLAGS, need_chromium
from tests.conftest import make_settings, unique_event, wait_for

PHONE = {"width": 390, "height": 844}
KEY = "browser-test-key-0123456789abcdef0123456789"


class PublishedRate:
    """A published reference rate (ECB style: one rate per currency pair, dated the previous working day)."""

    RATES: ClassVar[dict[tuple[str, str], Decimal]] = {("EUR", "PLN"): Decimal("4.2365"), ("EUR", "USD"): Decimal("1.0418"), ("EUR", "CNY"): Decimal("7.5512"),
             ("EUR", "JPY"): Decimal("161.27"), ("EUR", "SAR"): Decimal("3.9068")}  # fmt: skip

    def rate(self, base: str, quote: str, on: date) -> tuple[Decimal, date, str]:
        published = on - timedelta(days=1)
        while published.weekday() >= 5:
            published -= timedelta(days=1)
        if base == quote:
            return Decimal(1), published, "ecb"
        return self.RATES[(base, quote)], published, "ecb"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Container]]:
    need_chromium()
    settings = make_settings(
        RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db",
        RB_BUYER_LINK_KEYS=KEY,
        RB_RETURNS_ADDRESS_NAME="Returnbridge Returns",
        RB_RETURNS_ADDRESS_LINE1="Lagerstraße 5",
        RB_RETURNS_ADDRESS_CITY="Leipzig",
        RB_RETURNS_ADDRESS_POSTAL_CODE="04103",
        RB_RETURNS_ADDRESS_COUNTRY="DE",
    )
    from wsgi import create_app

    container = Container(settings, rates=PublishedRate())
    app = create_app(settings, container)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(20)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", container
    server.shutdown()
    worker.stop()
    container.close()


# Buyer locale -> (country shipped to, time zone, display currency)
BUYERS = {
    "de-DE": ("DE", "Europe/Berlin", None),
    "fr-FR": ("FR", "Europe/Paris", "USD"),
    "pl-PL": ("PL", "Europe/Warsaw", "PLN"),
    "ar-SA": ("SA", "Asia/Riyadh", "SAR"),
    "zh-Hans-CN": ("CN", "Asia/Shanghai", "CNY"),
    "ja-JP": ("JP", "Asia/Tokyo", "JPY"),
}


def _event(kind: str, n: str, locale: str, days_ago: float, **extra) -> dict:  # type: ignore[no-untyped-def]
    country, zone, display = BUYERS[locale]
    now = datetime.now(UTC)
    event = unique_event(kind, n=n, occurred_at=now.isoformat(), **extra)
    event["marketplace_event_id"] = f"{kind}-{n}"
    event["order"]["delivered_at"] = (now - timedelta(days=days_ago)).isoformat()
    event["order"]["ship_to"] = {**event["order"]["ship_to"], "country": country}
    event["order"]["buyer"] = {"locale": locale, "timezone": zone, "email": f"buyer-{n}@example.com"}
    if display:
        event["order"]["buyer"]["display_currency"] = display
    event["return"]["pickup"] = False
    return event


def _accept(container: Container, event: dict) -> str:
    return container.intake.accept("generic", ParsedDelivery(delivery_id=None, events=[event]))[0].case_id


def _words(locale: str):  # type: ignore[no-untyped-def]
    return translations_for(negotiate([locale]).catalogs).gettext


def _returning(container: Container, locale: str) -> tuple[str, str]:
    """A return approved, its label issued by the carrier and scanned once: (case id, page path)."""
    n = "p" + locale.split("-")[0]
    case_id = _accept(container, _event("return.requested", n, locale, days_ago=4))
    _accept(container, _event("return.approved", n, locale, days_ago=4))
    assert wait_for(lambda: _state(container, case_id) == "approved", timeout=15)
    now = datetime.now(UTC)
    with container.uow() as uow:
        booked = recorded(f"shp_{n}", case_id, "carrier_booking", "dhl_express", f"k-{n}", "done", now, {})
        uow.effects.add(booked)
        uow.shipments.add(
            Shipment(f"shp_{n}", case_id, "dhl_express", "return_label", now, booked, f"JD0146{n.upper()}",
                     base64.b64encode(b"%PDF-1.4 label").decode())
        )  # fmt: skip
        uow.session.add(
            TrackingScanRow(
                scan_key=f"scan-{n}", case_id=case_id, carrier="dhl_express", tracking_number=f"JD0146{n.upper()}",
                code="PU", status="shipped_back", occurred_at=now - timedelta(hours=2), description="Shipment picked up",
                location="Berlin", received_via="push", received_at=now,
            )
        )  # fmt: skip
        case = uow.cases.get(case_id)
        uow.commit()
    return case_id, container.buyer_links.path(case_id, case.created_at)


def _state(container: Container, case_id: str) -> str | None:
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        return case.state if case else None


@pytest.mark.parametrize("locale", list(BUYERS))
def test_the_buyer_reads_their_return_in_their_language_on_a_phone(served, locale: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, container = served
    case_id, path = _returning(container, locale)
    _ = _words(locale)
    ARTIFACTS.mkdir(exist_ok=True)
    tag = locale.rsplit("-", 1)[0] if locale.count("-") == 2 else locale.split("-")[0]
    screenshot = ARTIFACTS / f"buyer-page-{tag}.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            context = browser.new_context(locale=locale, viewport=PHONE, java_script_enabled=False)
            page = context.new_page()
            response = page.goto(base + path)
            assert response is not None and response.status == 200
            html = page.locator("html")
            assert html.get_attribute("lang") == negotiate([locale]).tag
            assert html.get_attribute("dir") == ("rtl" if locale.startswith("ar") else "ltr")
            assert page.get_by_role("heading", level=1).inner_text().count("ORD-p") == 1
            for heading in (T.PROGRESS, T.NEXT, T.SENDING, T.TRACKING, T.REFUND, T.MESSAGES):
                assert page.get_by_role("heading", name=_(heading), exact=True).count() == 1, heading
            step = page.locator("li[aria-current=step]")
            assert step.inner_text().startswith(_(T.STEPS["shipped"]))
            label = page.get_by_role("link", name=_(T.LABEL))
            assert label.get_attribute("href") == f"{path}/label"
            assert f"JD0146P{tag.split('-')[0].upper()}" in page.inner_text("#content")
            refund = page.locator("section[aria-labelledby=refund]").inner_text()
            if BUYERS[locale][2]:
                assert BUYERS[locale][2] in refund  # the display currency with its rate and date
            text = page.inner_text("body")
            assert case_id not in text and "dhl_express" not in text and "shp_" not in text
            family = page.evaluate("getComputedStyle(document.documentElement).fontFamily")
            if locale.startswith(("zh", "ja")):
                assert "Noto Sans CJK" in family
            width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert width[0] <= width[1], "the page scrolls sideways on a phone"
            page.screenshot(path=str(screenshot), full_page=True)
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.className") == "skip"  # the first stop skips to content
            print(f"\n[buyer page {locale}] screenshot: {screenshot}")
        finally:
            browser.close()


@pytest.mark.parametrize("locale", ["de-DE", "fr-FR", "pl-PL"])
def test_the_withdrawal_function_walks_to_its_acknowledgement(served, locale: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    base, container = served
    _ = _words(locale)
    n = "w" + locale.split("-")[0]
    case_id = _accept(container, _event("order.delivered", n, locale, days_ago=3))
    assert wait_for(lambda: _state(container, case_id) == "new", timeout=15)
    with container.uow() as uow:
        path = container.buyer_links.path(case_id, uow.cases.get(case_id).created_at)
    tag = locale.split("-")[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_context(locale=locale, viewport=PHONE, java_script_enabled=False).new_page()
            assert page.goto(base + path).status == 200
            form = page.locator("section#withdrawal")
            email = page.get_by_label(_(T.EMAIL))
            assert email.input_value() == f"buyer-{n}@example.com"  # prefilled
            page.get_by_label(_(T.NAME)).fill("Zoë Nowak-Łęcka")
            email.fill(f"new-{n}@example.com")  # editable
            assert form.get_by_role("checkbox").count() == 1 and form.get_by_role("checkbox").is_checked()
            form.screenshot(path=str(ARTIFACTS / f"withdrawal-form-{tag}.png"))  # the function, as first seen
            page.get_by_role("button", name=_(T.WITHDRAW_HERE)).click()
            assert page.get_by_role("heading", name=_(T.CHECK)).count() == 1
            statement = page.locator(".statement").inner_text()
            assert "Zoë Nowak-Łęcka" in statement and "Wool scarf" in statement
            before = datetime.now(UTC)
            page.get_by_role("button", name=_(T.CONFIRM)).dblclick()  # a double click is one withdrawal
            page.wait_for_selector(".receipt")
            receipt = page.locator(".receipt")
            assert _(T.RECEIVED) in receipt.inner_text()
            received_at = datetime.fromisoformat(
                receipt.locator("[data-received-at]").get_attribute("data-received-at")
            )
            assert before - timedelta(seconds=5) <= received_at <= datetime.now(UTC)
            assert f"new-{n}@example.com" in receipt.inner_text()
            assert page.get_by_role("button", name=_(T.WITHDRAW_HERE)).count() == 0
            page.screenshot(path=str(ARTIFACTS / f"withdrawal-{tag}.png"), full_page=True)
        finally:
            browser.close()
    with container.uow() as uow:
        rows = uow.session.query(ReceivedEventRow).filter_by(case_id=case_id, type="return.requested").all()
        assert len(rows) == 1 and rows[0].payload["return"]["reason"] == "changed_mind"

    def acknowledgement() -> dict | None:
        with container.uow() as uow:
            row = (
                uow.session.query(NoticeDeliveryRow)
                .filter_by(case_id=case_id, kind="withdrawal_confirmation", channel="email")
                .one_or_none()
            )
            return {"recipient": row.recipient, "locale": row.locale, "message": row.message} if row else None

    mail = wait_for(acknowledgement, timeout=15)
    assert mail is not None and mail["recipient"] == f"new-{n}@example.com" and mail["locale"].startswith(tag)
    body = mail["message"]["text"]
    assert "Zoë Nowak-Łęcka" in body and "Wool scarf" in body  # the statement's content
    local = received_at.astimezone(__import__("zoneinfo").ZoneInfo(BUYERS[locale][1]))
    assert f"{local:%H:%M}" in body and str(local.year) in body  # the date and time of receipt
    assert path in body  # and the page's link
