"""Message handlers: the service layer between the queues and the domain.

Each handler loads what it needs through a unit of work, calls the domain, and
commits the change, the consumers' inbox mark and any outgoing messages together.
The queue consumer acks only after the handler returns, so a crash anywhere
means a redelivery, and the inbox makes the redelivery a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from adapters.carriers.base import CARRIERS, BookedShipment, CarrierAdapter, CarrierRejected
from adapters.http import HttpClient, TransientHttpError
from adapters.storage.models import ShipmentRow
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import Command, ReturnCase
from core.events import Address
from core.shipments import ShipmentOrderError, return_shipment_order
from queues.consumer import Defer, IncomingMessage, Reject
from service.canonical import load_event
from service.intake import command_body, command_message_id
from service.operations import DEAD_LETTER_MARK

log = logging.getLogger(__name__)

# Shipment statuses: what a redelivered booking command finds, and why it then books nothing.
BOOKED, NOT_SENT, SENDING, REJECTED, UNKNOWN, RETRYING = (
    "booked",
    "not_sent",
    "sending",
    "rejected",
    "unknown",
    "retrying",
)
FINAL = {BOOKED, NOT_SENT, REJECTED, UNKNOWN}


class CaseEvents:
    """`returns.cases`: apply a marketplace event to its case and emit the commands the lifecycle asks for."""

    consumer = "cases"

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        commands_exchange: str,
        known_adapters: Callable[[str], bool],
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.commands_exchange = commands_exchange
        self.known_adapters = known_adapters
        self.on_commit = on_commit

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        try:
            event = load_event(body.get("event"))
            event_id, case_id = str(body["event_id"]), str(body["case_id"])
        except (ValidationError, KeyError, TypeError) as exc:
            raise Reject(f"not a valid event envelope: {exc}") from exc
        with self.uow() as uow:
            if uow.processed.seen(self.consumer, message.message_id):
                return
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            earlier = uow.received.earlier_unhandled(
                case_id, event_id, (self.consumer, DEAD_LETTER_MARK + self.consumer)
            )
            if earlier:
                raise Defer(f"{earlier}, received earlier for case {case_id}, is not handled yet")
            now = self.clock()
            commands = self._routable(case, case.apply(event, event_id, now), now)
            for command in commands:
                uow.outbox.add(
                    self.commands_exchange,
                    command.routing_key,
                    command_body(command, case.id),
                    now,
                    message_id=command_message_id(command.idempotency_key),
                    correlation_id=case.id,
                )
                case.record_result("command_sent", {"command": command.routing_key}, now)
            uow.cases.save(case, now)
            uow.processed.mark(self.consumer, message.message_id, now)
            uow.commit()
        if commands:
            self.on_commit()

    def _routable(self, case: ReturnCase, commands: list[Command], now: datetime) -> list[Command]:
        """A command for an adapter we do not have would be lost in the broker: flag the case instead."""
        routable = []
        for command in commands:
            if self.known_adapters(f"{command.kind}.{command.adapter}"):
                routable.append(command)
            else:
                case.record_result(
                    "no_adapter",
                    {"command": command.routing_key, "message": f"no {command.kind} adapter named {command.adapter!r}"},
                    now,
                    attention=True,
                )
        return routable


class CarrierBookings:
    """`returns.carrier.<name>`: book one return label (and pickup) per return, whatever is redelivered."""

    def __init__(
        self,
        carrier_name: str,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        settings: Settings,
        http: HttpClient,
    ) -> None:
        self.carrier: CarrierAdapter = CARRIERS.get(carrier_name)
        self.consumer = f"carrier.{carrier_name}"
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.adapter_settings = settings.for_adapter(carrier_name)
        self.http = http

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        if body.get("action") != "book_return" or not body.get("case_id") or not body.get("idempotency_key"):
            raise Reject(f"{self.consumer} does not handle {body.get('action')!r}")
        prepared = self._prepare(message, body["case_id"], body["idempotency_key"])
        if prepared is None:
            return
        shipment_id, request = prepared
        try:
            result = self.http.send(replace(request, adapter=request.adapter or self.carrier.name))
            booked = self.carrier.parse_return_shipment(result)
        except CarrierRejected as exc:
            self._finish(message, shipment_id, REJECTED, error=str(exc))
            return
        except TransientHttpError as exc:
            if exc.maybe_delivered:
                self._finish(message, shipment_id, UNKNOWN, error=f"{exc}: the label may exist; check before rebooking")
                return
            self._mark(shipment_id, RETRYING, error=str(exc))
            raise
        self._finish(message, shipment_id, BOOKED, booked=booked, response=booked.raw)

    def _prepare(self, message: IncomingMessage, case_id: str, key: str) -> tuple[str, Any] | None:
        """Record the intent to book before calling the carrier; None when there is nothing (more) to do."""
        with self.uow() as uow:
            existing = uow.shipments.by_key(key)
            now = self.clock()
            if existing is not None and existing.status in FINAL:
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return None
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            if existing is not None and existing.status == SENDING:
                # A previous attempt died between sending and recording the answer: never book blindly again.
                existing.status, existing.updated_at = UNKNOWN, now
                existing.error = "interrupted while the carrier was being called; check before rebooking"
                case.record_result("return_label_unknown", {"carrier": self.carrier.name, "shipment_id": existing.id},
                                   now, attention=True)  # fmt: skip
                uow.cases.save(case, now)
                uow.processed.mark(self.consumer, message.message_id, now)
                uow.commit()
                return None
            try:
                returns_address = self.settings.returns_address()
                order = return_shipment_order(case, Address(**returns_address) if returns_address else None, now.date())
            except ShipmentOrderError as exc:
                case.record_result("return_label_failed", {"carrier": self.carrier.name, "message": str(exc)}, now,
                                   attention=True)  # fmt: skip
                uow.cases.save(case, now)
                uow.processed.mark(self.consumer, message.message_id, now)
                uow.commit()
                return None
            request = self.carrier.build_return_shipment(order, self.adapter_settings)
            sendable = self.carrier.credentials(self.adapter_settings) is not None
            if existing is None:
                existing = uow.shipments.add(
                    ShipmentRow(
                        id=new_id("shp"), case_id=case_id, carrier=self.carrier.name, kind="return_label",
                        idempotency_key=key, status=SENDING if sendable else NOT_SENT,
                        request=request.describe(), created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            else:
                existing.status, existing.updated_at = SENDING, now
            if not sendable:
                case.record_result(
                    "return_label_not_sent",
                    {"carrier": self.carrier.name, "shipment_id": existing.id,
                     "message": f"no credentials for {self.carrier.name}: the request is stored, not sent"},
                    now,
                )  # fmt: skip
                uow.cases.save(case, now)
                uow.processed.mark(self.consumer, message.message_id, now)
            uow.commit()
            return (existing.id, request) if sendable else None

    def _mark(self, shipment_id: str, status: str, error: str | None = None) -> None:
        with self.uow() as uow:
            row = uow.session.get(ShipmentRow, shipment_id)
            if row is not None:
                row.status, row.error, row.updated_at = status, error, self.clock()
                uow.commit()

    def _finish(
        self,
        message: IncomingMessage,
        shipment_id: str,
        status: str,
        booked: BookedShipment | None = None,
        response: Any = None,
        error: str | None = None,
    ) -> None:
        with self.uow() as uow:
            row = uow.session.get(ShipmentRow, shipment_id)
            case = uow.cases.get(row.case_id) if row else None
            if row is None or case is None:
                raise Reject(f"shipment {shipment_id} vanished")
            now = self.clock()
            row.status, row.error, row.updated_at = status, error, now
            row.response = response if isinstance(response, dict) else None
            if booked is not None:
                row.tracking_number = booked.tracking_number
                row.label_pdf_base64 = booked.label_pdf_base64
                case.record_result(
                    "return_label_booked",
                    {"carrier": self.carrier.name, "tracking_number": booked.tracking_number,
                     "pickup_reference": booked.pickup_reference, "shipment_id": row.id},
                    now,
                )  # fmt: skip
            else:
                case.record_result(f"return_label_{status}", {"carrier": self.carrier.name, "message": error}, now,
                                   attention=True)  # fmt: skip
            uow.cases.save(case, now)
            uow.processed.mark_once(self.consumer, message.message_id, now)
            uow.commit()
