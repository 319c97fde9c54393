"""Webhook intake: a verified delivery becomes stored events and outbox messages in one transaction.

The answer (202 with ids, or 200 duplicate with the same ids) is given only after
the commit, so an accepted event is never lost, and a broker outage costs nothing
but latency: the relay publishes when the broker is back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from adapters.marketplaces.base import ParsedDelivery
from adapters.storage.ports import DuplicateKey
from adapters.storage.unit_of_work import Receipt, UnitOfWork, new_id
from core.cases import WITHDRAWAL_RETURN_PREFIX, open_case, order_page_key
from core.events import ReturnEvent, ReturnRequest
from service.canonical import dump_event, flatten_errors, load_event
from service.group_commit import GroupCommit, Ticket


class InvalidEvent(Exception):
    """The payload is not a valid canonical event: 400 naming the fields."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("the event is not valid")
        self.fields = fields


@dataclass(frozen=True)
class Accepted:
    event_id: str
    case_id: str
    duplicate: bool


def event_envelope(event_id: str, case_id: str, marketplace: str, received_at: datetime, event: ReturnEvent) -> dict:
    """The message body on `returns.events`: the canonical event plus where and when we received it."""
    return {
        "event_id": event_id,
        "case_id": case_id,
        "marketplace": marketplace,
        "received_at": received_at.isoformat(),
        "event": dump_event(event),
    }


MAX_DELIVERY_ID = 180  # room for the `#<index>` of a multi-event delivery in the 200 characters stored


Arrival = tuple[str, list[tuple[ReturnEvent, str | None]]]  # a delivery's marketplace and (event, delivery id)s


class Intake:
    """Stores verified deliveries; concurrent ones share a transaction (`service.group_commit`).

    Each caller is answered after the commit that stored its events, so a 202 still means stored. A
    group that meets a unique key at commit (a concurrent resend in another process) is stored again
    one delivery at a time, as a lone delivery always was; any other failure (the database down)
    fails every delivery of the group, as it would have failed each of them.
    """

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        events_exchange: str,
        on_commit: Callable[[], None] = lambda: None,
        group_max: int = 64,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.events_exchange = events_exchange
        self.on_commit = on_commit
        self._group: GroupCommit[Arrival, list[Accepted]] = GroupCommit(self._store_group, group_max)

    def validate(self, delivery: ParsedDelivery) -> list[ReturnEvent]:
        events: list[ReturnEvent] = []
        errors: dict[str, list[str]] = {}
        if delivery.delivery_id and (len(delivery.delivery_id) > MAX_DELIVERY_ID or "\x00" in delivery.delivery_id):
            errors["delivery_id"] = [f"the delivery id (webhook-id) must be 1 to {MAX_DELIVERY_ID} characters"]
        for index, raw in enumerate(delivery.events):
            try:
                events.append(load_event(raw))
            except ValidationError as exc:
                prefix = f"events[{index}]." if len(delivery.events) > 1 else ""
                errors.update({prefix + k: v for k, v in flatten_errors(exc.messages).items()})
        if errors:
            raise InvalidEvent(errors)
        if not events:
            raise InvalidEvent({"_schema": ["the delivery carries no return event"]})
        return events

    def accept(self, marketplace: str, delivery: ParsedDelivery) -> list[Accepted]:
        events = self.validate(delivery)
        keyed = []
        for index, event in enumerate(events):
            delivery_id = delivery.delivery_id
            if delivery_id and len(events) > 1:
                delivery_id = f"{delivery_id}#{index}"
            keyed.append((event, delivery_id))
        results = self._group.submit((marketplace, keyed))
        if any(not r.duplicate for r in results):
            self.on_commit()
        return results

    def _store_group(self, tickets: Sequence[Ticket[Arrival, list[Accepted]]]) -> None:
        """Every delivery of the group in one transaction; one at a time when a unique key refuses the group."""
        try:
            with self.uow() as uow:
                results = self._store_together(uow, [ticket.work for ticket in tickets])
                uow.commit()
        except DuplicateKey:
            pass  # a resend stored concurrently by another process: each delivery on its own finds it
        else:
            for ticket, accepted in zip(tickets, results, strict=True):
                ticket.resolve(accepted)
            return
        for ticket in tickets:
            try:
                marketplace, keyed = ticket.work
                ticket.resolve([self._accept_one(marketplace, event, delivery_id) for event, delivery_id in keyed])
            except Exception as exc:
                ticket.fail(exc)

    def _store_together(self, uow: UnitOfWork, arrivals: list[Arrival]) -> list[list[Accepted]]:
        """The events in arrival order, their receipts and cases asked for in one query each beforehand.

        The repositories answer later lookups from what they were asked and what this transaction added,
        so a resend or a second event of a return in the group is answered as in a transaction of its own.
        Only a delivery report's lookup by order is not kept: rows of its order are flushed before it.
        """
        by_marketplace: dict[str, list[tuple[ReturnEvent, str | None]]] = {}
        for marketplace, keyed in arrivals:
            by_marketplace.setdefault(marketplace, []).extend(keyed)
        for marketplace, keyed in by_marketplace.items():
            uow.received.prefetch(
                marketplace, [e.marketplace_event_id for e, _ in keyed], [d for _, d in keyed if d is not None]
            )
            uow.cases.prefetch_ids(marketplace, [key for e, _ in keyed for key in case_keys(e)])
        results: list[list[Accepted]] = []
        unflushed: set[tuple[str, str]] = set()
        for marketplace, keyed in arrivals:
            accepted = []
            for event, delivery_id in keyed:
                if event.type == "order.delivered" and (marketplace, event.order.id) in unflushed:
                    uow.flush()
                    unflushed.clear()
                found = self._store(uow, marketplace, event, delivery_id)
                if not found.duplicate:
                    unflushed.add((marketplace, event.order.id))
                accepted.append(found)
            results.append(accepted)
        return results

    def _accept_one(self, marketplace: str, event: ReturnEvent, delivery_id: str | None) -> Accepted:
        """One event in its own transaction; a concurrent duplicate fails the commit with DuplicateKey,
        and the next round finds what the other request stored."""
        for _ in range(5):
            with self.uow() as uow:
                try:
                    accepted = self._store(uow, marketplace, event, delivery_id)
                    if not accepted.duplicate:
                        uow.commit()
                except DuplicateKey:
                    continue  # the same event or return was stored concurrently: look again
                return accepted
        raise RuntimeError("could not store the event after repeated conflicts")

    def _store(self, uow: UnitOfWork, marketplace: str, event: ReturnEvent, delivery_id: str | None) -> Accepted:
        """Receipt, case (opened if new) and outbox message: Core INSERTs sent at commit (or at a flush).

        The event is dumped once; the same dict is the message, the stored receipt and the new case's
        order, return and items.
        """
        found = uow.received.find(marketplace, event.marketplace_event_id, delivery_id)
        if found:
            return Accepted(found.event_id, found.case_id, duplicate=True)
        now = self.clock()
        event = as_order_page(event)
        case_id = case_for(uow, marketplace, event)
        event_id = new_id("evt")
        body = event_envelope(event_id, case_id or new_id("case"), marketplace, now, event)
        if case_id is None:
            case_id = body["case_id"]
            uow.cases.add(open_case(case_id, marketplace, event, now), now, body["event"], uow.pending)
        uow.received.add(
            Receipt(event_id, case_id), marketplace, event.marketplace_event_id, delivery_id, event.type,
            body["event"], now,
        )  # fmt: skip
        uow.outbox.add(
            self.events_exchange,
            f"{event.type}.{marketplace}",
            body,
            now,
            message_id=event_id,
            correlation_id=case_id,
        )
        return Accepted(event_id, case_id, duplicate=False)


