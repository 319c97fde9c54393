"""`returns.carrier.<name>`: return labels, pickups, interceptions and claims, each at most once per key.

Each request is an outbound effect (service/effects.py): recorded under the command's idempotency key
before the carrier is called, so a redelivered command finds it and books nothing more; one left
`sending` by a crash becomes `unknown` for a person to check rather than booking twice. The parcel a
booking makes (tracking number, label) is its `shipments` row, of the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

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
from adapters.messages import IncomingMessage, Reject
from adapters.registry import declared_capability
from adapters.storage.ports import ConcurrentUpdate, ConnectionLost
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import Command, ReturnCase
from core.effects import EffectKind, EffectState, OutboundEffect, Step, status_label
from core.events import Address
from core.shipments import (
    ReturnShipmentOrder,
    Shipment,
    ShipmentOrderError,
    outbound_shipment_order,
    return_shipment_order,
)
from service.effects import Intent, OutboundEffectsFlow
from service.intake import command_body, command_message_id

log = logging.getLogger(__name__)

BOOKING = EffectKind.CARRIER_BOOKING


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
    """The outbound parcel to intercept: from the command (a number or {"number"}), else the order's parcel."""
    for candidate in (payload.get("tracking"), payload.get("tracking_number"), case.order_tracking):
        if isinstance(candidate, dict):
            candidate = candidate.get("number")
        if candidate:
            return str(candidate)
    return None


