"""`POST /returns/<case_id>/decisions`: an operator approves, rejects or refunds; the marketplace is told by the worker.

The case moves in the same transaction as the outgoing commands are stored
(outbox), so a decision is never applied without being sent, nor sent twice
(`marketplace.<name>.<action>` keyed `<case>:<action>`). Behind the operations token.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate

from core.cases import CommandRefused
from service.canonical import flatten_errors
from service.intake import command_body, command_message_id
from service.marketplaces import DECIDABLE, decide
from web.errors import error_response

bp = Blueprint("decisions", __name__)


class DecisionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(DECIDABLE))
    note = fields.String(load_default=None, validate=validate.Length(max=1000))
    reason_code = fields.String(load_default=None, validate=validate.Length(max=100))


def _authorized(token: str | None) -> bool:
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given, f"Bearer {token}")


@bp.post("/returns/<case_id>/decisions")
def post_decision(case_id: str):  # type: ignore[no-untyped-def]
    """Decide a return case.
    ---
    post:
      summary: Approve, reject or refund a case; approvals and rejections are sent back to the marketplace
      description: >
        Behind `Authorization: Bearer $RB_OPS_TOKEN`. The case moves through its lifecycle and the
        command `marketplace.<name>.<action>` is queued; the marketplace's answer joins the timeline.
      parameters:
        - {in: path, name: case_id, required: true, schema: {type: string}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [action], properties: {action: {type: string, enum: [approve, reject, refund]}, note: {type: string}, reason_code: {type: string}}}
      responses:
        202: {description: Decided; commands queued}
        400: {description: Invalid body, content: {application/json: {schema: Error}}}
        401: {description: Missing or wrong operations token, content: {application/json: {schema: Error}}}
        404: {description: No such case, content: {application/json: {schema: Error}}}
        409: {description: The case's state does not allow this decision, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    if not _authorized(container.settings.ops_token):
        return error_response(401, "unauthorized", "send Authorization: Bearer $RB_OPS_TOKEN")
    try:
        body = DecisionSchema().load(request.get_json(silent=True) or {})
    except ValidationError as exc:
        return error_response(400, "invalid_decision", "the decision is not valid", flatten_errors(exc.messages))
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        if case is None:
            return error_response(404, "not_found", f"no case {case_id!r}")
        now = container.clock()
        try:
            commands = decide(case, body["action"], now, body["note"], body["reason_code"])
        except CommandRefused as exc:
            return error_response(409, "decision_not_allowed", str(exc))
        queued = []
        for command in commands:
            if not container.has_adapter(f"{command.kind}.{command.adapter}"):
                case.record_result("no_adapter", {"command": command.routing_key}, now, attention=True)
                continue
            uow.outbox.add(
                container.topology.commands.name,
                command.routing_key,
                command_body(command, case.id),
                now,
                message_id=command_message_id(command.idempotency_key),
                correlation_id=case.id,
            )
            case.record_result("command_sent", {"command": command.routing_key}, now)
            queued.append(command.routing_key)
        uow.cases.save(case, now)
        uow.commit()
        state = case.state
    container.relay.notify()
    return jsonify({"case_id": case_id, "state": state, "commands": queued}), 202
