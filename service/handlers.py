"""Message handlers: the service layer between the queues and the domain.

Each handler loads what it needs through a unit of work, calls the domain, and
commits the change, the consumers' inbox mark and any outgoing messages together.
The queue consumer acks only after the handler returns, so a crash anywhere
means a redelivery, and the inbox makes the redelivery a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import ValidationError

from adapters.carriers.base import (
    CARRIERS,
    BookedPickup,
    BookedShipment,
    CarrierAdapter,
    CarrierRejected,
    InterceptOrder,
    InterceptOutcome,
    Intercepts,
    PickupWindow,
    drafting,
)
from adapters.carriers.gateway import CarrierGateway
from adapters.http import HttpClient, HttpResult, OutboundRequest, TransientHttpError
from adapters.messages import Defer, IncomingMessage, Reject
from adapters.registry import declared_capability
from adapters.storage.models import ShipmentRow
from adapters.storage.ports import ConcurrentUpdate, ConnectionLost
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import Command, Decide, ReturnCase
from core.events import Address, ReturnEvent
from core.lifecycle import CaseState
from core.routing import Route, carrier_route
from core.shipments import ReturnShipmentOrder, ShipmentOrderError, outbound_shipment_order, return_shipment_order
from service.canonical import decode_event
from service.case_policy import CasePolicy
from service.customs import CustomsPlanning
from service.fx import FxRecorder
from service.intake import command_body, command_message_id
from service.marketplaces import untellable
from service.operations import DEAD_LETTER_MARK

log = logging.getLogger(__name__)

# Shipment statuses: what a redelivered booking command finds, and why it then books nothing.
BOOKED, NOT_SENT, SENDING, REJECTED, UNKNOWN, RETRYING, OPERATOR_TASK = (
    "booked",
    "not_sent",
    "sending",
    "rejected",
    "unknown",
    "retrying",
    "operator_task",
)
FINAL = {BOOKED, NOT_SENT, REJECTED, UNKNOWN, OPERATOR_TASK}


class CaseMoves:
    """What follows every move of a case, whatever moved it (marketplace event, operator command, timer).

    The lifecycle's commands go to the outbox (or flag the case when no adapter would take them), and the
    case is saved; the caller commits the lot in its one transaction. The policy engine (`decide`) is
    handed to the case so its deadlines, timers and refund follow what it now knows.
    """

    def __init__(
        self,
        commands_exchange: str,
        known_adapters: Callable[[str], bool],
        policy: CasePolicy | None = None,
        customs: CustomsPlanning | None = None,
    ) -> None:
        self.commands_exchange = commands_exchange
        self.known_adapters = known_adapters
        self.policy = policy
        self.customs = customs

    @property
    def decide(self) -> Decide | None:
        return self.policy

    def prepare(self, case: ReturnCase) -> None:
        if self.policy is not None:
            self.policy.prepare(case)

    def settle(
        self, uow: UnitOfWork, case: ReturnCase, commands: list[Command], now: datetime, previous: str | None = None
    ) -> int:
        """Write the routable commands to the outbox and save the case; returns how many were written.

        `previous` is the state before the move: an approval (by the marketplace, an operator or merchant
        silence) books the return and plans its customs filing.
        """
        books = previous is not None and case.state == CaseState.APPROVED and previous != CaseState.APPROVED
        if books and not any(c.kind == "carrier" for c in commands):
            route = case.facts.get("carrier_route") or {}
            case.record_result("no_carrier_route", {"lane": route.get("lane"), "message": route.get("reason")
                               or "no carrier is named and none is routed"}, now, attention=True)  # fmt: skip
        if self.customs is not None and previous is not None:
            commands = commands + self.customs.plan(uow, case, now, file=books)
        sent = 0
        routable = self._routable(case, commands, now)
        uow.outbox.prefetch([command_message_id(c.idempotency_key) for c in routable])  # one query, not one each
        for command in routable:
            message_id = command_message_id(command.idempotency_key)
            if uow.outbox.has(message_id):
                case.record_result("command_already_sent", {"command": command.routing_key}, now)
                continue
            uow.outbox.add(
                self.commands_exchange,
                command.routing_key,
                command_body(command, case.id),
                now,
                message_id=message_id,
                correlation_id=case.id,
            )
            case.record_result("command_sent", {"command": command.routing_key}, now)
            sent += 1
        uow.cases.save(case, now)
        return sent

    def _routable(self, case: ReturnCase, commands: list[Command], now: datetime) -> list[Command]:
        """A command for an adapter we do not have would be lost in the broker: flag the case instead."""
        routable = []
        for command in commands:
            why_not = untellable(command)
            if why_not is not None:
                # Issue 18 §2: the marketplace could not be told of the withdrawal; a person tells it by hand.
                case.facts["marketplace_return"] = {"status": "not_told", "reason": why_not}
                case.record_result("marketplace_not_told", {"command": command.routing_key, "message": why_not}, now,
                                   attention=True)  # fmt: skip
            elif self.known_adapters(f"{command.kind}.{command.adapter}"):
                routable.append(command)
            else:
                case.record_result(
                    "no_adapter",
                    {"command": command.routing_key, "message": f"no {command.kind} adapter named {command.adapter!r}"},
                    now,
                    attention=True,
                )
        return routable


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
        policy: CasePolicy | None = None,
        fx: FxRecorder | None = None,
        routes: Sequence[Route] = (),
        returns_country: str | None = None,
        customs: CustomsPlanning | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.moves = CaseMoves(commands_exchange, known_adapters, policy, customs)
        self.customs = customs
        self.on_commit = on_commit
        self.fx = fx
        self.routes = tuple(routes)
        self.returns_country = returns_country  # RB_RETURNS_ADDRESS_COUNTRY: where returns go, when configured

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        try:
            event = decode_event(body.get("event"), message.headers.get("x-rb-schema"))
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
            self._route(case, event)
            previous = case.state
            self.moves.prepare(case)
            commands = case.apply(event, event_id, now, self.moves.decide)
            if self.fx is not None:
                ledger = self.fx.record(case, event, now).ledger
                if ledger is not None:
                    uow.fx_ledger.put(case.id, ledger, now)
            sent = self.moves.settle(uow, case, commands, now, previous)
            uow.processed.mark(self.consumer, message.message_id, now)
            uow.commit()
        if sent:
            self.on_commit()

    def _route(self, case: ReturnCase, event: ReturnEvent) -> None:
        """Which carrier brings the return home: the one named, else the lane table's (config/carrier_routes.json)."""
        ship_to = event.order.ship_to or case.order.ship_to
        ship_from = event.order.ship_from or case.order.ship_from
        merchant_country = self.returns_country or (ship_from.country if ship_from else None)
        named = event.return_.carrier or case.return_.carrier
        case.facts["carrier_route"] = carrier_route(
            self.routes, ship_to.country if ship_to else None, merchant_country, named
        )


