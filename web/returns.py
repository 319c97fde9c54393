"""Reading cases: `GET /returns/<id>`, `GET /returns`, and the buyer's notices in their language."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from adapters.notifiers.negotiation import buyer_preferences as negotiation_order
from adapters.notifiers.negotiation import negotiate
from adapters.notifiers.render import render_notice
from adapters.storage.case_record import dispute_json, route_json, timers_json
from core.cases import ReturnCase
from core.customs import LedgerClaim
from core.ledger import summary as ledger_summary
from core.notices import NoticeDelivery
from core.shipments import Shipment
from core.tracking import TrackingScan
from service.canonical import ItemSchema, OrderSchema, ReturnSchema, flatten_errors
from service.customs import claim_view
from web import auth
from web.errors import error_response

bp = Blueprint("returns", __name__)


class ListQuery(Schema):
    state = fields.String(load_default=None)
    marketplace = fields.String(load_default=None)
    needs_attention = fields.Boolean(load_default=None)
    order_id = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    # Bounded: an offset past a database's integer range was a 500 (found by the schemathesis fuzz).
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


def _shipment(row: Shipment) -> dict[str, Any]:
    return {
        "id": row.id,
        "carrier": row.carrier,
        "kind": row.kind,
        "status": row.status,
        "sent": row.status not in ("not_sent",),
        "tracking_number": row.tracking_number,
        "label_available": bool(row.label_pdf_base64),
        "request": row.request,
        "response": row.response,
        "error": row.error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def buyer_preferences(case: ReturnCase) -> tuple[str | None, str | None]:
    buyer = case.order.buyer
    return (buyer.locale if buyer else None, buyer.timezone if buyer else None)


def _default_locale() -> str | None:
    """RB_DEFAULT_LOCALE: tried after the buyer's own locale, before English."""
    return current_app.extensions["returnbridge"].settings.default_locale


def rendered_notices(case: ReturnCase, locale: str | None, accept_language: str | None = None) -> list[dict[str, Any]]:
    buyer_locale, timezone = buyer_preferences(case)
    default_locale = _default_locale()
    return [
        render_notice(
            n.kind, n.context, locale, timezone, n.at,
            accept_language=accept_language, buyer_locale=buyer_locale, default_locale=default_locale,
        )
        for n in case.notices
    ]  # fmt: skip


def _delivery(row: NoticeDelivery) -> dict[str, Any]:
    """How one notice went out on one channel; `message` is what was (or, unconfigured, would be) sent."""
    return {
        "id": row.id,
        "notice": row.kind,
        "channel": row.channel,
        "status": row.status,
        "sent": row.status == "sent",
        "recipient": row.recipient,
        "locale": row.locale,
        "attempts": row.attempts,
        "message": row.message,
        "response": row.response,
        "error": row.error,
        "updated_at": row.updated_at,
    }


def customs_view(case: ReturnCase, claims: list[LedgerClaim]) -> dict[str, Any] | None:
    """The plan kept on the case, with the claims as the ledger has them now and the declaration's filing."""
    plan = case.facts.get("customs")
    if plan is None:
        return None
    view = dict(plan)
    if claims:
        view["claims"] = [claim_view(row) for row in claims]
    if case.facts.get("customs_declaration"):
        view["declaration"] = case.facts["customs_declaration"]
    return view


def tracking_view(scans: list[TrackingScan]) -> list[dict[str, Any]]:
    return [
        {"carrier": s.carrier, "tracking_number": s.tracking_number, "code": s.code, "status": s.status,
         "occurred_at": s.occurred_at, "description": s.description, "location": s.location,
         "via": s.received_via}
        for s in scans
    ]  # fmt: skip


def case_view(
    case: ReturnCase,
    shipments: list[Shipment],
    claims: list[LedgerClaim] | None = None,
    scans: list[TrackingScan] | None = None,
    deliveries: list[NoticeDelivery] | None = None,
    buyer_url: str | None = None,
) -> dict[str, Any]:
    """The case as `GET /returns/<id>` answers it, dumped through `CaseViewSchema` (the OpenAPI `Case`)."""
    return CASE_VIEW.dump(
        {
            "id": case.id,
            "state": case.state,
            "needs_attention": case.needs_attention,
            "marketplace": case.marketplace,
            "order_id": case.order_id,
            "return_id": case.return_id,
            "created_at": case.created_at,
            "order": case.order,
            "return": case.return_,
            "items": case.items,
            "timeline": case.timeline,
            "deadlines": case.facts.get("deadlines", {}),
            "refund": case.facts.get("refund"),
            "policy": case.facts.get("policy"),
            "fees": case.facts.get("fees"),
            "timers": timers_json(case.timers),
            "fx": case.facts.get("fx"),
            "shipments": [_shipment(s) for s in shipments],
            "customs": customs_view(case, claims or []),
            "tracking": tracking_view(scans or []),
            "carrier_route": route_json(case.carrier_route),
            "notices": rendered_notices(case, None),
            "notice_deliveries": [_delivery(d) for d in deliveries or []],
            "missing": case.facts.get("missing", []),
            # Issue 19: the case's money ledger against its cap, and what decisions recorded.
            "ledger": ledger_summary(case.ledger, case.order.currency, case.refund_cap()),
            "decisions": _decisions(case),
            "buyer_url": buyer_url,
        }
    )


