"""Carrier tracking: scans pushed to `POST /carriers/<carrier>/tracking` or polled, applied to the case once.

A scan is identified by carrier, tracking number, code and time (`TrackingUpdate.key`),
so a push and a poll of the same scan, or a redelivered push, record it once. Each
new scan joins the case timeline; the scans that move the case (the carrier has the
parcel: `return.shipped`; delivered to the warehouse: `return.received`) become a
canonical event on `returns.events`, written to the outbox in the same transaction,
so the case consumer moves the case as it does for marketplace events. Exceptions
(held, refused, damaged, customs delay) flag the case for attention
(carriers_customs.md §2.7; DOMAIN.md §5 "shipped back / awaiting receipt").
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.canonical import YEARS
from adapters.carriers.base import CARRIERS, CarrierRejected, PayloadError
from adapters.carriers.gateway import CarrierGateway
from adapters.http import TransientHttpError
from adapters.storage.ports import ConcurrentUpdate, DuplicateKey
from adapters.storage.unit_of_work import UnitOfWork, new_id
from config.settings import Settings
from core.cases import ReturnCase
from core.events import ReturnEvent, Tracking
from core.tracking import TrackingScan, TrackingStatus, TrackingUpdate, in_scan_order
from service.intake import event_envelope

log = logging.getLogger(__name__)

# Which canonical event a scan status causes; exceptions and parcels turned back need a person instead.
MOVES: dict[str, str] = {
    TrackingStatus.SHIPPED_BACK: "return.shipped",
    TrackingStatus.IN_TRANSIT: "return.shipped",  # a missed pickup scan: moving means the carrier has it
    TrackingStatus.DELIVERED_TO_WAREHOUSE: "return.received",
}
ATTENTION: dict[str, str] = {
    TrackingStatus.EXCEPTION: "the carrier reports a problem with the return parcel",
    TrackingStatus.RETURNED_TO_SENDER: "the carrier is sending the return parcel back to the buyer",
}
FINISHED = (TrackingStatus.DELIVERED_TO_WAREHOUSE, TrackingStatus.RETURNED_TO_SENDER)


@dataclass(frozen=True)
class TrackingReceipt:
    recorded: int = 0
    duplicates: int = 0
    unmatched: int = 0
    events: tuple[str, ...] = ()

    def __add__(self, other: TrackingReceipt) -> TrackingReceipt:
        return TrackingReceipt(
            self.recorded + other.recorded,
            self.duplicates + other.duplicates,
            self.unmatched + other.unmatched,
            self.events + other.events,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "unmatched": self.unmatched,
            "events": list(self.events),
        }


def carrier_event(case: ReturnCase, event_type: str, scan: TrackingUpdate) -> ReturnEvent:
    """The canonical event a scan causes, carrying the case's own facts so the case keeps them."""
    return ReturnEvent(
        type=event_type,
        marketplace_event_id=f"carrier:{scan.key()}"[:200],
        occurred_at=scan.occurred_at,
        order=case.order,
        return_=case.return_,
        items=case.items,
        tracking=Tracking(carrier=scan.carrier, number=scan.tracking_number),
    )


