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

import hmac
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from adapters.storage.unit_of_work import UnitOfWork
from config.settings import Settings
from core.ledger import ledger_totals
from core.money import is_currency
from core.rates import RateUnavailable
from service.rates import RateBook


def _error(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> ResponseReturnValue:
    return jsonify({"error": {"code": code, "message": message, "fields": fields or {}}}), status


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


def fx_blueprint(
    rates: RateBook,
    uow: Callable[[], UnitOfWork],
    settings: Settings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Blueprint:
    blueprint = Blueprint("fx", __name__)

    @blueprint.get("/fx/rates")
    def fx_rates() -> ResponseReturnValue:
        errors: dict[str, list[str]] = {}
        base = _currency_arg("base", rates.rates.anchor, errors)
        on = _date_arg("date", clock().date(), errors)
        if errors or base is None or on is None:
            return _error(400, "invalid_query", "bad query parameters", errors)
        try:
            published, table = rates.rates.table_for(base, on)
        except RateUnavailable as exc:
            return _error(404, "rate_unavailable", str(exc), {})
        return jsonify(
            {
                "base": base,
                "date": on.isoformat(),
                "rate_date": published.isoformat(),
                "source": rates.source,
                "rates": {currency: format(rate, "f") for currency, rate in table.items()},
                "status": rates.status(),
            }
        )

    @blueprint.get("/fx/ledger")
    def fx_ledger() -> ResponseReturnValue:
        token = settings.ops_token
        given = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(401, "unauthorized", "the FX ledger needs Authorization: Bearer $RB_OPS_TOKEN")
        errors: dict[str, list[str]] = {}
        currency = _currency_arg("currency", settings.settlement_currency, errors)
        since = _date_arg("from", None, errors)
        until = _date_arg("to", None, errors)
        if since and until and since > until:
            errors["from"] = ["must not be after 'to'"]
        if errors or currency is None:
            return _error(400, "invalid_query", "bad query parameters", errors)
        with uow() as work:
            entries = work.fx_ledger.entries(currency, since, until)
        body: dict[str, Any] = {
            "settlement_currency": currency,
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
            "cases": [{"case_id": case_id, **entry.to_json()} for case_id, entry in entries],
            "totals": ledger_totals([entry for _, entry in entries], currency).to_json(),
        }
        return jsonify(body)

    return blueprint
