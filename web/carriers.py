"""`POST /carriers/<carrier>/tracking`: carrier tracking pushes, verified as each carrier signs them.

Each carrier module verifies its own signature and declares the headers it is
signed with (`signature_headers`, shown in the OpenAPI document by web/openapi.py;
carriers_customs.md §2.1–§2.4). The same answers as the webhooks: 404 unknown
carrier, 413 too large, 415 not JSON, 401 forged or unsigned, 400 unreadable;
202 with what was recorded. Scans for parcels we did not book are counted as
unmatched and still answered 202, so the carrier does not resend them forever.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from adapters.carriers import CARRIERS
from adapters.carriers.base import InboundRequest, PayloadError, SignatureError
from adapters.marketplaces.payloads import SHAPE_ERRORS
from adapters.registry import accepts_media_type
from web.errors import error_response

bp = Blueprint("carriers", __name__)


@bp.post("/carriers/<carrier>/tracking")
def tracking_push(carrier: str) -> ResponseReturnValue:
    """Receive a carrier's tracking push for a return parcel.
    ---
    post:
      summary: Receive tracking scans pushed by a carrier
      description: >
        Each carrier signs its pushes with its own headers, listed below named after it;
        `sf_express` also encrypts the body.
        Shipped-back scans move the case with `return.shipped`, delivery to the
        warehouse with `return.received`; exceptions flag the case for attention.
        A scan already recorded (pushed twice, or polled) is counted as a duplicate.
      parameters:
        - {in: path, name: carrier, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
      responses:
        202: {description: Scans recorded, content: {application/json: {schema: {type: object}}}}
        400: {description: Unreadable push, content: {application/json: {schema: Error}}}
        401: {description: "Missing or forged signature, or an SF Express push too old to be fresh (a replay)", content: {application/json: {schema: Error}}}
        404: {description: Unknown carrier, content: {application/json: {schema: Error}}}
        413: {description: Body over the limit, content: {application/json: {schema: Error}}}
        415: {description: Not a media type the carrier declares, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    if carrier not in CARRIERS:
        return error_response(404, "unknown_carrier", f"no carrier named {carrier!r}")
    adapter = CARRIERS.get(carrier)
    limit = container.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return error_response(413, "too_large", f"the body exceeds {limit} bytes")
    body = request.get_data(cache=True)
    if len(body) > limit:
        return error_response(413, "too_large", f"the body exceeds {limit} bytes")
    if not accepts_media_type(adapter.content_types, request.mimetype):
        return error_response(
            415, "unsupported_media_type", f"Content-Type {request.mimetype or 'none'} is not accepted"
        )
    inbound = InboundRequest(body=body, headers=request.headers, query=request.args, url=request.url)
    settings = container.settings.for_adapter(carrier)
    try:
        adapter.verify_tracking_push(inbound, settings, now=container.clock())
    except SignatureError as exc:
        return error_response(401, "invalid_signature", str(exc))
    try:
        updates = adapter.parse_tracking_push(inbound, settings)
    except PayloadError as exc:
        return error_response(400, "invalid_payload", str(exc), exc.fields)
    except SHAPE_ERRORS as exc:  # authentic, but a list where an object was documented, a number for a text, ...
        return error_response(
            400, "invalid_payload", f"the push does not have the documented shape: {type(exc).__name__}: {exc}"
        )
    receipt = container.tracking.record(carrier, updates, "push")
    return jsonify({"carrier": carrier, **receipt.to_json()}), 202
