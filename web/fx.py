"""Operator routes for exchange rates and the merchant's FX ledger.

`GET /fx/rates?base=&date=`: every rate held for `base` on `date` (default EUR,
today), with the publication date used, the source and how fresh the rates are.
`GET /fx/ledger?currency=&from=&to=`: refunds in the settlement currency at
sale-date and refund-date rates, per case, with totals and the exchange result.
The ledger is the merchant's financial data, so it sits behind the operations
token like `/ops/*`; the rates are the ECB's public figures and are open.
Bad input is a 400 naming the fields (contract: error body).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from core.ledger import ledger_totals
from core.money import is_currency
from core.rates import RateUnavailable
from web import auth
from web.errors import error_response

bp = Blueprint("fx", __name__)


def _currency_arg(name: str, default: str | None, errors: dict[str, list[str]]) -> str | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    code = raw.upper()
    if not is_currency(code):
        errors[name] = [f"{raw!r} is not an ISO 4217 currency code"]
        return None
    return code


def _date_arg(name: str, default: date | None, errors: dict[str, list[str]]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = [f"{raw!r} is not a date (YYYY-MM-DD)"]
        return None


@bp.get("/fx/rates")
def fx_rates() -> ResponseReturnValue:
    """Exchange rates for operators.
    ---
    get:
      summary: Every rate held for a base currency on a day, with the publication date used and freshness
      parameters:
        - {in: query, name: base, required: false, schema: {type: string, default: EUR}}
        - {in: query, name: date, required: false, schema: {type: string, format: date}}
      responses:
        200: {description: The rates per one unit of base}
        400: {description: Bad base or date, content: {application/json: {schema: Error}}}
        404: {description: No rate published for that base or that far back, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    book = container.rate_book
    errors: dict[str, list[str]] = {}
    base = _currency_arg("base", book.rates.anchor, errors)
    on = _date_arg("date", container.clock().date(), errors)
    if errors or base is None or on is None:
        return error_response(400, "invalid_query", "bad query parameters", errors)
    try:
        published, table = book.rates.table_for(base, on)
    except RateUnavailable as exc:
        return error_response(404, "rate_unavailable", str(exc))
    return jsonify(
        {
            "base": base,
            "date": on.isoformat(),
            "rate_date": published.isoformat(),
            "source": book.source,
            "rates": {currency: format(rate, "f") for currency, rate in table.items()},
            "status": book.status(),
        }
    )


@bp.get("/fx/ledger")
@auth.require(auth.READ)
def fx_ledger() -> ResponseReturnValue:
    """The merchant's FX ledger.
    ---
    get:
      summary: Refunds in the settlement currency at sale-date and refund-date rates, per case, with totals
      parameters:
        - {in: query, name: currency, required: false, schema: {type: string}, description: default RB_SETTLEMENT_CURRENCY}
        - {in: query, name: from, required: false, schema: {type: string, format: date}}
        - {in: query, name: to, required: false, schema: {type: string, format: date}}
      responses:
        200: {description: Ledger entries and totals}
        400: {description: Bad currency or dates, content: {application/json: {schema: Error}}}
        401: {description: Missing or wrong operations token, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    settings = container.settings
    errors: dict[str, list[str]] = {}
    currency = _currency_arg("currency", settings.settlement_currency, errors)
    since = _date_arg("from", None, errors)
    until = _date_arg("to", None, errors)
    if since and until and since > until:
        errors["from"] = ["must not be after 'to'"]
    if errors or currency is None:
        return error_response(400, "invalid_query", "bad query parameters", errors)
    with container.uow() as work:
        entries = work.fx_ledger.entries(currency, since, until)
    body: dict[str, Any] = {
        "settlement_currency": currency,
        "from": since.isoformat() if since else None,
        "to": until.isoformat() if until else None,
        "cases": [{"case_id": case_id, **entry.to_json()} for case_id, entry in entries],
        "totals": ledger_totals([entry for _, entry in entries], currency).to_json(),
    }
    return jsonify(body)
