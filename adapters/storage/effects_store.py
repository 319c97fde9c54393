"""Repositories of outbound effects and what they make: shipments, notice deliveries, customs claims, scans.

Values in, values out (core/effects.py, core/shipments.py, core/notices.py, core/customs.py,
core/tracking.py): the service layer never holds a row. A new effect is inserted at commit, so a
concurrent one under the same idempotency key fails that commit (`DuplicateKey`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Row, Select, select, update
from sqlalchemy.orm import Session

from adapters.storage.models import (
    CustomsClaimRow,
    NoticeDeliveryRow,
    OutboundEffectRow,
    ShipmentRow,
    TrackingScanRow,
)
from core.customs import LedgerClaim
from core.effects import EffectState, OutboundEffect
from core.money import Money
from core.notices import NoticeDelivery
from core.shipments import Shipment
from core.tracking import TrackingScan

_EFFECT_FIELDS = ("state", "attempts", "request", "result", "error", "updated_at")
_EFFECTS = OutboundEffectRow.__table__
# An effect's columns beside another table's row in one select, each named `effect_<column>`.
_DELIVERIES = NoticeDeliveryRow.__table__
_EFFECT_COLUMNS = tuple(column.label(f"effect_{column.name}") for column in _EFFECTS.c)


class Pending(Protocol):
    """Rows held for the transaction's commit (`unit_of_work.PendingWrites`), one multi-row INSERT per table."""

    def add(self, table: Any, row: dict[str, Any]) -> None: ...

    def write(self) -> None: ...


def effect_of(values: Mapping[Any, Any], prefix: str = "") -> OutboundEffect:
    """The effect in a Core row's mapping (its columns named `prefix` + column): no ORM object is built."""
    v = {name: values[prefix + name] for name in (
        "id", "case_id", "kind", "adapter", "idempotency_key", "state", "created_at", "updated_at", "attempts",
        "request", "result", "error")}  # fmt: skip
    return OutboundEffect(**{**v, "attempts": v["attempts"] or 0})


