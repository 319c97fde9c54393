"""`POST /webhooks/<marketplace>`: verify, parse, store, answer — the contract's table of answers."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from adapters.marketplaces import MARKETPLACES
from adapters.marketplaces.base import InboundRequest, PayloadError, SignatureError
from adapters.registry import accepts_media_type
from service.intake import InvalidEvent
from service.metrics import WEBHOOK_EVENTS
from web.errors import error_response

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


@bp.post("/webhooks/<marketplace>")
def receive(marketplace: str) -> ResponseReturnValue:
    """Receive a marketplace's return or refund event.
    ---
    post:
      summary: Receive a return event from a marketplace
      description: >
        `generic` takes one canonical event signed as Standard Webhooks; each other
        marketplace takes its own payload and signature (eBay posts SOAP as text/xml;
        amazon, tmall and aliexpress are polled and refuse posts with 401). Duplicates (same
        marketplace_event_id or the marketplace's own delivery id) get 200 with the same ids.
        Each marketplace's signature headers are listed below, named after it.
      parameters:
        - {in: path, name: marketplace, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: ReturnEvent
      responses:
        202: {description: Accepted, content: {application/json: {schema: Accepted}}}
        200: {description: "Duplicate delivery, or a signed delivery about no return ({ignored: true})", content: {application/json: {schema: Accepted}}}
        400: {description: Invalid payload, content: {application/json: {schema: Error}}}
        401: {description: "Missing, forged or stale signature", content: {application/json: {schema: Error}}}
        404: {description: Unknown marketplace, content: {application/json: {schema: Error}}}
        413: {description: Body over the limit, content: {application/json: {schema: Error}}}
        415: {description: Not JSON, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    if marketplace not in MARKETPLACES:
        return error_response(404, "unknown_marketplace", f"no marketplace named {marketplace!r}")
    adapter = MARKETPLACES.get(marketplace).configured(container.settings.for_adapter(marketplace))
    limit = container.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _outcome(marketplace, "too_large", error_response(413, "too_large", f"the body exceeds {limit} bytes"))
    body = request.get_data(cache=True)
    if len(body) > limit:
        return _outcome(marketplace, "too_large", error_response(413, "too_large", f"the body exceeds {limit} bytes"))
    if not accepts_media_type(adapter.content_types, request.mimetype):
        return _outcome(
            marketplace, "bad_content_type",
            error_response(415, "unsupported_media_type", f"Content-Type {request.mimetype or 'none'} is not accepted"),
        )  # fmt: skip
    inbound = InboundRequest(body=body, headers=request.headers, query=request.args, url=request.url)
    try:
        adapter.verify(inbound, container.settings.webhook_secret(marketplace), container.clock())
    except SignatureError as exc:
        return _outcome(marketplace, "unauthorized", error_response(401, "invalid_signature", str(exc)))
    except PayloadError as exc:  # a body no signature can vouch for (not UTF-8)
        return _outcome(marketplace, "invalid", error_response(400, "invalid_payload", str(exc), exc.fields))
    try:
        delivery = adapter.parse(inbound)
        if not delivery.events:  # signed, but about something else (a trade-order status, a product)
            reason = delivery.ignored or "the delivery concerns no return"
            log.info("%s delivery acknowledged and ignored: %s", marketplace, reason)
            return _outcome(
                marketplace, "ignored", (jsonify(delivery.ack_body or {"ignored": True, "reason": reason}), 200)
            )
        accepted = container.intake.accept(marketplace, delivery)
    except PayloadError as exc:
        return _outcome(marketplace, "invalid", error_response(400, "invalid_payload", str(exc), exc.fields))
    except InvalidEvent as exc:
        return _outcome(marketplace, "invalid", error_response(400, "invalid_event", str(exc), exc.fields))
    first = accepted[0]
    duplicate = all(a.duplicate for a in accepted)
    answer: dict = delivery.ack_body or {"event_id": first.event_id, "case_id": first.case_id}
    if duplicate:
        answer = {**answer, "duplicate": True}
    if len(accepted) > 1:
        answer["events"] = [{"event_id": a.event_id, "case_id": a.case_id, "duplicate": a.duplicate} for a in accepted]
    return _outcome(marketplace, "duplicate" if duplicate else "accepted", (jsonify(answer), 200 if duplicate else 202))


def _outcome(marketplace: str, outcome: str, response: ResponseReturnValue) -> ResponseReturnValue:
    WEBHOOK_EVENTS.labels(marketplace, outcome).inc()
    return response
