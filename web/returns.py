"""Reading cases: `GET /returns/<id>`, `GET /returns`, and the buyer's notices in their language."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from adapters.notifiers.negotiation import buyer_preferences as negotiation_order
from adapters.notifiers.negotiation import negotiate
from adapters.notifiers.render import render_notice
from adapters.storage.models import CustomsClaimRow, NoticeDeliveryRow, ShipmentRow, TrackingScanRow
from core.cases import ReturnCase
from core.ledger import summary as ledger_summary
from service.canonical import ITEMS_SCHEMA, ORDER_SCHEMA, RETURN_SCHEMA, flatten_errors
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


def _shipment(row: ShipmentRow) -> dict[str, Any]:
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
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
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


def _delivery(row: NoticeDeliveryRow) -> dict[str, Any]:
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
        "updated_at": row.updated_at.isoformat(),
    }


def customs_view(case: ReturnCase, claims: list[CustomsClaimRow]) -> dict[str, Any] | None:
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


def tracking_view(scans: list[TrackingScanRow]) -> list[dict[str, Any]]:
    return [
        {"carrier": s.carrier, "tracking_number": s.tracking_number, "code": s.code, "status": s.status,
         "occurred_at": s.occurred_at.isoformat(), "description": s.description, "location": s.location,
         "via": s.received_via}
        for s in scans
    ]  # fmt: skip


def case_view(
    case: ReturnCase,
    shipments: list[ShipmentRow],
    claims: list[CustomsClaimRow] | None = None,
    scans: list[TrackingScanRow] | None = None,
    deliveries: list[NoticeDeliveryRow] | None = None,
) -> dict[str, Any]:
    return {
        "id": case.id,
        "state": case.state,
        "needs_attention": case.needs_attention,
        "marketplace": case.marketplace,
        "order_id": case.order_id,
        "return_id": case.return_id,
        "created_at": case.created_at.isoformat() if case.created_at else None,
        "order": ORDER_SCHEMA.dump(case.order),
        "return": RETURN_SCHEMA.dump(case.return_),
        "items": ITEMS_SCHEMA.dump(case.items),
        "timeline": [
            {"at": t.at.isoformat(), "kind": t.kind, "name": t.name, "detail": t.detail} for t in case.timeline
        ],
        "deadlines": case.facts.get("deadlines", {}),
        "refund": case.facts.get("refund"),
        "policy": case.facts.get("policy"),
        "fees": case.facts.get("fees"),
        "timers": case.facts.get("timers", {}),
        "fx": case.facts.get("fx"),
        "shipments": [_shipment(s) for s in shipments],
        "customs": customs_view(case, claims or []),
        "tracking": tracking_view(scans or []),
        "carrier_route": case.facts.get("carrier_route"),
        "notices": rendered_notices(case, None),
        "notice_deliveries": [_delivery(d) for d in deliveries or []],
        "missing": case.facts.get("missing", []),
        # Issue 19: the case's money ledger against its cap, and what decisions recorded.
        "ledger": ledger_summary(case.facts.get("ledger", []), case.order.currency, case.refund_cap()),
        "decisions": {name: case.facts.get(name) for name in DECISION_FACTS if case.facts.get(name) is not None},
    }


# Facts of the case's decisions shown as they are (issue 19).
DECISION_FACTS = ("rejection", "late_accepted", "dispute", "carrier_claim", "outbound_leg", "released", "return_method")


@bp.get("/returns/<case_id>")
@auth.require(auth.READ)
def get_case(case_id: str):  # type: ignore[no-untyped-def]
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
        view = case_view(case, uow.shipments.for_case(case_id), uow.customs_claims.for_case(case_id),
                         uow.scans.for_case(case_id), uow.notice_deliveries.for_case(case_id))  # fmt: skip
    # The buyer's page (contract "Buyer pages"), for operators to hand on; notices carry the same link.
    view["buyer_url"] = container.buyer_links.url(case.id, case.created_at or container.clock(), request.host_url)
    return jsonify(view)


@bp.get("/returns")
@auth.require(auth.READ)
def list_cases():  # type: ignore[no-untyped-def]
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
def get_notices(case_id: str):  # type: ignore[no-untyped-def]
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
