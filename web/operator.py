"""Operator commands: `POST /returns/<case_id>/commands/<action>`, with the `act` scope (web/auth.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.cases import ESCALATIONS, OPERATOR_COMMANDS, OPERATOR_RECORDS, UNBOXING_TESTS, CommandRefused
from core.events import DISPUTE_TYPES, REJECTION_REASONS
from core.ledger import AmountOverCap
from core.money import MoneyError
from service.canonical import flatten_errors
from service.operator import CaseNotFound, OperatorCommands, UnknownCommand
from web import auth
from web.errors import error_response
from web.returns import case_view

bp = Blueprint("operator", __name__)


class OperatorCommandSchema(Schema):
    """What a command may carry: the inspection's outcome, an agreed or awarded amount, a note."""

    inspection_passed = fields.Boolean()
    # An amount as the canonical event writes it (the contract's amount pattern), in the order's currency.
    refund_amount = fields.String(validate=validate.Regexp(r"^[0-9]+(\.[0-9]+)?$", error="is not an amount"))
    note = fields.String(validate=validate.Length(max=2000))
    reason_code = fields.String(validate=validate.Length(max=100))  # the marketplace's own code for a rejection
    # Issue 19: the reason the buyer's rejection notice names; a deduction found at inspection; dispute facts.
    rejection_reason = fields.String(validate=validate.OneOf(REJECTION_REASONS))
    diminished_value = fields.String(validate=validate.Regexp(r"^[0-9]+(\.[0-9]+)?$", error="is not an amount"))
    dispute_type = fields.String(validate=validate.OneOf(DISPUTE_TYPES))
    escalate_to = fields.String(validate=validate.OneOf(ESCALATIONS))
    evidence_kind = fields.String(validate=validate.OneOf(("unboxing_video", "photos", "signed_receipt", "other")))
    evidence_url = fields.Url()
    six_sides_shown = fields.Boolean()
    first_opening = fields.Boolean()
    passes = fields.List(fields.String(validate=validate.OneOf(UNBOXING_TESTS)))
    # The new parcel of ship_exchange, ship_repair or reship when the merchant booked it outside Returnbridge.
    tracking_number = fields.String(validate=validate.Length(min=1, max=100))
    carrier = fields.String(validate=validate.Length(min=1, max=50))

    @validates_schema
    def _inspection_needs_its_outcome(self, data: dict, **kwargs: object) -> None:
        if self.context_action == "record_inspection" and "inspection_passed" not in data:
            raise ValidationError("is required to record an inspection", "inspection_passed")
        for action, name, why in REQUIRED_FIELDS:
            if self.context_action == action and name not in data:
                raise ValidationError(why, name)

    context_action: str = ""


# What a command cannot do without (issue 19).
REQUIRED_FIELDS = (
    ("accept_late", "note", "is required: why the late request is accepted (seed 002 FAQ 2)"),
    ("escalate_dispute", "escalate_to", "is required: where the dispute goes beyond the platform"),
    ("submit_evidence", "evidence_kind", "is required to record evidence"),
    ("record_claim_outcome", "note", "is required: what the carrier answered"),
)


@bp.post("/returns/<case_id>/commands/<action>")
@auth.require(auth.ACT)
def run_command(case_id: str, action: str) -> ResponseReturnValue:
    """An operator command on a case.
    ---
    post:
      summary: Act on a case for the merchant (approve, reject, refund, …); 409 when its state forbids it
      description: >
        `action` is one of approve, reject, cancel, mark_shipped, mark_received, record_inspection
        (needs `inspection_passed`), refund (optional `refund_amount`), mark_refunded, compensate,
        reship, ship_exchange, ship_repair, resolve_dispute (a positive `refund_amount` awards a refund),
        and the outcomes of an operator task for a carrier or warehouse without an API:
        record_interception_stopped, record_interception_failed, record_delivery_refused,
        confirm_cancellation, refuse_cancellation; accept_late (needs `note`: why a late request is
        accepted), record_refund_failed, retry_refund, open_dispute (an objection, also after completion).
        Records that do not move the case: submit_evidence (`evidence_kind`, for an unboxing video
        `six_sides_shown`, `first_opening`, `passes`), escalate_dispute (`escalate_to`),
        record_claim_outcome (`note`, optional recovered `refund_amount`). A payout (`refund_amount` of
        refund, compensate, resolve_dispute) above what the buyer paid for the lines plus refundable
        delivery is refused with 422 naming the cap.
        Applied through the case's lifecycle table in one transaction with the commands it causes;
        approve and reject are also sent back to the marketplace (`marketplace.<name>.<action>`).
      security: [{opsToken: []}]
      parameters:
        - {in: path, name: case_id, required: true, schema: {type: string}}
        - {in: path, name: action, required: true, schema: {type: string}}
      requestBody:
        required: false
        content: {application/json: {schema: OperatorCommand}}
      responses:
        200: {description: "`event_id` of the command on the timeline and `case`, the case after it"}
        400: {description: Invalid body, content: {application/json: {schema: Error}}}
        401: {description: Missing or wrong bearer token, content: {application/json: {schema: Error}}}
        404: {description: No such case or command, content: {application/json: {schema: Error}}}
        409: {description: The case's state forbids the command, content: {application/json: {schema: Error}}}
        422: {description: The amount exceeds the case's refund cap, content: {application/json: {schema: Error}}}
    """
    container = current_app.extensions["returnbridge"]
    if action not in OPERATOR_COMMANDS and action not in OPERATOR_RECORDS:
        return error_response(
            404,
            "unknown_command",
            f"no operator command {action!r}",
            {"action": [f"one of {sorted([*OPERATOR_COMMANDS, *OPERATOR_RECORDS])}"]},
        )
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        return error_response(400, "invalid_json", "the body must be a JSON object")
    schema = OperatorCommandSchema()
    schema.context_action = action
    try:
        detail = schema.load(body)
    except ValidationError as exc:
        return error_response(400, "invalid_command", "the command is not valid", flatten_errors(exc.messages))
    commands = OperatorCommands(container.uow, container.clock, container.moves, container.relay.notify)
    try:
        event_id = commands.run(case_id, action, detail)
    except CaseNotFound:
        return error_response(404, "not_found", f"no case {case_id!r}")
    except UnknownCommand:
        return error_response(404, "unknown_command", f"no operator command {action!r}")
    except CommandRefused as refused:
        return error_response(
            409, "command_not_allowed", str(refused), {"state": [refused.state], "action": [refused.action]}
        )
    except MoneyError as bad:
        field = next((name for name in ("refund_amount", "diminished_value") if name in detail), "refund_amount")
        return error_response(400, "invalid_command", "the command is not valid", {field: [str(bad)]})
    except AmountOverCap as over:
        return error_response(
            422,
            "amount_over_cap",
            str(over),
            {"refund_amount": [f"at most {over.left} (cap {over.cap}: paid for the lines plus refundable delivery)"]},
        )
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        view = case_view(case, uow.shipments.for_case(case_id))
    return jsonify({"event_id": event_id, "case": view})