class OutboundEffects:
    """Every request to another system under its idempotency key (table `outbound_effects`).

    Core statements, not the ORM: a new effect is a row of the transaction's INSERTs at commit, a
    move one UPDATE by id, a read the columns (the effect's intent and outcome are a notice's hot path).
    """

    def __init__(self, session: Session, pending: Pending) -> None:
        self.session = session
        self.pending = pending

    def _one(self, condition: Any) -> OutboundEffect | None:
        self.pending.write()  # an effect added in this transaction is read back too
        found = self.session.execute(select(_EFFECTS).where(condition)).first()
        return effect_of(found._mapping) if found is not None else None

    def by_key(self, idempotency_key: str) -> OutboundEffect | None:
        return self._one(_EFFECTS.c.idempotency_key == idempotency_key)

    def by_keys(self, idempotency_keys: Iterable[str]) -> dict[str, OutboundEffect]:
        """The effects stored under any of the keys, by key, in one query (a notice's channels)."""
        self.pending.write()
        rows = self.session.execute(select(_EFFECTS).where(_EFFECTS.c.idempotency_key.in_(list(idempotency_keys))))
        return {row.idempotency_key: effect_of(row._mapping) for row in rows}

    def get(self, effect_id: str) -> OutboundEffect | None:
        return self._one(_EFFECTS.c.id == effect_id)

    def add(self, effect: OutboundEffect) -> OutboundEffect:
        """Inserted at commit: a concurrent effect under the same idempotency key fails it (`DuplicateKey`)."""
        self.pending.add(
            _EFFECTS,
            {
                "id": effect.id, "case_id": effect.case_id, "kind": effect.kind, "adapter": effect.adapter,
                "idempotency_key": effect.idempotency_key, "state": effect.state, "attempts": effect.attempts,
                "request": effect.request, "result": effect.result, "error": effect.error,
                "created_at": effect.created_at, "updated_at": effect.updated_at,
            },
        )  # fmt: skip
        return effect

    def save(self, effect: OutboundEffect) -> OutboundEffect:
        """Write the effect's move (state, attempts, request, answer, error): one UPDATE by id."""
        self.pending.write()
        result = self.session.execute(
            update(OutboundEffectRow)
            .where(_EFFECTS.c.id == effect.id)
            .values({name: getattr(effect, name) for name in _EFFECT_FIELDS})
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult; Session.execute declares Result
            raise LookupError(f"outbound effect {effect.id} is not stored")
        return effect

    def for_case(self, case_id: str, kinds: Iterable[str] | None = None) -> list[OutboundEffect]:
        self.pending.write()
        stmt = select(_EFFECTS).where(_EFFECTS.c.case_id == case_id)
        if kinds is not None:
            stmt = stmt.where(_EFFECTS.c.kind.in_(list(kinds)))
        return [effect_of(r._mapping) for r in self.session.execute(stmt.order_by(_EFFECTS.c.created_at))]


class Shipments:
    """Carrier bookings: the parcel in `shipments`, the request's state in `outbound_effects` (same id)."""

    def __init__(self, session: Session, pending: Pending) -> None:
        self.session = session
        self.pending = pending

    def _select(self) -> Select[Any]:
        self.pending.write()  # the parcel's effect may be held for the commit
        return select(ShipmentRow, *_EFFECT_COLUMNS).join(_EFFECTS, _EFFECTS.c.id == ShipmentRow.id)

    @staticmethod
    def _value(found: Row[Any]) -> Shipment:
        row = found[0]
        return Shipment(row.id, row.case_id, row.carrier, row.kind, row.created_at,
                        effect_of(found._mapping, "effect_"), row.tracking_number, row.label_pdf_base64)  # fmt: skip

    def get(self, shipment_id: str) -> Shipment | None:
        found = self.session.execute(self._select().where(ShipmentRow.id == shipment_id)).first()
        return self._value(found) if found is not None else None

    def for_case(self, case_id: str) -> list[Shipment]:
        rows = self.session.execute(
            self._select().where(ShipmentRow.case_id == case_id).order_by(ShipmentRow.created_at)
        )
        return [self._value(r) for r in rows]

    def add(self, shipment: Shipment) -> Shipment:
        """The parcel's row; its effect is added through `OutboundEffects` in the same transaction."""
        self.session.add(
            ShipmentRow(
                id=shipment.id,
                case_id=shipment.case_id,
                carrier=shipment.carrier,
                kind=shipment.kind,
                tracking_number=shipment.tracking_number,
                label_pdf_base64=shipment.label_pdf_base64,
                created_at=shipment.created_at,
            )
        )
        return shipment

    def record_parcel(self, shipment_id: str, tracking_number: str | None, label_pdf_base64: str | None) -> None:
        """What the carrier's answer says of the parcel: its tracking number (or pickup reference) and label."""
        row = self.session.get(ShipmentRow, shipment_id)
        if row is None:
            raise LookupError(f"shipment {shipment_id} is not stored")
        row.tracking_number, row.label_pdf_base64 = tracking_number, label_pdf_base64

    def booked_label(self, carrier: str, tracking_number: str) -> Shipment | None:
        """The booked return label a carrier's tracking number belongs to."""
        found = self.session.execute(
            self._select().where(
                ShipmentRow.carrier == carrier,
                ShipmentRow.tracking_number == tracking_number,
                ShipmentRow.kind == "return_label",
            )
        ).first()
        return self._value(found) if found is not None else None

    def in_flight(self, since: datetime, finished: tuple[str, ...], limit: int) -> list[Shipment]:
        """Booked return labels created after `since` with no scan yet in a `finished` status."""
        done = select(TrackingScanRow.id).where(
            TrackingScanRow.tracking_number == ShipmentRow.tracking_number,
            TrackingScanRow.carrier == ShipmentRow.carrier,
            TrackingScanRow.status.in_(finished),
        )
        rows = self.session.execute(
            self._select()
            .where(
                ShipmentRow.kind == "return_label",
                OutboundEffectRow.state == EffectState.DONE,
                ShipmentRow.tracking_number.is_not(None),
                ShipmentRow.created_at >= since,
                ~done.exists(),
            )
            .order_by(OutboundEffectRow.updated_at)
            .limit(limit)
        )
        return [self._value(r) for r in rows]


class NoticeDeliveries:
    """Notices as rendered per channel (`notice_deliveries`), with their sending's effect (same id)."""

    def __init__(self, session: Session, pending: Pending) -> None:
        self.session = session
        self.pending = pending

    def _select(self) -> Select[Any]:
        self.pending.write()  # deliveries and effects added in this transaction are read back too
        return select(_DELIVERIES, *_EFFECT_COLUMNS).join(_EFFECTS, _EFFECTS.c.id == _DELIVERIES.c.id)

    @staticmethod
    def _value(row: Row[Any]) -> NoticeDelivery:
        return NoticeDelivery(row.id, row.case_id, row.kind, row.channel, row.created_at,
                              effect_of(row._mapping, "effect_"), row.recipient, row.locale, row.message)  # fmt: skip

    def by_key(self, idempotency_key: str) -> NoticeDelivery | None:
        found = self.session.execute(self._select().where(OutboundEffectRow.idempotency_key == idempotency_key)).first()
        return self._value(found) if found is not None else None

    def for_case(self, case_id: str) -> list[NoticeDelivery]:
        rows = self.session.execute(
            self._select()
            .where(NoticeDeliveryRow.case_id == case_id)
            .order_by(NoticeDeliveryRow.created_at, NoticeDeliveryRow.channel)
        )
        return [self._value(r) for r in rows]

    def add(self, delivery: NoticeDelivery) -> NoticeDelivery:
        """The rendered notice's row, inserted at commit; its effect is added through `OutboundEffects` in the
        same transaction."""
        self.pending.add(
            _DELIVERIES,
            {
                "id": delivery.id,
                "case_id": delivery.case_id,
                "kind": delivery.kind,
                "channel": delivery.channel,
                "recipient": delivery.recipient,
                "locale": delivery.locale,
                "message": dict(delivery.message or {}),
                "created_at": delivery.created_at,
            },
        )
        return delivery


class CustomsClaims:
    """The duty/VAT recovery ledger; each claim's filing is the effect of the same id."""

    def __init__(self, session: Session, pending: Pending) -> None:
        self.session = session
        self.pending = pending

    def _value(self, row: CustomsClaimRow) -> LedgerClaim:
        self.pending.write()  # the filing may be held for the commit
        filing = self.session.execute(select(_EFFECTS).where(_EFFECTS.c.id == row.id)).first()
        return LedgerClaim(
            id=row.id, case_id=row.case_id, authority=row.authority, basis=row.basis,
            amount=Money(Decimal(row.amount), row.currency), due_by=row.due_by, status=row.status, adapter=row.adapter,
            created_at=row.created_at, updated_at=row.updated_at, reason=row.reason, reference=row.reference,
            filing=effect_of(filing._mapping) if filing is not None else None,
        )  # fmt: skip

    def for_case(self, case_id: str) -> list[LedgerClaim]:
        rows = self.session.scalars(
            select(CustomsClaimRow).where(CustomsClaimRow.case_id == case_id).order_by(CustomsClaimRow.due_by)
        )
        return [self._value(r) for r in rows]

    def find(self, case_id: str, authority: str) -> LedgerClaim | None:
        row = self.session.scalars(
            select(CustomsClaimRow).where(CustomsClaimRow.case_id == case_id, CustomsClaimRow.authority == authority)
        ).first()
        return self._value(row) if row is not None else None

    def get(self, claim_id: str) -> LedgerClaim | None:
        row = self.session.get(CustomsClaimRow, claim_id)
        return self._value(row) if row is not None else None

    def add(self, claim: LedgerClaim) -> LedgerClaim:
        self.session.add(
            CustomsClaimRow(
                id=claim.id, case_id=claim.case_id, authority=claim.authority, basis=claim.basis, reason=claim.reason,
                amount=str(claim.amount.amount), currency=claim.amount.currency, due_by=claim.due_by,
                status=claim.status, adapter=claim.adapter, reference=claim.reference, created_at=claim.created_at,
                updated_at=claim.updated_at,
            )
        )  # fmt: skip
        self.session.flush()
        return claim

    def update(self, claim: LedgerClaim) -> LedgerClaim:
        """Write the claim's status and the authority's reference."""
        row = self.session.get(CustomsClaimRow, claim.id)
        if row is None:
            raise LookupError(f"customs claim {claim.id} is not stored")
        row.status, row.reference, row.updated_at = claim.status, claim.reference, claim.updated_at
        return claim


class TrackingScans:
    """Scans already recorded, by their key (carrier, number, code, time): the same scan is applied once."""

    def __init__(self, session: Session, pending: Pending) -> None:
        self.session = session
        self._shipments = Shipments(session, pending)

    def known(self, scan_key: str) -> bool:
        return self.session.scalar(select(TrackingScanRow.id).where(TrackingScanRow.scan_key == scan_key)) is not None

    def add(self, scan: TrackingScan) -> None:
        self.session.add(
            TrackingScanRow(
                scan_key=scan.scan_key, case_id=scan.case_id, carrier=scan.carrier,
                tracking_number=scan.tracking_number, code=scan.code, status=scan.status,
                occurred_at=scan.occurred_at, description=scan.description, location=scan.location,
                received_via=scan.received_via, received_at=scan.received_at,
            )
        )  # fmt: skip
        self.session.flush()

    def for_case(self, case_id: str) -> list[TrackingScan]:
        rows = self.session.scalars(
            select(TrackingScanRow)
            .where(TrackingScanRow.case_id == case_id)
            .order_by(TrackingScanRow.occurred_at, TrackingScanRow.id)
        )
        return [
            TrackingScan(
                r.scan_key,
                r.case_id,
                r.carrier,
                r.tracking_number,
                r.code,
                r.status,
                r.occurred_at,
                r.received_via,
                r.received_at,
                r.description or "",
                r.location or "",
            )
            for r in rows
        ]

    def shipment_for(self, carrier: str, tracking_number: str) -> Shipment | None:
        """The booked return label a carrier's tracking number belongs to."""
        return self._shipments.booked_label(carrier, tracking_number)

    def in_flight(self, since: datetime, finished: tuple[str, ...], limit: int) -> list[Shipment]:
        return self._shipments.in_flight(since, finished, limit)


__all__ = ["CustomsClaims", "NoticeDeliveries", "OutboundEffects", "Shipments", "TrackingScans"]