def case_keys(event: ReturnEvent) -> list[str]:
    """The return ids `case_for` may look a case up by: the return's own, its order's withdrawal and page."""
    return [
        as_order_page(event).return_.id,
        WITHDRAWAL_RETURN_PREFIX + event.order.id[:190],
        order_page_key(event.order.id),
    ]


def as_order_page(event: ReturnEvent) -> ReturnEvent:
    """`order.delivered` names no return: its return id is the order's page key, its delivery the event's time."""
    if event.type != "order.delivered":
        return event
    order = event.order if event.order.delivered_at else replace(event.order, delivered_at=event.occurred_at)
    return replace(event, order=order, return_=ReturnRequest(id=order_page_key(event.order.id)))


def case_for(uow: UnitOfWork, marketplace: str, event: ReturnEvent) -> str | None:
    """The case an event belongs to: its return's; else, for a return, its order's page, which it joins.

    Joining moves the page's row to the return's id in this transaction, so the next return of the
    same order (a second return) gets a case of its own, and the return's later events find this one.
    """
    found = uow.cases.find_id(marketplace, event.return_.id)
    if found is not None:
        return found
    if event.type == "order.delivered":
        return uow.cases.find_id_by_order(marketplace, event.order.id)
    told = withdrawal_being_told(uow, marketplace, event)
    if told is not None:
        uow.cases.rekey(told, event.return_.id)
        return told
    page = uow.cases.find_id(marketplace, order_page_key(event.order.id))
    if page is not None:
        uow.cases.rekey(page, event.return_.id)
    return page


def withdrawal_being_told(uow: UnitOfWork, marketplace: str, event: ReturnEvent) -> str | None:
    """The case of a withdrawal the marketplace is being told of, when its webhook for the return it opened
    arrives before our call's answer was recorded (issue 18 §2: it joins that case, not a second one)."""
    if event.type != "return.requested":
        return None
    case_id = uow.cases.find_id(marketplace, WITHDRAWAL_RETURN_PREFIX + event.order.id[:190])
    case = uow.cases.get(case_id) if case_id is not None else None
    return case_id if case is not None and case.marketplace_return_pending else None


def command_message_id(idempotency_key: str) -> str:
    """The same command always gets the same message id, so the outbox refuses a second copy."""
    return "cmd_" + uuid.uuid5(uuid.NAMESPACE_URL, f"returnbridge:{idempotency_key}").hex


def command_body(command: Any, case_id: str) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "kind": command.kind,
        "adapter": command.adapter,
        "action": command.action,
        "idempotency_key": command.idempotency_key,
        "payload": command.payload,
    }
