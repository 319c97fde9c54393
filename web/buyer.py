"""The buyer's page, `GET /r/<token>`: their return (or delivered order) in their language, no login.

The signed token (service/buyer_links.py) is the only key, so the page shows only what its buyer
needs: order and return numbers, progress, next step and its last day, how to send the parcel,
its tracking, the refund, the notices sent, and, while an EU withdrawal right is open, the
withdrawal function of Directive 2011/83 art. 11a (service/withdrawal.py). Never internal ids,
carrier accounts or anyone else's data. A bad or expired token is a 404 in the buyer's language
that says nothing about why. Server-rendered (templates/buyer_*.html), no JavaScript.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from adapters.carriers.base import display_name as carrier_display_name
from adapters.notifiers import page_texts as T
from adapters.notifiers.catalogs import translations_for
from adapters.notifiers.local_formats import buyer_zone, format_deadline, format_money, last_day_shown
from adapters.notifiers.negotiation import CATALOGS, Negotiated, buyer_preferences, negotiate
from adapters.notifiers.notice_texts import CODE_TEXTS
from adapters.notifiers.render import render
from adapters.storage.case_record import deadlines_json
from core.cases import ReturnCase
from core.notices import DEFAULT_REFUND_ROUTE, NOTICE_KINDS, resolve
from core.shipments import Shipment
from core.tracking import TrackingScan
from service.bootstrap import Container
from service.buyer_links import FormGuard
from service.withdrawal import (
    Statement,
    WithdrawalOffer,
    offer,
    received_statement,
    statement_text,
    withdraw,
    withdrawal_event_id,
)

bp = Blueprint("buyer", __name__, template_folder="templates")

# Which deadline the buyer's next step is bound by, per case state (core.policy deadline names).
NEXT_DEADLINE: dict[str, str] = {
    "new": "window_ends_at",
    "requested": "merchant_response_due_by",
    "approved": "return_ship_by",
    "return_in_transit": "inspection_due_by",
    "inspecting": "inspection_due_by",
    "refund_processing": "refund_due_by",
}
# States in which the buyer still has to send the parcel.
SENDING_STATES = ("approved",)
TRACKED_STATES = ("approved", "return_in_transit", "inspecting", "refund_processing", "refunded")
MAX_NAME = 200


def _container() -> Container:
    return current_app.extensions["returnbridge"]


def _clock() -> datetime:
    return _container().clock()


def _negotiated(case: ReturnCase | None) -> Negotiated:
    buyer = case.order.buyer if case else None
    return negotiate(
        buyer_preferences(
            request.args.get("locale"),
            request.headers.get("Accept-Language"),
            buyer.locale if buyer else None,
            _container().settings.default_locale,
        )
    )


class Words:
    """Translation and formatting for one negotiated locale and zone, handed to the templates."""

    def __init__(self, negotiated: Negotiated, zone: tzinfo) -> None:
        self.negotiated = negotiated
        self.locale: Locale = negotiated.locale
        self.zone = zone
        self._translations = translations_for(negotiated.catalogs)

    def __call__(self, message: str, **values: Any) -> Markup:
        """The translated message, HTML-escaped, with its values escaped unless already markup."""
        text = Markup(escape(self._translations.gettext(message)))
        return text % values if values else text

    def isolated(self, text: str) -> str:
        """Text that must read left to right as one piece (an exchange-rate equation) inside an RTL line."""
        return f"\u2068{text}\u2069" if self.dir == "rtl" else text

    def plain(self, message: str) -> str:
        """The translated message as text (for the statement kept with the event)."""
        return self._translations.gettext(message)

    @property
    def lang(self) -> str:
        return self.negotiated.tag

    @property
    def dir(self) -> str:
        return self.negotiated.direction

    def moment(self, value: str | datetime | None) -> str:
        """Date, time and the zone's name, in the buyer's zone (the receipt of a withdrawal)."""
        at = _instant(value)
        return format_deadline(at, self.zone, self.locale) if at else ""

    def last_day(self, value: str | datetime | None) -> str:
        """The inclusive last day of a period ending at `value` (render.last_day_shown: a period ending at
        local midnight ends with the day before)."""
        day = last_day_shown(value, self.zone)
        return format_date(day, "long", locale=self.locale) if day else ""

    def day(self, value: str | datetime | None) -> str:
        at = _instant(value)
        return format_date(at.astimezone(self.zone).date(), "long", locale=self.locale) if at else ""

    def money(self, value: dict[str, Any] | None) -> str:
        return format_money(value, self.locale) if value else ""

    def languages(self) -> list[tuple[str, str]]:
        """Every catalog, named in its own language, for the language switch."""
        return [(name.replace("_", "-"), Locale.parse(name).get_display_name(name) or name) for name in CATALOGS]


def _instant(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def not_found() -> Response:
    """The same page for every bad, forged, expired or unknown token: nothing about which."""
    words = Words(_negotiated(None), UTC)
    response = make_response(render_template("buyer_404.html", t=words, T=T), 404)
    return _headers(response, words)


def _headers(response: Response, words: Words) -> Response:
    response.headers["Content-Language"] = words.lang
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token must not leak to other sites
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _load(token: str) -> tuple[ReturnCase, dict[str, Any]] | None:
    container = _container()
    case_id = container.buyer_links.case_id(token, _clock())
    if case_id is None:
        return None
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        if case is None:
            return None
        # Plain values, read while the session is open: only what the page shows.
        shipments = [_shipment(s) for s in uow.shipments.for_case(case_id)]
        rows = {
            "shipments": shipments,
            "scans": [_scan(s) for s in uow.scans.for_case(case_id)],
            "withdrawal": uow.received.payload(case.marketplace, withdrawal_event_id(case)),
        }
    return case, rows


def _shipment(row: Shipment) -> dict[str, Any]:
    return {"kind": row.kind, "tracking_number": row.tracking_number, "label_pdf_base64": row.label_pdf_base64}


def _scan(row: TrackingScan) -> dict[str, Any]:
    return {
        "tracking_number": row.tracking_number,
        "occurred_at": row.occurred_at,
        "description": row.description,
        "location": row.location,
    }


def _steps(case: ReturnCase, requested_at: str | None = None) -> list[dict[str, Any]]:
    """The progress a buyer recognises, each done with its day, or still to come."""
    stones = case.milestones
    reached = {
        "delivered": case.order.delivered_at,
        "requested": stones.get("requested_at") or requested_at,
        "approved": stones.get("approved_at"),
        "shipped": _first(case, "return.shipped"),
        "received": stones.get("received_at"),
        "refunded": _first(case, "refund.completed") if case.state == "refunded" else None,
    }
    steps, current_set = [], False
    for name, at in reached.items():
        done = at is not None
        current = not done and not current_set and case.state not in T.OUTCOMES
        current_set = current_set or current
        steps.append({"name": name, "text": T.STEPS[name], "at": at, "done": done, "current": current})
    return steps


def _first(case: ReturnCase, event: str) -> datetime | None:
    return next((e.at for e in case.timeline if e.kind == "event" and e.name == event), None)


def _label(shipments: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((s for s in shipments if s["kind"] == "return_label" and s["label_pdf_base64"]), None)


def _return_tracking(case: ReturnCase, shipments: list[dict[str, Any]]) -> str | None:
    if case.facts.get("return_tracking"):
        return str(case.facts["return_tracking"])
    label = next((s for s in shipments if s["kind"] == "return_label" and s["tracking_number"]), None)
    return label["tracking_number"] if label else None


def _scans(scans: list[dict[str, Any]], number: str | None) -> list[dict[str, Any]]:
    """Scans of the return parcel only, newest first (never the outbound parcel's)."""
    mine = [s for s in scans if number and s["tracking_number"] == number]
    return sorted(mine, key=lambda s: s["occurred_at"], reverse=True)


def _drop_off_address() -> list[str]:
    address = _container().settings.returns_address() or {}
    city = " ".join(v for v in (address.get("postal_code"), address.get("city")) if v)
    return [v for v in (address.get("name"), address.get("line1"), address.get("line2"), city,
                        address.get("region"), address.get("country")) if v]  # fmt: skip


def _refund(case: ReturnCase, words: Words) -> dict[str, str] | None:
    refund = case.facts.get("refund") or {}
    agreed = case.facts.get("agreed_refund")
    paid = agreed or ({"amount": refund["amount"], "currency": refund["currency"]} if refund.get("amount") else None)
    if not paid or case.awaiting_return:
        return None
    shown = {"amount": words.money(paid), "route": words(CODE_TEXTS["route"][DEFAULT_REFUND_ROUTE])}
    display = refund.get("display")
    if display and not agreed and display.get("currency") != paid.get("currency"):
        shown["display"] = words(
            T.REFUND_DISPLAY,
            display=words.money(display),
            rate=words.isolated(f"1 {paid['currency']} = {_rate(display['rate'], words.locale)} {display['currency']}"),
            rate_date=format_date(date.fromisoformat(display["rate_date"]), "long", locale=words.locale),
        )
    return shown


def _rate(rate: str, locale: Locale) -> str:
    return format_decimal(rate, format="#,##0.######", locale=locale)


def _notices(case: ReturnCase, words: Words) -> list[dict[str, Any]]:
    shown = []
    for notice in reversed(case.notices):
        if resolve(notice.kind)[0] not in NOTICE_KINDS:
            continue
        rendered = render(notice.kind, notice.context, words.negotiated, words.zone, notice.at)
        shown.append({"subject": rendered.subject, "paragraphs": rendered.paragraphs, "at": words.moment(notice.at)})
    return shown


def _page_view(token: str, case: ReturnCase, rows: dict[str, Any], words: Words) -> dict[str, Any]:
    now = _clock()
    deadlines = deadlines_json(case.policy_deadlines)
    last_days = (case.facts.get("policy") or {}).get("last_days") or {}
    withdrawal_offer = offer(case, _container().policy, now)
    next_name = NEXT_DEADLINE.get(case.state)
    next_at = deadlines.get(next_name) if next_name else None
    if case.state == "new" and withdrawal_offer.offered:
        next_at = None  # the withdrawal section says the last day
    label = _label(rows["shipments"])
    tracking = _return_tracking(case, rows["shipments"])
    carrier = case.return_.carrier or (case.carrier_route.carrier if case.carrier_route else None)
    receipt = received_statement(rows["withdrawal"]) if rows["withdrawal"] else None
    steps = _steps(case)
    if receipt and not case.requested:
        # Received a moment ago and not yet applied to the case: the withdrawal is the request.
        steps = _steps(case, requested_at=receipt["received_at"])
        next_at = None
    return {
        "token": token,
        "case": case,
        "return_id": None if case.awaiting_return else case.return_id,
        "steps": steps,
        "outcome": T.OUTCOMES.get(case.state),
        "next_text": T.NEXT_STEPS[next_name] if next_at and next_name else None,
        # The policy's own inclusive last day where it gave one; else the instant's, as the buyer sees it.
        "next_day": words.last_day(last_days.get(next_name) or next_at) if next_at and next_name else None,
        "sending": case.state in SENDING_STATES,
        "label": bool(label),
        "pickup": carrier_display_name(carrier) if case.return_.pickup and carrier else None,
        "drop_off": _drop_off_address() if case.state in SENDING_STATES and not label else [],
        "tracking": tracking if case.state in TRACKED_STATES else None,
        "scans": _scans(rows["scans"], tracking),
        "refund": _refund(case, words),
        "notices": _notices(case, words),
        "items": [_line(item) for item in case.items],
        "offer": withdrawal_offer,
        "offer_lines": [(i, _line(case.items[i])) for i in withdrawal_offer.lines],
        "offer_day": words.last_day(withdrawal_offer.ends_at) if withdrawal_offer.ends_at else None,
        "receipt": receipt,
        "locale_query": _locale_query(),
    }


def _line(item: Any) -> dict[str, Any]:
    return {"title": item.title or item.sku, "sku": item.sku, "quantity": item.quantity}


def _locale_query() -> str:
    asked = request.args.get("locale")
    return f"?locale={asked}" if asked and asked.replace("-", "").replace("_", "").isalnum() else ""


def _with_form_cookie(response: Response, guard_nonce: str, fresh: bool) -> Response:
    if fresh:
        response.set_cookie(FormGuard.COOKIE, guard_nonce, httponly=True, samesite="Strict", path="/r/",
                            secure=request.is_secure)  # fmt: skip
    return response


def _form_nonce() -> tuple[str, bool]:
    existing = request.cookies.get(FormGuard.COOKIE)
    if existing and 16 <= len(existing) <= 64:
        return existing, False
    return FormGuard.new_nonce(), True


def _show(
    template: str, token: str, case: ReturnCase, rows: dict[str, Any], status: int = 200, **extra: Any
) -> Response:
    buyer = case.order.buyer
    words = Words(_negotiated(case), buyer_zone(buyer.timezone if buyer else None))
    nonce, fresh = _form_nonce()
    view = _page_view(token, case, rows, words)
    view["form_field"] = FormGuard(_container().buyer_links).field(nonce, case.id)
    view["page_base"] = f"/r/{token}"  # the language links lead back to the page, also from a form's answer
    view.update(extra)
    response = make_response(render_template(template, t=words, T=T, **view), status)
    return _with_form_cookie(_headers(response, words), nonce, fresh)


@bp.get("/r/<token>")
def buyer_page(token: str) -> ResponseReturnValue:
    """The buyer's page.
    ---
    get:
      summary: The buyer's return or order page (HTML, in the buyer's language); 404 for a bad or expired link
      parameters:
        - {in: path, name: token, required: true, schema: {type: string}}
        - {in: query, name: locale, schema: {type: string, example: de-DE}}
      responses:
        200: {description: The page, content: {text/html: {}}}
        404: {description: Not a valid link, content: {text/html: {}}}
    """
    loaded = _load(token)
    if loaded is None:
        return not_found()
    return _show("buyer_page.html", token, *loaded)


@bp.get("/r/<token>/label")
def buyer_label(token: str) -> ResponseReturnValue:
    """The return label as a PDF, for the page's download link.
    ---
    get:
      summary: The return label of the buyer's case as a PDF; 404 for a bad or expired link or no label yet
      parameters:
        - {in: path, name: token, required: true, schema: {type: string}}
      responses:
        200: {description: The label, content: {application/pdf: {}}}
        404: {description: "Not a valid link, or no label yet", content: {text/html: {}}}
    """
    loaded = _load(token)
    label = _label(loaded[1]["shipments"]) if loaded else None
    if label is None or loaded is None:
        return not_found()
    response = make_response(base64.b64decode(label["label_pdf_base64"]))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="return-label-{loaded[0].return_id}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _statement_from_form(case: ReturnCase, lines: tuple[int, ...]) -> tuple[Statement | None, dict[str, str]]:
    form = request.form
    errors: dict[str, str] = {}
    name = " ".join((form.get("name") or "").split())[:MAX_NAME]
    if not name:
        errors["name"] = T.ERRORS["name"]
    email = (form.get("email") or "").strip()
    if not _plausible_email(email):
        errors["email"] = T.ERRORS["email"]
    chosen = []
    for index in lines:
        if form.get(f"line-{index}"):
            chosen.append((index, case.items[index].quantity))
    if not chosen:
        errors["lines"] = T.ERRORS["lines"]
    if errors:
        return None, errors
    return Statement(name, tuple(chosen), email), {}


def _plausible_email(email: str) -> bool:
    local, _, domain = email.rpartition("@")
    return bool(local) and "." in domain.strip(".") and len(email) <= 254 and not any(c.isspace() for c in email)


def _guarded(token: str) -> tuple[ReturnCase, dict[str, Any], WithdrawalOffer] | Response:
    loaded = _load(token)
    if loaded is None:
        return not_found()
    case, rows = loaded
    guard = FormGuard(_container().buyer_links)
    if not guard.valid(request.form.get("csrf"), request.cookies.get(FormGuard.COOKIE), case.id):
        return _show("buyer_page.html", token, case, rows, status=400, form_errors={"form": T.ERRORS["form"]})
    return case, rows, offer(case, _container().policy, _clock())


@bp.post("/r/<token>/withdraw")
def withdraw_check(token: str) -> ResponseReturnValue:
    """Step one of the withdrawal function: the statement to confirm (nothing is sent yet).
    ---
    post:
      summary: Withdrawal step one (Directive 2011/83 art 11a) - shows the statement to confirm; nothing is sent
      parameters:
        - {in: path, name: token, required: true, schema: {type: string}}
      requestBody: {required: true, content: {application/x-www-form-urlencoded: {schema: WithdrawalForm}}}
      responses:
        200: {description: The statement and the "confirm withdrawal" button, content: {text/html: {}}}
        303: {description: "No withdrawal right is open; back to the page"}
        400: {description: "A field is missing or the form token is wrong; the page names it", content: {text/html: {}}}
        404: {description: Not a valid link, content: {text/html: {}}}
    """
    guarded = _guarded(token)
    if isinstance(guarded, Response):
        return guarded
    case, rows, chance = guarded
    if not chance.offered:
        return redirect(f"/r/{token}{_locale_query()}#withdrawal", 303)
    statement, errors = _statement_from_form(case, chance.lines)
    if statement is None:
        return _show("buyer_page.html", token, case, rows, status=400, form_errors=errors, form=request.form)
    words = Words(_negotiated(case), UTC)
    text = statement_text(statement, case, str(words.plain(T.STATEMENT)))
    return _show("buyer_confirm.html", token, case, rows, statement=statement, statement_text=text)


@bp.post("/r/<token>/withdraw/confirm")
def withdraw_confirm(token: str) -> ResponseReturnValue:
    """Step two, "confirm withdrawal": the withdrawal enters the intake once, however often it is sent.
    ---
    post:
      summary: Withdrawal step two - the withdrawal is received (once) and acknowledged on the page and by e-mail
      parameters:
        - {in: path, name: token, required: true, schema: {type: string}}
      requestBody: {required: true, content: {application/x-www-form-urlencoded: {schema: WithdrawalForm}}}
      responses:
        303: {description: "Received (or received before); the page shows the acknowledgement"}
        400: {description: "A field is missing or the form token is wrong; the page names it", content: {text/html: {}}}
        404: {description: Not a valid link, content: {text/html: {}}}
    """
    guarded = _guarded(token)
    if isinstance(guarded, Response):
        return guarded
    case, rows, chance = guarded
    if rows["withdrawal"] is not None:
        return redirect(f"/r/{token}{_locale_query()}#withdrawal", 303)  # a double click: already received
    if not chance.offered:
        return redirect(f"/r/{token}{_locale_query()}#withdrawal", 303)
    statement, errors = _statement_from_form(case, chance.lines)
    if statement is None:
        return _show("buyer_page.html", token, case, rows, status=400, form_errors=errors, form=request.form)
    words = Words(_negotiated(case), UTC)
    text = statement_text(statement, case, str(words.plain(T.STATEMENT)))
    withdraw(case, statement, text, _container().intake, _clock())
    return redirect(f"/r/{token}{_locale_query()}#withdrawal", 303)