class TrackingIntake:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        events_exchange: str,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.events_exchange = events_exchange
        self.on_commit = on_commit

    def record(self, carrier: str, updates: Iterable[TrackingUpdate], via: str) -> TrackingReceipt:
        """Store new scans per parcel, each parcel in one transaction with the events it causes."""
        by_parcel: dict[str, list[TrackingUpdate]] = defaultdict(list)
        for update in updates:
            if update.occurred_at.year not in YEARS:  # the events it would cause could never be processed
                log.warning("%s scan %s of %s dated %s is left out: outside %s-%s", carrier, update.code,
                            update.tracking_number, update.occurred_at.isoformat(), YEARS.start, YEARS.stop - 1)  # fmt: skip
                continue
            by_parcel[update.tracking_number].append(update)
        receipt = TrackingReceipt()
        for number, scans in by_parcel.items():
            receipt = receipt + self._parcel(carrier, number, in_scan_order(scans), via)
        if receipt.events:
            self.on_commit()
        return receipt

    def _parcel(self, carrier: str, number: str, scans: list[TrackingUpdate], via: str) -> TrackingReceipt:
        for _ in range(5):
            try:
                return self._parcel_once(carrier, number, scans, via)
            except (ConcurrentUpdate, DuplicateKey):
                continue  # a push and a poll of the same parcel at once: look again
        raise RuntimeError(f"could not record the scans of {carrier} {number} after repeated conflicts")

    def _parcel_once(self, carrier: str, number: str, scans: list[TrackingUpdate], via: str) -> TrackingReceipt:
        with self.uow() as uow:
            shipment = uow.scans.shipment_for(carrier, number)
            case = uow.cases.get(shipment.case_id) if shipment else None
            if shipment is None or case is None:
                return TrackingReceipt(unmatched=len(scans))
            now = self.clock()
            recorded, duplicates, events = 0, 0, []
            for scan in scans:
                if uow.scans.known(scan.key()):
                    duplicates += 1
                    continue
                uow.scans.add(
                    TrackingScan(
                        scan_key=scan.key(), case_id=case.id, carrier=carrier, tracking_number=number,
                        code=scan.code[:40], status=scan.status, occurred_at=scan.occurred_at, received_via=via,
                        received_at=now, description=scan.description, location=scan.location[:200],
                    )
                )  # fmt: skip
                recorded += 1
                events.extend(self._apply_scan(uow, case, scan, via, now))
            if recorded:
                uow.cases.save(case, now)
                uow.commit()
            return TrackingReceipt(recorded, duplicates, 0, tuple(events))

    def _apply_scan(
        self, uow: UnitOfWork, case: ReturnCase, scan: TrackingUpdate, via: str, now: datetime
    ) -> list[str]:
        detail = {
            "carrier": scan.carrier, "tracking_number": scan.tracking_number, "code": scan.code,
            "status": scan.status, "occurred_at": scan.occurred_at.isoformat(), "description": scan.description,
            "location": scan.location, "via": via,
        }  # fmt: skip
        reason = ATTENTION.get(scan.status)
        case.record_result(
            "tracking_exception" if reason else "tracking_scan",
            {**detail, "message": reason} if reason else detail,
            now,
            attention=reason is not None,
        )
        event_type = MOVES.get(scan.status)
        sent = case.tracking_moves()
        if event_type is None or event_type in sent or "return.received" in sent:
            return []
        if case.allowed(event_type) is None and not (event_type == "return.received" and "return.shipped" in sent):
            return []
        event_id = new_id("evt")
        uow.outbox.add(
            self.events_exchange,
            f"{event_type}.{case.marketplace}",
            {**event_envelope(event_id, case.id, case.marketplace, now, carrier_event(case, event_type, scan)),
             "source": f"carrier:{scan.carrier}"},
            now,
            message_id=event_id,
            correlation_id=case.id,
        )  # fmt: skip
        case.record_tracking_move(event_type)
        case.record_result("tracking_event_sent", {"event": event_type, "event_id": event_id}, now)
        return [event_type]


class TrackingPoller:
    """Asks each carrier about return parcels still travelling; safe to run twice (scans are deduplicated)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        settings: Settings,
        gateway: CarrierGateway,
        intake: TrackingIntake,
        max_age: timedelta = timedelta(days=120),
        batch: int = 200,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.gateway = gateway
        self.intake = intake
        self.max_age = max_age
        self.batch = batch

    def in_flight(self) -> list[tuple[str, str]]:
        with self.uow() as uow:
            rows = uow.scans.in_flight(self.clock() - self.max_age, FINISHED, self.batch)
            return [(row.carrier, str(row.tracking_number)) for row in rows]

    def poll_once(self) -> TrackingReceipt:
        receipt = TrackingReceipt()
        for carrier, number in self.in_flight():
            if carrier not in CARRIERS:
                continue
            adapter = CARRIERS.get(carrier)
            try:
                outcome = self.gateway.track(adapter, number, self.settings.for_adapter(carrier))
            except (CarrierRejected, PayloadError, TransientHttpError) as exc:
                log.warning("tracking %s %s failed: %s (next poll tries again)", carrier, number, exc)
                continue
            if outcome.sent and outcome.result:
                receipt = receipt + self.intake.record(carrier, outcome.result, "poll")
        return receipt
