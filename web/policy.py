"""POST /policy/evaluate: the policy decision for a canonical `return.requested` event; nothing is stored.

Open to anyone (it reveals no case), so it is rate-limited per address (RB_POLICY_RATE).
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from adapters.calendars import HolidaysCalendars
from config.policy_tables import default_policy_tables
from core.policy import evaluate
from service.canonical import flatten_errors, load_event
from web import auth
from web.errors import error_response

bp = Blueprint("policy", __name__)
CALENDARS = HolidaysCalendars()


@bp.post("/policy/evaluate")
@auth.rate_limited("policy", lambda s: s.policy_rate)
def evaluate_policy() -> ResponseReturnValue:
    """Evaluate a return request against statutory, marketplace and merchant rules.

    `eligible` judges the resolution asked for every line; `basis` is statutory_withdrawal, statutory_guarantee,
    marketplace_policy or merchant_policy (null when nothing grants it) and `alternatives` what would be
    granted instead; `window.last_day` and `last_days` are the inclusive last days shown to people.
    ---
    post:
      summary: Decide eligibility, basis, alternatives, window, who pays, deadlines and refund for a return request
      parameters:
        - {name: marketplace, in: query, required: false, schema: {type: string}}
        - {name: merchant, in: query, required: false, schema: {type: string}}
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses:
        200: {description: The decision with its rules trace}
        400: {description: Invalid event, content: {application/json: {schema: Error}}}
        429: {description: Too many requests from this address (Retry-After), content: {application/json: {schema: Error}}}
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "invalid_json", "the body must be a JSON object (a canonical event)")
    try:
        event = load_event(body)
    except ValidationError as exc:
        return error_response(
            400, "invalid_event", "the event does not match the canonical schema", flatten_errors(exc.messages)
        )
    if event.type != "return.requested":
        return error_response(
            400, "invalid_event", "only return.requested can be evaluated", {"type": ["must be return.requested"]}
        )
    missing = {}
    if not event.order.ship_to:
        missing["order.ship_to.country"] = ["is required to know the buyer's law"]
    if not event.order.currency:
        missing["order.currency"] = ["is required to compute the refund"]
    if missing:
        return error_response(400, "invalid_event", "the event lacks what policy needs", missing)
    decision = evaluate(
        event,
        default_policy_tables(),
        event.as_of,
        CALENDARS,
        current_app.extensions.get("returnbridge.rates"),
        marketplace=request.args.get("marketplace"),
        merchant=request.args.get("merchant"),
    )
    return jsonify(decision.to_json())