# Facts of the case's decisions shown as they are (issue 19).
DECISION_FACTS = ("rejection", "late_accepted", "dispute", "carrier_claim", "outbound_leg", "released", "return_method")


def _decisions(case: ReturnCase) -> dict[str, Any]:
    """What decisions recorded on the case (issue 19), by name; the dispute is a typed part of its own."""
    recorded = [name for name in DECISION_FACTS if name != "dispute"]
    shown = {name: case.facts.get(name) for name in recorded if case.facts.get(name) is not None}
    if case.dispute is not None:
        shown["dispute"] = dispute_json(case.dispute)
    return shown


class MoneySchema(Schema):
    amount = fields.String(required=True, metadata={"description": "decimal, in the currency's minor units"})
    currency = fields.String(required=True, metadata={"description": "ISO 4217"})


class TimelineEntrySchema(Schema):
    at = fields.DateTime(required=True)
    kind = fields.String(
        required=True, metadata={"description": "event, transition, attention, command, result, notice"}
    )
    name = fields.String(required=True)
    detail = fields.Dict(required=True)


class ShipmentViewSchema(Schema):
    id = fields.String(required=True)
    carrier = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    sent = fields.Boolean(required=True)
    tracking_number = fields.String(required=True, allow_none=True)
    label_available = fields.Boolean(required=True)
    request = fields.Dict(required=True, metadata={"description": "the request as built (and sent, when sent)"})
    response = fields.Dict(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class TrackingScanViewSchema(Schema):
    carrier = fields.String(required=True)
    tracking_number = fields.String(required=True)
    code = fields.String(required=True)
    status = fields.String(required=True)
    occurred_at = fields.DateTime(required=True)
    description = fields.String(required=True)
    location = fields.String(required=True)
    via = fields.String(required=True, validate=validate.OneOf(("push", "poll")))


class RenderedNoticeSchema(Schema):
    kind = fields.String(required=True)
    locale = fields.String(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(("ltr", "rtl")))
    subject = fields.String(required=True)
    body = fields.String(required=True)
    at = fields.String(required=True, allow_none=True, metadata={"description": "the notice's moment, as shown"})
    incomplete = fields.List(fields.String(), required=True, metadata={"description": "facts the text lacked"})


class NoticeDeliveryViewSchema(Schema):
    id = fields.String(required=True)
    notice = fields.String(required=True)
    channel = fields.String(required=True)
    status = fields.String(required=True)
    sent = fields.Boolean(required=True)
    recipient = fields.String(required=True, allow_none=True)
    locale = fields.String(required=True, allow_none=True)
    attempts = fields.Integer(required=True)
    message = fields.Dict(required=True, metadata={"description": "what was (or, unconfigured, would be) sent"})
    response = fields.Dict(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    updated_at = fields.DateTime(required=True)


class LedgerViewSchema(Schema):
    entries = fields.List(fields.Dict(), required=True)
    cap = fields.Nested(MoneySchema, required=True, allow_none=True)
    paid_out = fields.Nested(MoneySchema, metadata={"description": "absent when the order has no currency"})
    pending = fields.Nested(MoneySchema)
    deducted = fields.Nested(MoneySchema)
    recovered = fields.Nested(MoneySchema)


class CaseViewSchema(Schema):
    """One schema for the case view and its OpenAPI `Case`: the view dumps through it, so they cannot drift."""

    id = fields.String(required=True)
    state = fields.String(required=True)
    needs_attention = fields.Boolean(required=True)
    marketplace = fields.String(required=True)
    order_id = fields.String(required=True)
    return_id = fields.String(required=True)
    created_at = fields.DateTime(required=True, allow_none=True)
    order = fields.Nested(OrderSchema, required=True)
    return_ = fields.Nested(ReturnSchema, required=True, data_key="return", attribute="return")
    items = fields.List(fields.Nested(ItemSchema), required=True)
    timeline = fields.List(fields.Nested(TimelineEntrySchema), required=True)
    deadlines = fields.Dict(required=True)
    refund = fields.Dict(required=True, allow_none=True)
    policy = fields.Dict(required=True, allow_none=True)
    fees = fields.Dict(required=True, allow_none=True)
    timers = fields.Dict(required=True)
    fx = fields.Dict(required=True, allow_none=True)
    shipments = fields.List(fields.Nested(ShipmentViewSchema), required=True)
    customs = fields.Dict(required=True, allow_none=True, metadata={"description": "the plan, claims, declaration"})
    tracking = fields.List(fields.Nested(TrackingScanViewSchema), required=True)
    carrier_route = fields.Dict(required=True, allow_none=True)
    notices = fields.List(fields.Nested(RenderedNoticeSchema), required=True)
    notice_deliveries = fields.List(fields.Nested(NoticeDeliveryViewSchema), required=True)
    missing = fields.List(fields.String(), required=True)
    ledger = fields.Nested(LedgerViewSchema, required=True)
    decisions = fields.Dict(keys=fields.String(validate=validate.OneOf(DECISION_FACTS)), required=True)
    buyer_url = fields.String(
        allow_none=True, metadata={"description": "the buyer's page (GET /r/<token>), signed and expiring"}
    )


CASE_VIEW = CaseViewSchema()


@bp.get("/returns/<case_id>")
@auth.require(auth.READ)
def get_case(case_id: str) -> ResponseReturnValue:
    """A return case.
    ---
    get:
      security: [{opsToken: []}]
      summary: One return case with its timeline, deadlines, refund, shipments, customs and notices
      parameters:
        - {in: path, name: case_id, required: true, schema: {type: string}}
      responses:
        200: {description: The case, content: {application/json: {schema: Case}}}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        404: {description: No such case, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        if case is None:
            return error_response(404, "not_found", f"no case {case_id!r}")
        # The buyer's page (contract "Buyer pages"), for operators to hand on; notices carry the same link.
        buyer_url = container.buyer_links.url(case.id, case.created_at or container.clock(), request.host_url)
        view = case_view(case, uow.shipments.for_case(case_id), uow.customs_claims.for_case(case_id),
                         uow.scans.for_case(case_id), uow.notice_deliveries.for_case(case_id), buyer_url)  # fmt: skip
    return jsonify(view)


@bp.get("/returns")
@auth.require(auth.READ)
def list_cases() -> ResponseReturnValue:
    """List return cases.
    ---
    get:
      security: [{opsToken: []}]
      summary: Return cases, newest first, filtered
      parameters:
        - {in: query, name: state, schema: {type: string}}
        - {in: query, name: marketplace, schema: {type: string}}
        - {in: query, name: needs_attention, schema: {type: boolean}}
        - {in: query, name: order_id, schema: {type: string}}
        - {in: query, name: limit, schema: {type: integer, minimum: 1, maximum: 500}}
        - {in: query, name: offset, schema: {type: integer, minimum: 0, maximum: 2147483647}}
      responses:
        200: {description: A page of cases}
        400: {description: Bad filter, content: {application/json: {schema: Error}}}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
    """
    try:
        query = ListQuery().load(request.args.to_dict())
    except ValidationError as exc:
        return error_response(400, "invalid_query", "the filters are not valid", flatten_errors(exc.messages))
    container = current_app.extensions["returnbridge"]
    with container.uow() as uow:
        rows, total = uow.cases.list(**query)
        return jsonify(
            {
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
                "cases": [
                    {
                        "id": r.id,
                        "state": r.state,
                        "needs_attention": r.needs_attention,
                        "marketplace": r.marketplace,
                        "order_id": r.order_id,
                        "return_id": r.return_id,
                        "updated_at": r.updated_at.isoformat(),
                    }
                    for r in rows
                ],
            }
        )


@bp.get("/returns/<case_id>/notices")
@auth.require(auth.READ)
def get_notices(case_id: str) -> ResponseReturnValue:
    """The buyer's notices, rendered in a locale.
    ---
    get:
      security: [{opsToken: []}]
      summary: Notices for the buyer, in `locale`, else Accept-Language, else the buyer's own locale
      parameters:
        - {in: path, name: case_id, required: true, schema: {type: string}}
        - {in: query, name: locale, schema: {type: string, example: zh-CN}}
        - {in: header, name: Accept-Language, schema: {type: string}}
      responses:
        200: {description: Rendered notices}
        401: {description: Missing or wrong token, content: {application/json: {schema: Error}}}
        404: {description: No such case, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        if case is None:
            return error_response(404, "not_found", f"no case {case_id!r}")
    asked, accept_language = request.args.get("locale"), request.headers.get("Accept-Language")
    notices = rendered_notices(case, asked, accept_language)
    chosen = negotiate(negotiation_order(asked, accept_language, buyer_preferences(case)[0], _default_locale()))
    return jsonify({"case_id": case.id, "locale": chosen.tag, "direction": chosen.direction, "notices": notices})