@dataclass(frozen=True)
class Prepared:
    """One carrier request about to go out, with what its answer needs to be recorded."""

    shipment_id: str
    request: OutboundRequest
    parse: Callable[[HttpResult], Any]
    order: ReturnShipmentOrder | None = None


def next_pickup_day(today: date) -> date:
    """The next working day (Monday to Friday) after `today`: couriers collect on working days."""
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def outbound_tracking(payload: dict[str, Any], case: ReturnCase) -> str | None:
    """The outbound parcel to intercept: from the command (a number or {"number"}), else the case's facts."""
    for candidate in (payload.get("tracking"), payload.get("tracking_number"), case.facts.get("outbound_tracking")):
        if isinstance(candidate, dict):
            candidate = candidate.get("number")
        if candidate:
            return str(candidate)
    return None


class CarrierBookings:
    """`returns.carrier.<name>`: return labels, pickups and interceptions, each at most once per idempotency key.

    Every request is recorded in `shipments` (keyed by the command's idempotency key)
    before the carrier is called, so a redelivered command finds it and sends
    nothing more; a crash between sending and recording leaves it `sending`, which a
    redelivery turns into `unknown` for a person to check rather than booking twice.
    """

    def __init__(
        self,
        carrier_name: str,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        settings: Settings,
        http: HttpClient,
        commands_exchange: str = "",
        on_commit: Callable[[], None] = lambda: None,
        gateway: CarrierGateway | None = None,
        known_adapters: Callable[[str], bool] = lambda queue: True,
    ) -> None:
        self.known_adapters = known_adapters
        self.carrier: CarrierAdapter = CARRIERS.get(carrier_name)
        self.consumer = f"carrier.{carrier_name}"
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.adapter_settings = settings.for_adapter(carrier_name)
        self.http = http
        self.commands_exchange = commands_exchange
        self.on_commit = on_commit
        self.gateway = gateway or CarrierGateway(http, clock)  # adds OAuth tokens and signatures

    def __call__(self, message: IncomingMessage) -> None:
        body = message.body
        action = body.get("action")
        kinds = {
            "book_return": "return_label",
            "book_pickup": "pickup",
            "intercept": "intercept",
            "book_outbound": "outbound_label",  # exchange, repair, reship (issue 19)
            "open_claim": "claim",  # damage or loss in transit (seed 003)
        }
        if action not in kinds or not body.get("case_id") or not body.get("idempotency_key"):
            raise Reject(f"{self.consumer} does not handle {action!r}")
        payload = body["payload"] if isinstance(body.get("payload"), dict) else {}
        prepared = self._prepare(message, body["case_id"], body["idempotency_key"], kinds[action], payload)
        if prepared is None:
            return
        try:
            result = self.gateway.send(self.carrier, self.adapter_settings, prepared.request)
            answer = prepared.parse(result)
        except CarrierRejected as exc:
            self._finish(message, prepared, REJECTED, error=str(exc))
            return
        except TransientHttpError as exc:
            if exc.maybe_delivered and kinds[action] != "intercept":
                self._finish(message, prepared, UNKNOWN, error=f"{exc}: it may exist; check before booking again")
                return
            self._mark(prepared.shipment_id, RETRYING, error=str(exc))
            raise
        self._finish(message, prepared, BOOKED, answer=answer)

    # -- building ---------------------------------------------------------------------------------------------

    def _order(self, case: ReturnCase, now: datetime) -> ReturnShipmentOrder:
        returns_address = self.settings.returns_address()
        return return_shipment_order(case, Address(**returns_address) if returns_address else None, now.date())

    def _build(
        self, kind: str, case: ReturnCase, payload: dict[str, Any], now: datetime
    ) -> tuple[OutboundRequest | None, Callable[[HttpResult], Any], bool, ReturnShipmentOrder | None]:
        """(request or None for an operator task, parse, credentials set, order) for one kind of request."""
        carrier, settings = self.carrier, self.adapter_settings
        if kind == "claim":
            # None of our carriers' APIs takes a claim: a person files it and records the outcome.
            return None, lambda result: None, False, None
        if kind == "outbound_label":
            merchant = self.settings.returns_address()
            outbound = outbound_shipment_order(case, Address(**merchant) if merchant else None, now.date())
            label = carrier.build_return_shipment(outbound, settings)
            return label, carrier.parse_return_shipment, carrier.credentials(settings) is not None, outbound
        if kind == "intercept":
            number = outbound_tracking(payload, case)
            if not number:
                raise ShipmentOrderError("no outbound tracking number is known for the parcel to intercept")
            merchant = self.settings.returns_address()
            receiver = Address(**merchant) if merchant else case.order.ship_from
            if receiver is None:
                raise ShipmentOrderError("no merchant address to send the intercepted parcel back to")
            order = InterceptOrder(case.id, number, receiver)
            interceptor = declared_capability(carrier, Intercepts)
            if interceptor is None:  # the carrier's API has no interception: an operator task
                return None, lambda result: None, False, None
            credentials = interceptor.intercept_credentials(settings)
            with drafting(credentials is None):
                request = interceptor.build_intercept(order, settings)
            return request, interceptor.parse_intercept, credentials is not None, None
        shipment_order = self._order(case, now)
        sendable = carrier.credentials(settings) is not None
        with drafting(not sendable):  # not sent: built and shown even where the carrier would refuse a value
            if kind == "pickup":
                window = PickupWindow(next_pickup_day(now.date()))
                tracking = payload.get("tracking_number")
                request = carrier.build_pickup(shipment_order, window, tracking, settings)
                return request, carrier.parse_pickup, sendable, shipment_order
            request = carrier.build_return_shipment(shipment_order, settings)
        return request, carrier.parse_return_shipment, sendable, shipment_order

    def _prepare(
        self, message: IncomingMessage, case_id: str, key: str, kind: str, payload: dict[str, Any]
    ) -> Prepared | None:
        """Record the intent before calling the carrier; None when there is nothing (more) to send."""
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
                # A previous attempt died between sending and recording the answer: never send blindly again.
                existing.status, existing.updated_at = UNKNOWN, now
                existing.error = "interrupted while the carrier was being called; check before sending again"
                case.record_result(f"{kind}_unknown", {"carrier": self.carrier.name, "shipment_id": existing.id},
                                   now, attention=True)  # fmt: skip
                self._settled(uow, case, message, now)
                return None
            try:
                request, parse, sendable, order = self._build(kind, case, payload, now)
            except (ShipmentOrderError, CarrierRejected) as exc:  # e.g. no phone number the carrier requires
                case.record_result(f"{kind}_failed", {"carrier": self.carrier.name, "message": str(exc)}, now,
                                   attention=True)  # fmt: skip
                self._settled(uow, case, message, now)
                return None
            if request is None:
                self._operator_task(uow, case, message, key, kind, payload, now)
                return None
            if existing is None:
                existing = uow.shipments.add(
                    ShipmentRow(
                        id=new_id("shp"), case_id=case_id, carrier=self.carrier.name, kind=kind,
                        idempotency_key=key, status=SENDING if sendable else NOT_SENT,
                        request=request.describe(), created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            else:
                existing.status, existing.updated_at = SENDING, now
            if not sendable:
                case.record_result(
                    f"{kind}_not_sent",
                    {"carrier": self.carrier.name, "shipment_id": existing.id,
                     "message": f"no credentials for {self.carrier.name}: the request is stored, not sent"},
                    now,
                )  # fmt: skip
                if kind == "return_label" and order is not None:
                    self._queue_pickup(uow, case, order, None, now)
                self._settled(uow, case, message, now)
                return None
            uow.commit()
            return Prepared(existing.id, request, parse, order)

    def _settled(self, uow: UnitOfWork, case: ReturnCase, message: IncomingMessage, now: datetime) -> None:
        uow.cases.save(case, now)
        uow.processed.mark_once(self.consumer, message.message_id, now)
        uow.commit()
        self.on_commit()

    def _operator_task(
        self, uow: UnitOfWork, case: ReturnCase, message: IncomingMessage, key: str, kind: str,
        payload: dict[str, Any], now: datetime,
    ) -> None:  # fmt: skip
        """The carrier's API cannot do this (interception at FedEx, UPS, DHL): a person must call the carrier."""
        number = outbound_tracking(payload, case)
        text = (
            f"{self.carrier.name} offers no interception API: call {self.carrier.name} to stop parcel {number} "
            "and send it back to the merchant, then record the outcome"
        )
        if kind == "claim":
            text = (
                f"{self.carrier.name} takes no claims through its API: file a claim for damage or loss in transit "
                f"(parcel {number or 'of this order'}) with {self.carrier.name}, then record_claim_outcome"
            )
        uow.shipments.add(
            ShipmentRow(
                id=new_id("shp"), case_id=case.id, carrier=self.carrier.name, kind=kind, idempotency_key=key,
                status=OPERATOR_TASK, request={}, error=text, tracking_number=number, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        case.record_result(f"{kind}_operator_task", {"carrier": self.carrier.name, "message": text}, now,
                           attention=True)  # fmt: skip
        return self._settled(uow, case, message, now)

    def _queue_pickup(
        self, uow: UnitOfWork, case: ReturnCase, order: ReturnShipmentOrder, tracking: str | None, now: datetime
    ) -> None:
        """The buyer asked for a pickup and the label call did not book the courier: book it, once, after the label."""
        if not order.pickup or self.carrier.collects_with_label(order):
            return
        command = Command("carrier", self.carrier.name, "book_pickup", f"{case.id}:pickup",
                          {"case_id": case.id, "tracking_number": tracking})  # fmt: skip
        uow.outbox.add(
            self.commands_exchange,
            command.routing_key,
            command_body(command, case.id),
            now,
            message_id=command_message_id(command.idempotency_key),
            correlation_id=case.id,
        )
        case.record_result("command_sent", {"command": command.routing_key}, now)

    def _send(self, uow: UnitOfWork, case: ReturnCase, command: Command, now: datetime) -> None:
        """A command the carrier's answer causes (a notice, a message to the marketplace), once, via the outbox."""
        message_id = command_message_id(command.idempotency_key)
        if uow.outbox.has(message_id):
            return
        if not self.known_adapters(f"{command.kind}.{command.adapter}"):
            case.record_result("no_adapter", {"command": command.routing_key}, now)
            return
        uow.outbox.add(self.commands_exchange, command.routing_key, command_body(command, case.id), now,
                       message_id=message_id, correlation_id=case.id)  # fmt: skip
        case.record_result("command_sent", {"command": command.routing_key}, now)

    def _interception_failed(self, uow: UnitOfWork, case: ReturnCase, message: str, now: datetime) -> None:
        """The carrier refused to stop the parcel: the lifecycle's `interception.failed` (seed 002 §2, FAQ 1)."""
        if case.allowed("interception.failed") is None:
            return
        for command in case.apply_internal("interception.failed", new_id("evt"), now, {"carrier": self.carrier.name,
                                                                                       "message": message}):  # fmt: skip
            uow.outbox.add(
                self.commands_exchange,
                command.routing_key,
                command_body(command, case.id),
                now,
                message_id=command_message_id(command.idempotency_key),
                correlation_id=case.id,
            )

    # -- recording the answer ---------------------------------------------------------------------------------

    def _mark(self, shipment_id: str, status: str, error: str | None = None) -> None:
        with self.uow() as uow:
            row = uow.shipments.get(shipment_id)
            if row is not None:
                row.status, row.error, row.updated_at = status, error, self.clock()
                uow.commit()

    def _finish(
        self, message: IncomingMessage, prepared: Prepared, status: str, answer: Any = None, error: str | None = None
    ) -> None:
        """Record the carrier's answer; a concurrent change to the case is merged by trying again.

        The label exists once the carrier answered: failing here would leave the shipment
        `sending`, and the redelivery would mark it unknown (found by the fault tests: the case
        consumer saved the case between our load and our save; a database connection was cut).
        """
        for attempt in range(1, 6):
            try:
                self._finish_once(message, prepared, status, answer, error)
                return
            except (ConcurrentUpdate, ConnectionLost) as exc:
                if attempt == 5:
                    raise
                log.info("recording the answer for shipment %s again: %s", prepared.shipment_id, type(exc).__name__)

    def _finish_once(
        self, message: IncomingMessage, prepared: Prepared, status: str, answer: Any, error: str | None
    ) -> None:
        with self.uow() as uow:
            row = uow.shipments.get(prepared.shipment_id)
            case = uow.cases.get(row.case_id) if row else None
            if row is None or case is None:
                raise Reject(f"shipment {prepared.shipment_id} vanished")
            now = self.clock()
            row.status, row.error, row.updated_at = status, error, now
            name = self.carrier.name
            if isinstance(answer, BookedShipment) and row.kind == "outbound_label":
                row.tracking_number = answer.tracking_number
                row.label_pdf_base64 = answer.label_pdf_base64
                row.response = answer.raw if isinstance(answer.raw, dict) else None
                for command in case.outbound_booked(name, answer.tracking_number, now):
                    self._send(uow, case, command, now)
            elif isinstance(answer, BookedShipment):
                case.label_booked(answer.cost, now)
                row.tracking_number = answer.tracking_number
                row.label_pdf_base64 = answer.label_pdf_base64
                row.response = answer.raw if isinstance(answer.raw, dict) else None
                case.record_result(
                    "return_label_booked",
                    {"carrier": name, "tracking_number": answer.tracking_number,
                     "pickup_reference": answer.pickup_reference, "shipment_id": row.id},
                    now,
                )  # fmt: skip
                if prepared.order is not None:
                    self._queue_pickup(uow, case, prepared.order, answer.tracking_number, now)
            elif isinstance(answer, BookedPickup):
                row.tracking_number = answer.reference
                row.response = {"pickup_reference": answer.reference, **(answer.raw or {})}
                case.record_result("pickup_booked", {"carrier": name, "pickup_reference": answer.reference,
                                                     "shipment_id": row.id}, now)  # fmt: skip
            elif isinstance(answer, InterceptOutcome):
                row.status = BOOKED if answer.accepted else REJECTED
                row.response = {"accepted": answer.accepted, "reference": answer.reference, "message": answer.message}
                case.record_result(
                    "intercept_requested" if answer.accepted else "intercept_refused",
                    {"carrier": name, "reference": answer.reference, "message": answer.message},
                    now,
                    attention=not answer.accepted,
                )
            else:
                kind = row.kind
                case.record_result(f"{kind}_{status}", {"carrier": name, "message": error}, now, attention=True)
            if row.kind == "intercept" and row.status == REJECTED:
                self._interception_failed(uow, case, row.error or (row.response or {}).get("message", ""), now)
            uow.cases.save(case, now)
            uow.processed.mark_once(self.consumer, message.message_id, now)
            uow.commit()
        self.on_commit()