class CarrierBookings:
    """`returns.carrier.<name>`: return labels, pickups and interceptions, each at most once per idempotency key."""

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
        self.effects = OutboundEffectsFlow(uow, clock)

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
            self._finish(message, prepared, EffectState.REFUSED, error=str(exc))
            return
        except TransientHttpError as exc:
            if exc.maybe_delivered and kinds[action] != "intercept":  # asking to stop a parcel twice is harmless
                self._finish(message, prepared, EffectState.UNKNOWN,
                             error=f"{exc}: it may exist; check before booking again")  # fmt: skip
                return
            self.effects.retrying(prepared.shipment_id, str(exc))
            raise
        self._finish(message, prepared, EffectState.DONE, answer=answer)

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
            found = self.effects.find(uow, key)
            now = self.clock()
            if found.step == Step.NOTHING:
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return None
            case = uow.cases.get(case_id)
            if case is None:
                raise Reject(f"case {case_id} does not exist")
            if found.step == Step.INTERRUPTED and found.effect is not None:
                # A previous attempt died between sending and recording the answer: never send blindly again.
                effect = self.effects.interrupt(uow, found.effect, now)
                case.record_result(f"{kind}_unknown", {"carrier": self.carrier.name, "shipment_id": effect.id},
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
                self._operator_task(uow, case, message, key, kind, payload, found.effect, now)
                return None
            intent = Intent(case_id, BOOKING, self.carrier.name, key, new_id("shp"))
            if sendable:
                effect = self.effects.send(uow, found.effect, intent, now, request.describe())
            else:
                effect = self.effects.record_unsent(uow, found.effect, intent, EffectState.NOT_SENT, now,
                                                    request.describe())  # fmt: skip
            if found.effect is None:
                uow.shipments.add(Shipment(effect.id, case_id, self.carrier.name, kind, now, effect))
            if not sendable:
                case.record_result(
                    f"{kind}_not_sent",
                    {"carrier": self.carrier.name, "shipment_id": effect.id,
                     "message": f"no credentials for {self.carrier.name}: the request is stored, not sent"},
                    now,
                )  # fmt: skip
                if kind == "return_label" and order is not None:
                    self._queue_pickup(uow, case, order, None, now)
                self._settled(uow, case, message, now)
                return None
            uow.commit()
            return Prepared(effect.id, request, parse, order)

    def _settled(self, uow: UnitOfWork, case: ReturnCase, message: IncomingMessage, now: datetime) -> None:
        uow.cases.save(case, now)
        uow.processed.mark_once(self.consumer, message.message_id, now)
        uow.commit()
        self.on_commit()

    def _operator_task(
        self, uow: UnitOfWork, case: ReturnCase, message: IncomingMessage, key: str, kind: str,
        payload: dict[str, Any], found: OutboundEffect | None, now: datetime,
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
        intent = Intent(case.id, BOOKING, self.carrier.name, key, new_id("shp"))
        effect = self.effects.record_unsent(uow, found, intent, EffectState.OPERATOR_TASK, now, {}, error=text)
        if found is None:
            uow.shipments.add(
                Shipment(effect.id, case.id, self.carrier.name, kind, now, effect, tracking_number=number)
            )
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

    def _finish(
        self, message: IncomingMessage, prepared: Prepared, state: str, answer: Any = None, error: str | None = None
    ) -> None:
        """Record the carrier's answer; a concurrent change to the case is merged by trying again.

        The label exists once the carrier answered: failing here would leave the shipment
        `sending`, and the redelivery would mark it unknown (found by the fault tests: the case
        consumer saved the case between our load and our save; a database connection was cut).
        """
        for attempt in range(1, 6):
            try:
                self._finish_once(message, prepared, state, answer, error)
                return
            except (ConcurrentUpdate, ConnectionLost) as exc:
                if attempt == 5:
                    raise
                log.info("recording the answer for shipment %s again: %s", prepared.shipment_id, type(exc).__name__)

    def _finish_once(
        self, message: IncomingMessage, prepared: Prepared, state: str, answer: Any, error: str | None
    ) -> None:
        with self.uow() as uow:
            shipment = uow.shipments.get(prepared.shipment_id)
            case = uow.cases.get(shipment.case_id) if shipment else None
            if shipment is None or case is None:
                raise Reject(f"shipment {prepared.shipment_id} vanished")
            now = self.clock()
            if shipment.effect.final and shipment.effect.state != EffectState.UNKNOWN:
                # recorded by an attempt whose commit was reported lost, yet happened
                uow.processed.mark_once(self.consumer, message.message_id, now)
                uow.commit()
                return
            name, result = self.carrier.name, None
            if isinstance(answer, BookedShipment):
                uow.shipments.record_parcel(shipment.id, answer.tracking_number, answer.label_pdf_base64)
                result = answer.raw if isinstance(answer.raw, dict) else None
                if shipment.kind == "outbound_label":
                    for command in case.outbound_booked(name, answer.tracking_number, now):
                        self._send(uow, case, command, now)
                else:
                    case.label_booked(answer.cost, now)
                    case.record_result(
                        "return_label_booked",
                        {"carrier": name, "tracking_number": answer.tracking_number,
                         "pickup_reference": answer.pickup_reference, "shipment_id": shipment.id},
                        now,
                    )  # fmt: skip
                    if prepared.order is not None:
                        self._queue_pickup(uow, case, prepared.order, answer.tracking_number, now)
            elif isinstance(answer, BookedPickup):
                uow.shipments.record_parcel(shipment.id, answer.reference, None)
                result = {"pickup_reference": answer.reference, **(answer.raw or {})}
                case.record_result("pickup_booked", {"carrier": name, "pickup_reference": answer.reference,
                                                     "shipment_id": shipment.id}, now)  # fmt: skip
            elif isinstance(answer, InterceptOutcome):
                state = EffectState.DONE if answer.accepted else EffectState.REFUSED
                result = {"accepted": answer.accepted, "reference": answer.reference, "message": answer.message}
                case.record_result(
                    "intercept_requested" if answer.accepted else "intercept_refused",
                    {"carrier": name, "reference": answer.reference, "message": answer.message},
                    now,
                    attention=not answer.accepted,
                )
            else:
                case.record_result(f"{shipment.kind}_{status_label(BOOKING, state)}", {"carrier": name,
                                   "message": error}, now, attention=True)  # fmt: skip
            self.effects.settle(uow, shipment.id, state, now, result, error)
            if shipment.kind == "intercept" and state == EffectState.REFUSED:
                self._interception_failed(uow, case, error or (result or {}).get("message", ""), now)
            uow.cases.save(case, now)
            uow.processed.mark_once(self.consumer, message.message_id, now)
            uow.commit()
        self.on_commit()
