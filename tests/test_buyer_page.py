"""The buyer's page: signed links, an order's page from `order.delivered`, the page's content, and the
EU withdrawal function (Directive 2011/83 art. 11a) through the webhooks' own intake."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from service.buyer_links import BuyerLinks
from tests.conftest import make_settings, post_event, unique_event, wait_for

KEY_OLD = "old-key-0123456789abcdef0123456789abcdef"
KEY_NEW = "new-key-0123456789abcdef0123456789abcdef"


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return make_settings(
        RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db",
        RB_BUYER_LINK_KEYS=f"{KEY_NEW},{KEY_OLD}",
        RB_PUBLIC_URL="https://returns.example.com",
    )


def delivered(n: str, days_ago: float = 3, country: str = "DE", locale: str = "de-DE", **order) -> dict:  # type: ignore[no-untyped-def]
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    event = unique_event("order.delivered", n=n, occurred_at=at)
    event["order"]["delivered_at"] = at
    event["order"]["ship_to"] = {**event["order"]["ship_to"], "country": country}
    event["order"]["buyer"] = {**event["order"]["buyer"], "locale": locale}
    event["order"].update(order)
    event["items"].append({**event["items"][0], "sku": "HAT-BLUE", "title": "Wool hat", "unit_price": "19.90"})
    return event


def case_json(client, case_id: str) -> dict:  # type: ignore[no-untyped-def]
    return client.get(f"/returns/{case_id}").get_json()


def page_path(client, case_id: str) -> str:  # type: ignore[no-untyped-def]
    url = case_json(client, case_id)["buyer_url"]
    assert url.startswith("https://returns.example.com/r/")
    return url.removeprefix("https://returns.example.com")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- links ---------------------------------------------------------------------------------------


def test_a_link_names_one_case_until_it_expires_and_survives_a_key_rotation() -> None:
    opened = datetime(2026, 11, 1, tzinfo=UTC)
    old = BuyerLinks((KEY_OLD,), days=30)
    token = old.token("case_1", opened)
    rotated = BuyerLinks((KEY_NEW, KEY_OLD), days=30)
    assert rotated.case_id(token, opened + timedelta(days=29)) == "case_1"  # signed by the old key: still good
    assert rotated.token("case_1", opened) != token  # new links are signed by the newest key
    assert old.case_id(rotated.token("case_1", opened), opened) is None  # which the old set does not know
    assert rotated.case_id(token, opened + timedelta(days=30, seconds=1)) is None  # expired
    assert BuyerLinks((KEY_NEW,), days=30).case_id(token, opened) is None  # the old key dropped
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert rotated.case_id(forged, opened) is None


def test_short_keys_are_refused_at_start() -> None:
    from config.settings import SettingsError

    with pytest.raises(SettingsError, match="RB_BUYER_LINK_KEYS"):
        make_settings(RB_BUYER_LINK_KEYS="short")


def test_a_bad_or_expired_token_is_the_same_404_in_the_buyers_language(client) -> None:  # type: ignore[no-untyped-def]
    expired = BuyerLinks((KEY_NEW,), days=1).token("case_x", datetime(2020, 1, 1, tzinfo=UTC))
    answers = [client.get(f"/r/{token}", headers={"Accept-Language": "fr-FR"}) for token in ("nonsense", expired)]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.headers["Content-Language"] == "fr-FR"
        assert "Page introuvable" in answer.text
    assert answers[0].text == answers[1].text  # nothing tells a forged link from an expired one
    assert "case_x" not in answers[1].text


# --- order pages ---------------------------------------------------------------------------------


def test_order_delivered_opens_a_page_and_the_later_return_joins_it(client, running) -> None:  # type: ignore[no-untyped-def]
    order = delivered("join")
    accepted = post_event(client, order)
    assert accepted.status_code == 202
    case_id = accepted.json["case_id"]
    assert wait_for(
        lambda: any(e["name"] == "order.delivered" for e in case_json(client, case_id)["timeline"]), timeout=20
    )
    case = case_json(client, case_id)
    assert case["state"] == "new" and not case["needs_attention"]
    again = post_event(client, {**order, "marketplace_event_id": order["marketplace_event_id"] + "-resent"})
    assert again.json["case_id"] == case_id  # the order's next report finds its page
    request = unique_event(n="join", occurred_at=datetime.now(UTC).isoformat())
    joined = post_event(client, request)
    assert joined.json["case_id"] == case_id
    assert wait_for(lambda: case_json(client, case_id)["state"] == "requested", timeout=20)
    assert case_json(client, case_id)["return_id"] == "RMA-join"
    approval = unique_event("return.approved", n="join", occurred_at=datetime.now(UTC).isoformat())
    assert post_event(client, approval).json["case_id"] == case_id  # the return's later events find it
    second = unique_event(n="join", occurred_at=datetime.now(UTC).isoformat(), **{"return": {"id": "RMA-join-2"}})
    assert post_event(client, second).json["case_id"] != case_id  # a second return is a case of its own


def test_the_page_shows_what_the_buyer_needs_in_their_language_and_nothing_internal(client, running) -> None:  # type: ignore[no-untyped-def]
    case_id = post_event(client, unique_event(n="pg", occurred_at=datetime.now(UTC).isoformat())).json["case_id"]
    assert wait_for(lambda: case_json(client, case_id)["notices"], timeout=20)
    page = client.get(page_path(client, case_id))
    assert page.status_code == 200
    assert page.headers["Content-Language"] == "de-DE"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    text = text_of(page.text)
    assert "Ihre Rücksendung RMA-pg zu Bestellung ORD-pg" in text
    assert "Wir haben Ihre Rücksendeanfrage" in text  # the notice sent, as the buyer read it
    assert case_id not in page.text and "generic" not in text
    assert '<html lang="de-DE" dir="ltr">' in page.text
    arabic = client.get(page_path(client, case_id) + "?locale=ar")
    assert '<html lang="ar" dir="rtl">' in arabic.text


# --- the withdrawal function ---------------------------------------------------------------------


def _form_field(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_withdrawal_in_two_steps_enters_the_intake_once_and_is_acknowledged(client, running, container) -> None:  # type: ignore[no-untyped-def]
    case_id = post_event(client, delivered("wd")).json["case_id"]
    assert wait_for(lambda: case_json(client, case_id)["timeline"], timeout=20)
    path = page_path(client, case_id)
    page = client.get(path)
    assert "Vertrag hier widerrufen" in page.text
    form = {"csrf": _form_field(page.text), "name": "Anna Schmidt", "email": "anna.new@example.com", "line-0": "1"}
    check = client.post(f"{path}/withdraw", data=form)
    assert check.status_code == 200 and "Widerruf bestätigen" in check.text
    assert f'href="{path}?locale=fr"' in check.text  # another language leads back to the page, not the form
    assert "Anna Schmidt" in check.text and "Wool scarf" in check.text and "Wool hat" not in text_of(check.text)
    confirm = {**form, "csrf": _form_field(check.text)}
    first = client.post(f"{path}/withdraw/confirm", data=confirm)
    second = client.post(f"{path}/withdraw/confirm", data=confirm)  # a double click
    assert first.status_code == second.status_code == 303
    with container.uow() as uow:
        from adapters.storage.models import ReceivedEventRow

        rows = uow.session.query(ReceivedEventRow).filter_by(case_id=case_id, type="return.requested").all()
        assert len(rows) == 1
        assert rows[0].payload["return"]["reason"] == "changed_mind"
        assert rows[0].payload["order"]["buyer"]["email"] == "anna.new@example.com"
        assert [i["sku"] for i in rows[0].payload["items"]] == ["SCARF-RED"]

    def emailed() -> list[dict]:
        deliveries = case_json(client, case_id)["notice_deliveries"]
        return [d for d in deliveries if d["notice"] == "withdrawal_confirmation" and d["channel"] == "email"]

    [email] = wait_for(emailed, timeout=20)  # the e-mail, whichever channel's delivery is recorded first
    assert email["recipient"] == "anna.new@example.com"
    assert "Anna Schmidt" in str(email["message"]) and path in str(email["message"])
    after = client.get(path)
    assert "Ihr Widerruf ist eingegangen" in after.text
    assert "Vertrag hier widerrufen" not in after.text


def test_the_withdrawal_form_refuses_a_post_without_its_cookie(client, running) -> None:  # type: ignore[no-untyped-def]
    case_id = post_event(client, delivered("csrf")).json["case_id"]
    assert wait_for(lambda: case_json(client, case_id)["timeline"], timeout=20)
    path = page_path(client, case_id)
    field = _form_field(client.get(path).text)
    client.delete_cookie("rb_buyer_form", path="/r/")
    answer = client.post(
        f"{path}/withdraw/confirm", data={"csrf": field, "name": "X", "email": "x@example.com", "line-0": "1"}
    )
    assert answer.status_code == 400


def test_outside_the_window_the_function_is_absent_and_the_page_says_why(client, running) -> None:  # type: ignore[no-untyped-def]
    case_id = post_event(client, delivered("late", days_ago=40)).json["case_id"]
    assert wait_for(lambda: case_json(client, case_id)["timeline"], timeout=20)
    page = client.get(page_path(client, case_id))
    assert "Vertrag hier widerrufen" not in page.text
    assert "Die Widerrufsfrist für diesen Vertrag endete am" in page.text
    us = post_event(client, delivered("us", country="US", locale="en-US")).json["case_id"]
    assert wait_for(lambda: case_json(client, us)["timeline"], timeout=20)
    page = client.get(page_path(client, us))
    assert "Withdraw from contract here" not in page.text and "gives no statutory right to withdraw" in page.text


def test_a_buyer_link_never_reaches_a_log_line() -> None:
    from service.privacy import redact

    token = BuyerLinks((KEY_NEW,), days=30).token("case_1", datetime(2026, 11, 1, tzinfo=UTC))
    line = redact(f'127.0.0.1 - - "GET /r/{token}/label?locale=de HTTP/1.1" 200 -')
    assert token not in line and "/r/[redacted]/label" in line


def test_a_delivery_reported_after_the_return_joins_its_case_without_flagging_it(client, running) -> None:  # type: ignore[no-untyped-def]
    case_id = post_event(client, unique_event(n="late-delivery", occurred_at=datetime.now(UTC).isoformat())).json[
        "case_id"
    ]
    assert wait_for(lambda: case_json(client, case_id)["state"] == "requested", timeout=20)
    report = post_event(client, delivered("late-delivery"))
    assert report.json["case_id"] == case_id
    assert wait_for(
        lambda: sum(e["name"] == "order.delivered" for e in case_json(client, case_id)["timeline"]), timeout=20
    )
    case = case_json(client, case_id)
    assert case["state"] == "requested" and not case["needs_attention"]


def test_an_order_page_whose_window_closed_still_takes_a_late_return() -> None:
    from core.cases import open_case
    from service.canonical import load_event
    from service.intake import as_order_page

    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    page = as_order_page(load_event(delivered("expired", days_ago=40)))
    case = open_case("case_x", "generic", page, now)
    case.apply(page, "evt-1", now)
    case.apply_internal("timer.return_window_closed", "evt-2", now)
    assert case.state == "expired" and case.awaiting_return
    late = load_event(unique_event(n="expired", occurred_at=now.isoformat(), **{"return": {"reason": "defective"}}))
    case.apply(late, "evt-3", now)
    assert case.state == "requested" and not case.needs_attention
    assert [n.kind for n in case.notices] == ["request_received"]


def test_a_form_without_a_name_is_answered_in_the_buyers_language_and_markup_stays_text(client, running) -> None:  # type: ignore[no-untyped-def]
    case_id = post_event(client, delivered("form")).json["case_id"]
    assert wait_for(lambda: case_json(client, case_id)["timeline"], timeout=20)
    path = page_path(client, case_id)
    field = _form_field(client.get(path).text)
    empty = client.post(f"{path}/withdraw", data={"csrf": field, "name": " ", "email": "nope", "line-0": "1"})
    assert empty.status_code == 400
    assert "Bitte geben Sie Ihren Namen ein." in empty.text
    assert "Bitte geben Sie eine gültige E-Mail-Adresse ein." in empty.text
    hostile = "<script>alert(1)</script>"
    check = client.post(
        f"{path}/withdraw",
        data={"csrf": field, "name": hostile, "email": "a@example.com", "line-0": "1", "line-9": "1"},
    )
    assert check.status_code == 200 and hostile not in check.text and "&lt;script&gt;" in check.text
    assert 'name="line-9"' not in check.text  # only the lines the right covers


def test_the_link_keys_never_reach_a_log_line() -> None:
    from service.privacy import redact, secrets_of

    secrets = secrets_of({"RB_BUYER_LINK_KEYS": f"{KEY_NEW}, {KEY_OLD}"})
    assert redact(f"keys {KEY_OLD} and {KEY_NEW}", secrets) == "keys [redacted] and [redacted]"


@pytest.mark.parametrize(("lines", "goods", "delivery"), [({"line-0": "1"}, "49.90", "0.00"),
                                                         ({"line-0": "1", "line-1": "1"}, "69.80", "4.99")])  # fmt: skip
def test_the_outbound_delivery_is_refunded_only_when_the_whole_order_is_withdrawn(  # type: ignore[no-untyped-def]
    client, running, lines, goods, delivery
) -> None:
    """Found from outside (qa2): withdrawing from the scarf and keeping the hat refunded the whole outbound
    delivery too; the contract's `refund.amount` adds it only for a full withdrawal (art. 13(1))."""
    case_id = post_event(client, delivered("part")).json["case_id"]
    assert wait_for(lambda: case_json(client, case_id)["timeline"], timeout=20)
    path = page_path(client, case_id)
    form = {"csrf": _form_field(client.get(path).text), "name": "Anna Schmidt", "email": "a@example.com", **lines}
    check = client.post(f"{path}/withdraw", data=form)
    assert client.post(f"{path}/withdraw/confirm", data={**form, "csrf": _form_field(check.text)}).status_code == 303

    def refunded() -> dict | None:
        case = case_json(client, case_id)
        return case["refund"] if case["state"] != "new" and (case["refund"] or {}).get("amount") else None

    refund = wait_for(refunded, timeout=20)
    assert (refund["goods"], refund["original_delivery"]) == (goods, delivery), refund
